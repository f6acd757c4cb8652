package workload

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/loadgen"
	"github.com/dualpeer/dualpeer/bench/internal/procstat"
	"github.com/dualpeer/dualpeer/internal/sysmon"
)

// CommandFunc runs a program inside a network namespace (netlab.Command in the benchmark).
type CommandFunc func(ctx context.Context, ns, name string, arg ...string) *exec.Cmd

// System is one of the two measured paths B → A and how to reach its ends.
type System struct {
	Name     string // "dualpeer" or "mosquitto"
	PubNS    string // Cluster B's VM namespace
	PubAddr  string // B's local broker, plain, e.g. 127.0.0.1:18884
	SubNS    string // Cluster A's VM namespace
	SubAddr  string // A's mutual-TLS listener, e.g. 10.1.1.4:28883
	CA       string // server root CA
	Cert     string // client leaf bundle
	Key      string // client key
	Server   string // the name/IP in A's server certificate
	InTopic  string
	OutTopic string
	PidsA    []int // A's broker processes
	PidsB    []int // B's broker and dataflow processes
}

// Spec is one workload.
type Spec struct {
	Name    string
	QoS     byte
	Size    int
	N       int
	Rate    float64 // 0: as fast as possible
	Timeout time.Duration
	Idle    time.Duration // subscriber's drain wait after the publisher finished
}

// Result is one run of a Spec on a System.
type Result struct {
	System   string            `json:"system"`
	Workload string            `json:"workload"`
	Pub      loadgen.PubResult `json:"pub"`
	Sub      loadgen.SubResult `json:"sub"`
	CPUA     time.Duration     `json:"cpu_a_ns"` // CPU time of A's processes during the run
	CPUB     time.Duration     `json:"cpu_b_ns"`
	PeakA    int64             `json:"peak_rss_a_bytes"` // largest VmHWM among A's processes
	PeakB    int64             `json:"peak_rss_b_bytes"`
	Wall     time.Duration     `json:"wall_ns"`
}

// Run executes spec on sys with the benchmark binary exe and returns the measurements.
func Run(ctx context.Context, command CommandFunc, exe string, sys System, spec Spec, runID uint64) (Result, error) {
	rs, err := RunInterleaved(ctx, command, exe, []System{sys}, spec, 0, runID)
	return rs[0], err
}

// RunInterleaved executes spec on every system at once, taking turns: time is cut into
// windows of window, and the systems' publishers send in every len(systems)-th window each,
// systems[0] first, each at spec.Rate within its own windows (window 0: one system only,
// no windows). A slow phase of the host (this benchmark runs on shared VMs, whose speed
// drifts over seconds) then falls on every system alike instead of on whichever ran
// during it; only one system carries traffic at a time, as in sequential runs. Each
// Result's CPU and peak RSS cover the whole interleaved run (the other systems' windows
// included, when this system is idle). runID tells the runs apart; system i uses runID+i.
func RunInterleaved(ctx context.Context, command CommandFunc, exe string, systems []System, spec Spec, window time.Duration, runID uint64) ([]Result, error) {
	res := make([]Result, len(systems))
	for i, sys := range systems {
		res[i] = Result{System: sys.Name, Workload: spec.Name}
	}
	if len(systems) > 1 && (window <= 0 || spec.Rate <= 0) {
		return res, fmt.Errorf("running %d systems at once needs a rate and a window (got rate %g, window %s)", len(systems), spec.Rate, window)
	}
	timeout := spec.Timeout * time.Duration(len(systems))
	ctx, cancel := context.WithTimeout(ctx, timeout+30*time.Second)
	defer cancel()
	subs := make([]*child, len(systems))
	pubs := make([]*child, len(systems))
	cpu0 := make([][2]time.Duration, len(systems))
	defer func() {
		for i := range systems {
			if subs[i] != nil {
				subs[i].kill()
			}
			if pubs[i] != nil {
				pubs[i].kill()
			}
		}
	}()
	for i, sys := range systems {
		// The peak is per workload: reset VmHWM of every broker process first.
		for _, p := range append(append([]int{}, sys.PidsA...), sys.PidsB...) {
			if err := procstat.ResetPeak(p); err != nil {
				return res, err
			}
		}
		var err error
		if cpu0[i][0], _, err = sample(sys.PidsA); err != nil {
			return res, err
		}
		if cpu0[i][1], _, err = sample(sys.PidsB); err != nil {
			return res, err
		}
	}
	start := time.Now()
	for i, sys := range systems {
		sub, err := startChild(ctx, command, sys.SubNS, exe, subArgs(sys, spec, runID+uint64(i), timeout), true)
		if err != nil {
			return res, err
		}
		subs[i] = sub
		first, err := sub.next()
		if err != nil {
			return res, fmt.Errorf("%s subscriber: %w", sys.Name, err)
		}
		if first.Event != "ready" {
			return res, fmt.Errorf("%s subscriber did not subscribe: %s", sys.Name, first.Error)
		}
	}
	// A common schedule start a little ahead, so that every publisher is connected by then.
	startAt := time.Now().Add(500 * time.Millisecond)
	for i, sys := range systems {
		args := pubArgs(sys, spec, runID+uint64(i), timeout)
		if len(systems) > 1 {
			args = append(args, "-window", window.String(), "-slot", strconv.Itoa(i), "-slots", strconv.Itoa(len(systems)),
				"-start-at", strconv.FormatInt(startAt.UnixNano(), 10))
		}
		pub, err := startChild(ctx, command, sys.PubNS, exe, args, false)
		if err != nil {
			return res, err
		}
		pubs[i] = pub
	}
	pubEvents := make([]event, len(systems))
	pubErrs := make([]error, len(systems))
	for i := range systems {
		pubEvents[i], pubErrs[i] = pubs[i].next()
		pubs[i].wait()
		subs[i].stdin.Close() // the publisher is done: the subscriber drains, then reports
	}
	subEvents := make([]event, len(systems))
	subErrs := make([]error, len(systems))
	for i := range systems {
		subEvents[i], subErrs[i] = subs[i].next()
		subs[i].wait()
	}
	wall := time.Since(start)
	var errs []error
	for i, sys := range systems {
		r := &res[i]
		r.Wall = wall
		if pe := pubEvents[i]; pe.Pub != nil {
			r.Pub = *pe.Pub
		}
		if se := subEvents[i]; se.Sub != nil {
			r.Sub = *se.Sub
		}
		cpuA1, peakA, err := sample(sys.PidsA)
		if err != nil {
			return res, err
		}
		cpuB1, peakB, err := sample(sys.PidsB)
		if err != nil {
			return res, err
		}
		r.CPUA, r.CPUB, r.PeakA, r.PeakB = cpuA1-cpu0[i][0], cpuB1-cpu0[i][1], peakA, peakB
		errs = append(errs, childErrors(sys.Name, spec, timeout, *r, pubEvents[i], pubErrs[i], subEvents[i], subErrs[i])...)
	}
	return res, errors.Join(errs...)
}

func subArgs(sys System, spec Spec, runID uint64, timeout time.Duration) []string {
	return append([]string{"sub", "-addr", sys.SubAddr, "-topic", sys.OutTopic, "-ca", sys.CA, "-cert", sys.Cert,
		"-key", sys.Key, "-server-name", sys.Server, "-idle", spec.Idle.String(), "-client-id", fmt.Sprintf("bench-sub-%d", runID)},
		commonArgs(spec, runID, timeout)...)
}

func pubArgs(sys System, spec Spec, runID uint64, timeout time.Duration) []string {
	return append([]string{"pub", "-addr", sys.PubAddr, "-topic", sys.InTopic, "-size", strconv.Itoa(spec.Size),
		"-rate", strconv.FormatFloat(spec.Rate, 'f', -1, 64), "-client-id", fmt.Sprintf("bench-pub-%d", runID)},
		commonArgs(spec, runID, timeout)...)
}

func commonArgs(spec Spec, runID uint64, timeout time.Duration) []string {
	return []string{"-n", strconv.Itoa(spec.N), "-qos", strconv.Itoa(int(spec.QoS)),
		"-run-id", strconv.FormatUint(runID, 10), "-timeout", timeout.String()}
}

// childErrors are the problems the load generator's children (run with timeout) reported
// for one system.
func childErrors(name string, spec Spec, timeout time.Duration, r Result, pe event, perr error, se event, serr error) []error {
	var errs []error
	if perr != nil {
		errs = append(errs, fmt.Errorf("%s publisher: %w", name, perr))
	} else if pe.Error != "" {
		errs = append(errs, fmt.Errorf("%s publisher: %s", name, pe.Error))
	}
	if serr != nil {
		errs = append(errs, fmt.Errorf("%s subscriber: %w", name, serr))
	} else if se.Error != "" {
		errs = append(errs, fmt.Errorf("%s subscriber: %s", name, se.Error))
	} else if r.Sub.TimedOut {
		errs = append(errs, fmt.Errorf("%s subscriber gave up after %s with %d of %d messages (raise the timeout or lower -n if the path is that slow)",
			name, timeout, r.Sub.Unique, spec.N))
	}
	return errs
}

// sample sums the CPU time of pids and returns the largest peak RSS among them.
func sample(pids []int) (time.Duration, int64, error) {
	var cpu time.Duration
	var peak int64
	for _, p := range pids {
		s, err := procstat.Read(p)
		if err != nil {
			return 0, 0, err
		}
		cpu += s.CPU
		peak = max(peak, s.HWMBytes)
	}
	return cpu, peak, nil
}

type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *bytes.Buffer
	name   string
}

func startChild(ctx context.Context, command CommandFunc, ns, exe string, args []string, withStdin bool) (*child, error) {
	cmd := command(ctx, ns, exe, args...)
	if cmd.Err != nil {
		return nil, cmd.Err
	}
	c := &child{cmd: cmd, stderr: &bytes.Buffer{}, name: args[0]}
	cmd.Stderr = c.stderr
	// The load generator sends or receives one small message at a time, like the agents:
	// without this its runtime monitor woke every 20 µs for the whole run and the
	// publisher burnt 60-80 % of a core at 1,000 msg/s, CPU taken from both systems under
	// test on a 2-core host (see internal/sysmon).
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env, _ = sysmon.Env(cmd.Env)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if withStdin {
		if c.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s load generator in %s: %w", c.name, ns, err)
	}
	c.lines = bufio.NewScanner(out)
	c.lines.Buffer(make([]byte, 1<<20), 1<<20)
	return c, nil
}

func (c *child) next() (event, error) {
	if !c.lines.Scan() {
		c.wait()
		return event{}, fmt.Errorf("the %s process ended without a result (%v): %s", c.name, c.lines.Err(), bytes.TrimSpace(c.stderr.Bytes()))
	}
	var e event
	if err := json.Unmarshal(c.lines.Bytes(), &e); err != nil {
		return event{}, fmt.Errorf("the %s process printed %q, not a JSON event: %w", c.name, c.lines.Text(), err)
	}
	return e, nil
}

func (c *child) wait() { _ = c.cmd.Wait() }

// kill ends the child if it is still running (on errors and timeouts). Its pid is the one
// started here.
func (c *child) kill() {
	if c.cmd.ProcessState == nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	}
}
