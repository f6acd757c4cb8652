package agent

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// sysmonAwake is the GODEBUG setting the agent runs with.
//
// Why: the Go runtime's monitor thread (sysmon) goes into a deep sleep whenever every P is
// idle, and the next goroutine that enters a system call while it sleeps wakes it (a futex
// wake-up), after which it polls every 20 µs until the process is idle again. An agent
// relaying 1,000 messages a second is idle between messages, so every message paid for that
// wake-up and three or four 20 µs polls: on the 2-core benchmark VM that was five context
// switches per message and agent, ~40 % of the agent's CPU at that rate and ~60 µs on each
// message's latency (docs/benchmarks.md, Findings). The runtime keeps sysmon out of deep sleep
// while a scheduler trace is configured; with the longest period (2^31-1 ms, 24.8 days) no
// trace is printed in practice, and sysmon instead backs off to one 10 ms poll while idle —
// 100 cheap wake-ups a second in place of thousands. No other knob reaches this (GOMAXPROCS=1
// and GOGC do not; measured).
//
// If the machine has been up longer than 24.8 days, the runtime prints one "SCHED" line to
// the agent's log at start and every 24.8 days after; that is the whole side effect.
const sysmonAwake = "schedtrace=2147483647"

// reexecEnv is the environment the agent should run with, and whether it differs from env:
// sysmonAwake is added to GODEBUG unless the operator chose a schedtrace already (their
// setting wins, including schedtrace=0 to turn this off).
func reexecEnv(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	found := false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			found = true
			for _, s := range strings.Split(v, ",") {
				if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
					return env, false
				}
			}
			if v != "" {
				v += ","
			}
			kv = "GODEBUG=" + v + sysmonAwake
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG="+sysmonAwake)
	}
	return out, true
}

// ExecWithRuntimeSettings replaces the process with itself under the runtime settings the
// agent needs (see sysmonAwake) when they are not in its environment yet; GODEBUG is read
// only at start, so a re-exec is the only way. The pid stays the same, so whoever started
// the agent (the local target records its pid) still has it. It returns only when nothing
// needs to change or when the re-exec failed (the agent then runs without the setting: slower
// under a light load, otherwise the same).
func ExecWithRuntimeSettings() error {
	env, change := reexecEnv(os.Environ())
	if !change {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the agent's own executable to restart it with GODEBUG=%s: %w", sysmonAwake, err)
	}
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("restart the agent (%s) with GODEBUG=%s: %w", exe, sysmonAwake, err)
	}
	return nil
}
