// Package sysmon keeps the Go runtime's monitor thread out of its deep sleep, for processes
// that handle one small message at a time at a steady rate (the agents, the benchmark's load
// generator). See Setting for why and how.
package sysmon

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Setting is the GODEBUG setting these processes run with.
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
const Setting = "schedtrace=2147483647"

// Env is env with Setting added to GODEBUG, and whether that changed anything: not when
// GODEBUG names a schedtrace already (the operator's setting wins, including schedtrace=0
// to turn this off).
func Env(env []string) ([]string, bool) {
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
			kv = "GODEBUG=" + v + Setting
		}
		out = append(out, kv)
	}
	if !found {
		out = append(out, "GODEBUG="+Setting)
	}
	return out, true
}

// Exec replaces the process with itself under the runtime settings the
// process needs (see Setting) when they are not in its environment yet; GODEBUG is read
// only at start, so a re-exec is the only way. The pid stays the same, so whoever started
// the agent (the local target records its pid) still has it. It returns only when nothing
// needs to change or when the re-exec failed (the agent then runs without the setting: slower
// under a light load, otherwise the same).
func Exec() error {
	env, change := Env(os.Environ())
	if !change {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the agent's own executable to restart it with GODEBUG=%s: %w", Setting, err)
	}
	if err := syscall.Exec(exe, os.Args, env); err != nil {
		return fmt.Errorf("restart the agent (%s) with GODEBUG=%s: %w", exe, Setting, err)
	}
	return nil
}
