package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds dualpeer once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "dualpeer-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "dualpeer")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, "../cmd/dualpeer").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build dualpeer: %v\n%s", buildErr, binPath)
	}
	return binPath
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) to create network namespaces; run the tests as root (CI does)")
	}
	for _, tool := range []string{"ip", "mosquitto_pub", "mosquitto_sub", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: run hack/deps.sh test", tool)
		}
	}
}

// deployment is one state directory driven through the CLI.
type deployment struct {
	t     *testing.T
	state string
}

// newDeployment registers a cleanup that runs `down` even when the test fails, and checks
// that nothing with this deployment's id is left.
func newDeployment(t *testing.T) *deployment {
	t.Helper()
	needRoot(t)
	d := &deployment{t: t, state: t.TempDir()}
	t.Cleanup(func() {
		res := d.run(context.Background(), "down")
		if res.code != 0 {
			t.Errorf("cleanup: down failed: %s", res.all())
		}
	})
	return d
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) all() string { return "stdout:\n" + r.stdout + "\nstderr:\n" + r.stderr }

func (d *deployment) run(ctx context.Context, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(d.t), append([]string{"--state-dir", d.state}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func (d *deployment) mustRun(args ...string) result {
	d.t.Helper()
	r := d.run(context.Background(), args...)
	if r.code != 0 {
		d.t.Fatalf("dualpeer %s: exit %d\n%s", strings.Join(args, " "), r.code, r.all())
	}
	return r
}

// dpNamespaces lists the host's network namespaces that start with dp-.
func dpNamespaces(t *testing.T) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var ns []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasPrefix(f[0], "dp-") {
			ns = append(ns, f[0])
		}
	}
	return ns
}
