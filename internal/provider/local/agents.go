package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dualpeer/dualpeer/internal/agent"
	"github.com/dualpeer/dualpeer/internal/netlab"
	"github.com/dualpeer/dualpeer/internal/sysmon"
)

// agentArgs is the command line of a cluster's agent. The cluster directory is absolute and
// unique to this state directory, which is how stray agents of this deployment are recognised.
func (p *Provider) agentArgs(c string) []string {
	return []string{"agent", "--cluster-dir", p.lay.cluster(c)}
}

// agentPIDs finds the running agents of cluster c: the pid file's, and any process whose
// command line is this cluster's agent (one started by an `up` that crashed before it wrote
// the pid file). Only processes with exactly our command line are ever returned.
func (p *Provider) agentPIDs(c string) []int {
	want := []byte(strings.Join(p.agentArgs(c), "\x00") + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cl, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.HasSuffix(cl, want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startAgents starts each cluster's agent inside its VM namespace unless it already runs.
func (p *Provider) startAgents(ctx context.Context, topo netlab.Topology) (bool, error) {
	names := topo.Names()
	started := false
	for _, c := range []string{"a", "b"} {
		if pids := p.agentPIDs(c); len(pids) > 0 {
			if p.runsThisBinary(pids[0]) {
				continue
			}
			// An agent of another dualpeer build (rebuilt or upgraded since the last up): replace
			// it, so the cluster runs the code this `up` belongs to. Its state is on disk.
			p.prog.Debugf("Cluster %s's agent (pid %d) runs another dualpeer binary; restarting it", c, pids[0])
			p.stopAgent(c, 3*time.Second)
		}
		cn, _ := names.Cluster(c)
		logf, err := os.OpenFile(p.lay.agentLog(c), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return started, fmt.Errorf("open agent log: %w", err)
		}
		// `ip netns exec` enters the namespace and then execs the agent, so the pid we get is
		// the agent's own.
		cmd := exec.Command("ip", append([]string{"netns", "exec", cn.VMNS, p.agentExe}, p.agentArgs(c)...)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		// The agent's runtime settings from the start (internal/sysmon): otherwise it
		// re-executes itself to get them, and while a multi-threaded process execs, its pid
		// briefly looks like a zombie — `up` read that as "the agent exited".
		cmd.Env, _ = sysmon.Env(os.Environ())
		cmd.Dir = "/"
		// A session of its own: the agent outlives `up` and ignores the terminal's Ctrl-C.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = cmd.Start()
		logf.Close()
		if err != nil {
			return started, fmt.Errorf("start Cluster %s's agent in namespace %s: %w", c, cn.VMNS, err)
		}
		pid := cmd.Process.Pid
		_ = cmd.Process.Release()
		if err := os.WriteFile(p.lay.agentPID(c), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			return started, err
		}
		p.prog.Debugf("Cluster %s agent started, pid %d, log %s", c, pid, p.lay.agentLog(c))
		started = true
	}
	return started, nil
}

// stopAgents stops this deployment's agents: SIGTERM, then SIGKILL after a grace period.
func (p *Provider) stopAgents(ctx context.Context) {
	for _, c := range []string{"a", "b"} {
		p.stopAgent(c, 3*time.Second)
	}
}

func (p *Provider) stopAgent(c string, grace time.Duration) {
	pids := p.agentPIDs(c)
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			for i := 0; i < 100 && alive(pid); i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	_ = os.Remove(p.lay.agentPID(c))
}

// alive is true while the process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state field follows the parenthesised command name.
	if i := bytes.LastIndexByte(b, ')'); i > 0 && i+2 < len(b) {
		return b[i+2] != 'Z'
	}
	return true
}

// waitHealthy waits until both agents answer ready on their sockets.
func (p *Provider) waitHealthy(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, c := range []string{"a", "b"} {
		cl := agent.Client{Socket: p.lay.agentSock(c)}
		var last error
		for {
			if last = cl.Ready(ctx); last == nil {
				break
			}
			if !p.agentAlive(c) {
				return fmt.Errorf("Cluster %s's agent exited: %v; its log (%s) says:\n%s", c, last, p.lay.agentLog(c), tail(p.lay.agentLog(c), 15))
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("Cluster %s's agent did not become ready within %s: %v; see `dualpeer logs %s`", c, timeout, last, c)
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
	return nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// runsThisBinary reports whether pid executes the same file as p.agentExe (a rebuilt binary
// shows as "… (deleted)" or another inode).
func (p *Provider) runsThisBinary(pid int) bool {
	want, err := os.Stat(p.agentExe)
	if err != nil {
		return true // cannot tell: leave the running agent alone
	}
	got, err := os.Stat(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return true
	}
	return os.SameFile(want, got)
}

// agentAlive reports whether cluster c's agent process exists. It trusts the pid file first:
// while `ip netns exec` execs the agent, /proc/<pid>/cmdline can read empty for a moment, so a
// command-line scan alone can miss a process that is starting.
func (p *Provider) agentAlive(c string) bool {
	if b, err := os.ReadFile(p.lay.agentPID(c)); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) {
			return true
		}
	}
	return len(p.agentPIDs(c)) > 0
}
