package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/netlab"
	securitytest "github.com/dualpeer/dualpeer/internal/security_test"
)

// binDir holds the dualpeer binary built for this test run (TestMain removes it).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dualpeer-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildOnce = sync.OnceValues(func() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	bin := filepath.Join(binDir, "dualpeer")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dualpeer")
	cmd.Dir = filepath.Join(filepath.Dir(file), "..")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dualpeer: %w\n%s", err, out)
	}
	return bin, nil
})

// needLab skips the test unless it can build a lab: root, iproute2, mosquitto-clients, go.
func needLab(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("fault tests build network namespaces: run them as root (sudo go test ./faults)")
	}
	for _, tool := range []struct{ bin, pkg string }{{"ip", "iproute2"}, {"mosquitto_pub", "mosquitto-clients"}, {"go", "golang"}} {
		if _, err := exec.LookPath(tool.bin); err != nil {
			t.Skipf("%s not found: apt-get install -y %s", tool.bin, tool.pkg)
		}
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// run is one dualpeer invocation and everything it printed.
type run struct {
	args           []string
	code           int
	stdout, stderr []byte
	took           time.Duration
}

func (r run) String() string { return "dualpeer " + strings.Join(r.args, " ") }

func (r run) output() string { return string(r.stdout) + string(r.stderr) }

// deployment is one state directory and the lab `dualpeer up` builds from it.
type deployment struct {
	t   *testing.T
	bin string
	dir string

	mu    sync.Mutex
	runs  []run // every invocation, for the secret scan
	topo  *netlab.Topology
	procs []*exec.Cmd // background dualpeer processes this test started
	keys  []securitytest.KeyDetector
	seen  map[string]bool // key files already collected
}

// newDeployment makes a fresh state directory whose lab is torn down when the test ends,
// whatever happened: `dualpeer down`, then a kill of anything still running from the
// directory and netlab.DestroyByID for what down left.
func newDeployment(t *testing.T) *deployment {
	t.Helper()
	bin := needLab(t)
	// A short path: the agents' unix sockets live in it (sun_path holds 108 bytes).
	dir, err := os.MkdirTemp("", "dpf-")
	if err != nil {
		t.Fatal(err)
	}
	d := &deployment{t: t, bin: bin, dir: dir}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		d.mu.Lock()
		procs := d.procs
		d.mu.Unlock()
		for _, p := range procs {
			if p.Process != nil && p.ProcessState == nil {
				_ = p.Process.Kill()
			}
		}
		r := d.cmd(ctx, "down")
		if r.code != 0 {
			t.Logf("cleanup: %s exited %d:\n%s", r, r.code, r.output())
		}
		for _, pid := range processesWith(dir) {
			t.Logf("cleanup: killing pid %d left running from %s", pid, dir)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if id := d.id(); id != "" {
			if err := netlab.DestroyByID(ctx, id); err != nil {
				t.Logf("cleanup: remove lab %s: %v", id, err)
			}
		}
		os.RemoveAll(dir)
	})
	return d
}

// cmd runs dualpeer --state-dir DIR args... and records what it printed.
func (d *deployment) cmd(ctx context.Context, args ...string) run {
	full := append([]string{"--state-dir", d.dir}, args...)
	c := exec.CommandContext(ctx, d.bin, full...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	r := run{args: full, stdout: out.Bytes(), stderr: errb.Bytes(), took: time.Since(start)}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.code = ee.ExitCode()
		} else {
			r.code = -1
			r.stderr = append(r.stderr, []byte("\n(test: "+err.Error()+")")...)
		}
	}
	d.mu.Lock()
	d.runs = append(d.runs, r)
	d.mu.Unlock()
	return r
}

// start runs dualpeer in the background (for killing it, or racing two of them).
func (d *deployment) start(args ...string) (*exec.Cmd, *bytes.Buffer) {
	full := append([]string{"--state-dir", d.dir}, args...)
	c := exec.Command(d.bin, full...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		d.t.Fatalf("start dualpeer %v: %v", full, err)
	}
	d.mu.Lock()
	d.procs = append(d.procs, c)
	d.mu.Unlock()
	return c, &out
}

// record adds the output of a background run to the transcript.
func (d *deployment) record(c *exec.Cmd, out *bytes.Buffer) run {
	r := run{args: c.Args[1:], stdout: out.Bytes()}
	if c.ProcessState != nil {
		r.code = c.ProcessState.ExitCode()
	}
	d.mu.Lock()
	d.runs = append(d.runs, r)
	d.mu.Unlock()
	return r
}

// up runs `dualpeer up` and fails the test if it fails.
func (d *deployment) up(ctx context.Context) run {
	d.t.Helper()
	r := d.cmd(ctx, "up")
	if r.code != 0 {
		if strings.Contains(r.output(), "not implemented yet") {
			d.t.Skip("the local target (`dualpeer up`) is not implemented in this build")
		}
		d.t.Fatalf("%s exited %d after %v:\n%s", r, r.code, r.took.Round(time.Millisecond), lastLines(r.output(), 30))
	}
	return r
}

// outputs are the values of `dualpeer output -json` the tests use.
type outputs struct {
	ANS   string `json:"cluster_a_vm_namespace"`
	BNS   string `json:"cluster_b_vm_namespace"`
	AIP   string `json:"cluster_a_vm_private_ip"`
	Files struct {
		ServerRootCA string `json:"server_root_ca"`
		ClientCert   string `json:"client_cert"`
		ClientKey    string `json:"client_key"`
	} `json:"client_certificate_files"`
}

func (d *deployment) outputs(ctx context.Context) outputs {
	d.t.Helper()
	r := d.cmd(ctx, "output", "-json")
	if r.code != 0 {
		d.t.Fatalf("%s exited %d:\n%s", r, r.code, r.output())
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.stdout, &raw); err != nil {
		d.t.Fatalf("parse %s: %v\n%s", r, err, r.stdout)
	}
	// Accept Terraform's {"value": …} form as well as plain values.
	for k, v := range raw {
		var w struct {
			Value json.RawMessage `json:"value"`
		}
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) && json.Unmarshal(v, &w) == nil && w.Value != nil {
			raw[k] = w.Value
		}
	}
	flat, _ := json.Marshal(raw)
	var o outputs
	if err := json.Unmarshal(flat, &o); err != nil {
		d.t.Fatalf("parse %s: %v", r, err)
	}
	if o.ANS == "" || o.BNS == "" || o.AIP == "" || o.Files.ClientKey == "" {
		d.t.Fatalf("%s lacks namespaces, A's IP or the client certificate files:\n%s", r, r.stdout)
	}
	return o
}

// localState is the part of DIR/local.json the tests read.
type localState struct {
	Data struct {
		Topology netlab.Topology `json:"topology"`
	} `json:"data"`
}

// topology reads the lab's topology from DIR/local.json (cached once read).
func (d *deployment) topology() netlab.Topology {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.topo != nil {
		return *d.topo
	}
	b, err := os.ReadFile(filepath.Join(d.dir, "local.json"))
	if err != nil {
		d.t.Fatalf("read the local target's state: %v", err)
	}
	var s localState
	if err := json.Unmarshal(b, &s); err != nil || s.Data.Topology.ID == "" {
		d.t.Fatalf("%s has no topology (err %v): has the state layout changed?", filepath.Join(d.dir, "local.json"), err)
	}
	d.topo = &s.Data.Topology
	return s.Data.Topology
}

// id is the deployment id, or "" while local.json does not name one.
func (d *deployment) id() string {
	d.mu.Lock()
	if d.topo != nil {
		defer d.mu.Unlock()
		return d.topo.ID
	}
	d.mu.Unlock()
	b, err := os.ReadFile(filepath.Join(d.dir, "local.json"))
	if err == nil {
		var s localState
		if json.Unmarshal(b, &s) == nil && s.Data.Topology.ID != "" {
			return s.Data.Topology.ID
		}
	}
	// up writes the id to local.id before anything else, so down can find a lab whose
	// local.json is unreadable.
	b, err = os.ReadFile(filepath.Join(d.dir, "local.id"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// agentPID returns the pid in DIR/clusters/<c>/agent.pid after checking that it is that cluster's
// agent (so a stale pid file never makes the test kill a stranger). It returns an error rather
// than failing the test because fault goroutines call it.
func (d *deployment) agentPID(cluster string) (int, error) {
	p := filepath.Join(d.dir, "clusters", cluster, "agent.pid")
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("agent pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s holds %q, not a pid", p, b)
	}
	cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return 0, fmt.Errorf("agent of cluster %s (pid %d from %s) is not running: %w", cluster, pid, p, err)
	}
	if !bytes.Contains(cl, []byte("agent")) || !bytes.Contains(cl, []byte(filepath.Join(d.dir, "clusters", cluster))) {
		return 0, fmt.Errorf("pid %d from %s is not cluster %s's agent: %q", pid, p, cluster, bytes.ReplaceAll(cl, []byte{0}, []byte{' '}))
	}
	return pid, nil
}

// killAgent SIGKILLs the cluster's agent and waits (bounded) until it is gone.
func (d *deployment) killAgent(cluster string) error {
	pid, err := d.agentPID(cluster)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill agent %s (pid %d): %w", cluster, pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return nil
		}
		// A zombie is dead; its parent (the init reaper) collects it.
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && bytes.Contains(st, []byte(") Z ")) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("agent %s (pid %d) still alive 10s after SIGKILL", cluster, pid)
}

// collectKeys remembers the private keys the state directory holds now (down removes them, so
// tests call it while the deployment exists) and checks that every file holding one is 0600.
func (d *deployment) collectKeys() {
	d.t.Helper()
	ds, keyFiles, err := securitytest.DirKeys(d.dir)
	if err != nil {
		d.t.Fatalf("collect keys: %v", err)
	}
	for _, f := range keyFiles {
		if st, err := os.Stat(f); err == nil && st.Mode().Perm() != 0o600 {
			d.t.Errorf("%s holds a private key and has mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	for _, k := range ds {
		if !d.seen[k.Name] {
			d.seen[k.Name] = true
			d.keys = append(d.keys, k)
		}
	}
}

// scanSecrets checks every output recorded so far, and every log file in the state directory,
// for the private keys collected (collectKeys) from the state directory.
func (d *deployment) scanSecrets() {
	d.t.Helper()
	if _, err := os.Stat(d.dir); err == nil {
		d.collectKeys()
	}
	d.mu.Lock()
	runs := append([]run(nil), d.runs...)
	ds := d.keys
	d.mu.Unlock()
	if len(ds) == 0 {
		d.t.Fatalf("no private key found under %s: the scan would check nothing", d.dir)
	}
	total := 0
	for _, r := range runs {
		for _, s := range []struct {
			name string
			b    []byte
		}{{"stdout", r.stdout}, {"stderr", r.stderr}} {
			total += len(s.b)
			for _, leak := range securitytest.Leaks(s.b, ds) {
				d.t.Errorf("%s: %s contains %s", r, s.name, leak)
			}
		}
	}
	logs := 0
	_ = filepath.WalkDir(d.dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() || !strings.HasSuffix(p, ".log") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		logs++
		total += len(b)
		for _, leak := range securitytest.Leaks(b, ds) {
			d.t.Errorf("log %s contains %s", p, leak)
		}
		return nil
	})
	d.t.Logf("secret scan: %d commands and %d log files, %d bytes, against %d private keys: clean unless reported above", len(runs), logs, total, len(ds))
}

// leftovers lists what remains on the host of deployment id and state directory dir: network
// namespaces, their mounts under /run/netns, host links, and processes naming dir.
func leftovers(id, dir string) []string {
	var out []string
	if id != "" {
		prefix := "dp-" + id + "-"
		if ents, err := os.ReadDir(netlab.RunDir); err == nil {
			for _, e := range ents {
				if strings.HasPrefix(e.Name(), prefix) {
					out = append(out, "namespace "+e.Name())
				}
			}
		}
		if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, filepath.Join(netlab.RunDir, prefix)) {
					out = append(out, "mount "+line)
				}
			}
		}
		if b, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], "dp-"+id) {
					out = append(out, "host link "+f[1])
				}
			}
		}
	}
	for _, pid := range processesWith(dir) {
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, fmt.Sprintf("process %d: %s", pid, bytes.ReplaceAll(cl, []byte{0}, []byte{' '})))
	}
	return out
}

// processesWith lists live processes (not zombies) whose command line mentions dir.
func processesWith(dir string) []int {
	var out []int
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(cl) == 0 || !bytes.Contains(cl, []byte(dir)) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// logAgentTrouble logs the warnings and errors of both agents' logs (bounded), to diagnose a loss.
func (d *deployment) logAgentTrouble(t *testing.T) {
	t.Helper()
	for _, c := range []string{"a", "b"} {
		p := filepath.Join(d.dir, "clusters", c, "agent.log")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Logf("%s: %v", p, err)
			continue
		}
		var keep []string
		for _, line := range strings.Split(string(b), "\n") {
			l := strings.ToLower(line)
			if strings.Contains(l, "warn") || strings.Contains(l, "error") || strings.Contains(l, "drop") ||
				strings.Contains(l, "start") || strings.Contains(l, "re-rout") || strings.Contains(l, "stop") {
				keep = append(keep, line)
			}
		}
		if len(keep) > 40 {
			keep = keep[len(keep)-40:]
		}
		t.Logf("cluster %s agent log (%s), warnings and lifecycle:\n%s", c, p, strings.Join(keep, "\n"))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// report prints one stream's counts to the test log and to stdout, where CI logs keep them.
func report(t *testing.T, name string, c counts) {
	t.Helper()
	line := fmt.Sprintf("COUNTS %s: sent=%d acknowledged=%d received=%d lost=%d duplicates=%d", name, c.sent, c.acked, c.received, c.lost, c.dups)
	t.Log(line)
	fmt.Println(line)
}
