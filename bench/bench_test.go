package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/netlab"
)

// TestMain lets the test binary act as the benchmark's child processes: the benchmark runs
// os.Executable() in the lab namespaces as `pub`/`sub`, which is this binary under `go test`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "pub" || os.Args[1] == "sub") {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole benchmark with tiny counts: dualpeer up, Mosquitto, every workload,
// the table and the Markdown report, then down. It proves the benchmark works, not how fast
// anything is.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short mode: brings up the whole lab (about 30 s)")
	}
	if err := netlab.CheckPrivileges(); err != nil {
		t.Skipf("skipping: the benchmark builds network namespaces and needs root; run `sudo go test ./bench` (%v)", err)
	}
	if _, err := exec.LookPath("mosquitto"); err != nil {
		t.Skip("skipping: mosquitto is not installed (apt-get install -y mosquitto)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "dualpeer")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/dualpeer/dualpeer/cmd/dualpeer").CombinedOutput(); err != nil {
		t.Fatalf("build dualpeer: %v\n%s", err, out)
	}
	// Until the local target exists, `up` is a stub: nothing to benchmark yet.
	if out, _ := exec.CommandContext(ctx, bin, "up", "--help").CombinedOutput(); strings.Contains(string(out), "not implemented") {
		t.Skip("skipping: `dualpeer up` is not implemented yet")
	}
	out := filepath.Join(dir, "BENCHMARKS.md")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-quick", "-n", "1000", "-latency-duration", "1s", "-repo", "..", "-dualpeer", bin,
		"-state-dir", filepath.Join(dir, "work"), "-out", out}, nil, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("benchmark failed (exit %d):\n%s\n%s", code, stderr.String(), stdout.String())
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| Throughput QoS 1, 64 B", "| Latency QoS 1, 64 B at 1000 msg/s p99", "| Up: nothing", "Mosquitto 2.", "taking turns in 1s windows"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if bytes.Contains(md, []byte("| n/a | n/a |")) {
		t.Errorf("a row has no measurement for either system:\n%s", md)
	}
	t.Logf("\n%s", stdout.String())
}
