package faults

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkClean asserts that `down` left nothing of the deployment on the host.
func checkClean(t *testing.T, d *deployment, id, when string) {
	t.Helper()
	if id == "" {
		id = d.id()
	}
	if id == "" {
		t.Errorf("%s: the deployment id is unknown (no %s): cannot check for leftover namespaces", when, filepath.Join(d.dir, "local.json"))
	}
	// Processes may take a moment to be reaped after down returns; namespaces must be gone at once.
	deadline := time.Now().Add(5 * time.Second)
	var left []string
	for {
		left = leftovers(id, d.dir)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, l := range left {
		t.Errorf("%s: left behind: %s", when, l)
	}
}

// TestUpKilledThenConverges kills `dualpeer up` with SIGKILL at several points of its work, then
// checks that `up` converges to a working deployment and that `down` removes everything. One
// interrupted `up` is followed directly by `down`, which must clean up a half-built lab.
func TestUpKilledThenConverges(t *testing.T) {
	for _, tc := range []struct {
		name     string
		after    time.Duration
		thenDown bool // down right after the kill, without a converging up
	}{
		{"after 100ms", 100 * time.Millisecond, false},
		{"after 500ms, then down only", 500 * time.Millisecond, true},
		{"after 1s", time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			c, out := d.start("up")
			time.Sleep(tc.after)
			_ = c.Process.Signal(syscall.SIGKILL)
			_ = c.Wait()
			r := d.record(c, out)
			if strings.Contains(r.output(), "not implemented yet") {
				t.Skip("the local target (`dualpeer up`) is not implemented in this build")
			}
			t.Logf("up killed %v in (exit %d); it had printed:\n%s", tc.after, r.code, lastLines(r.output(), 8))
			id := d.id()
			if !tc.thenDown {
				d.up(ctx)
				if r := d.cmd(ctx, "status"); r.code != 0 {
					t.Errorf("%s after the converging up exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
				}
				id = d.id()
			}
			if r := d.cmd(ctx, "down"); r.code != 0 {
				t.Fatalf("%s exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
			}
			checkClean(t, d, id, "down after up was killed "+tc.after.String()+" in")
		})
	}
}

// TestConcurrentUp starts two `up` on one state directory at once: exactly one wins, the other
// exits non-zero with an error saying the directory is locked.
func TestConcurrentUp(t *testing.T) {
	d := newDeployment(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c1, out1 := d.start("up")
	c2, out2 := d.start("up")
	e1, e2 := c1.Wait(), c2.Wait()
	r1, r2 := d.record(c1, out1), d.record(c2, out2)
	if strings.Contains(r1.output()+r2.output(), "not implemented yet") {
		t.Skip("the local target (`dualpeer up`) is not implemented in this build")
	}
	if (e1 == nil) == (e2 == nil) {
		t.Fatalf("want exactly one up to succeed: first exited %d, second %d\nfirst:\n%s\nsecond:\n%s",
			r1.code, r2.code, lastLines(r1.output(), 10), lastLines(r2.output(), 10))
	}
	loser := r2
	if e1 != nil {
		loser = r1
	}
	if !strings.Contains(strings.ToLower(loser.output()), "locked") {
		t.Errorf("the losing up does not say the state directory is locked:\n%s", loser.output())
	}
	t.Logf("losing up: %s", strings.TrimSpace(lastLines(loser.output(), 2)))
	if r := d.cmd(ctx, "status"); r.code != 0 {
		t.Errorf("%s after the race exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
	}
	id := d.id()
	if r := d.cmd(ctx, "down"); r.code != 0 {
		t.Fatalf("%s exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
	}
	checkClean(t, d, id, "down after two concurrent ups")
}

// TestCorruptStateIsReportedNotOverwritten damages DIR/local.json in several ways; every verb
// must refuse with an error naming the file and leave it byte-for-byte as it was. With the file
// restored, `down` cleans up. The outputs of the whole run are scanned for key material.
func TestCorruptStateIsReportedNotOverwritten(t *testing.T) {
	d := newDeployment(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d.up(ctx)
	d.outputs(ctx)
	if r := d.cmd(ctx, "status"); r.code != 0 {
		t.Errorf("%s exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
	}
	id := d.topology().ID
	d.collectKeys()
	path := filepath.Join(d.dir, "local.json")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flip := bytes.Replace(orig, []byte(`"vm_addr": "10.1.1.4"`), []byte(`"vm_addr": "10.1.1.5"`), 1)
	if bytes.Equal(flip, orig) {
		// The layout is not what we expected; change any byte inside the data instead.
		flip = append([]byte(nil), orig...)
		i := bytes.LastIndex(flip, []byte(`"id"`))
		if i < 0 {
			t.Fatalf("%s has no \"id\" field to tamper with", path)
		}
		flip[i+1] = 'X'
	}
	damages := map[string][]byte{
		"truncated":         orig[:len(orig)/2],
		"empty":             {},
		"not JSON":          []byte("this is not a state file\n"),
		"checksum mismatch": flip,
	}
	for name, bad := range damages {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, verb := range [][]string{{"up"}, {"status"}, {"output", "-json"}, {"down"}} {
				r := d.cmd(ctx, verb...)
				if r.code == 0 {
					t.Errorf("%s with a %s state file exited 0:\n%s", r, name, lastLines(r.output(), 10))
				}
				if !strings.Contains(string(r.stderr), path) {
					t.Errorf("%s with a %s state file does not name %s:\n%s", r, name, path, lastLines(r.output(), 10))
				}
				now, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("after %s: %v", r, err)
				}
				if !bytes.Equal(now, bad) {
					t.Fatalf("%s changed the %s state file (%d bytes → %d)", r, name, len(bad), len(now))
				}
			}
		})
	}
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := d.cmd(ctx, "down"); r.code != 0 {
		t.Fatalf("%s with the state file restored exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
	}
	checkClean(t, d, id, "down after the corrupt-state checks")
	d.scanSecrets()
}
