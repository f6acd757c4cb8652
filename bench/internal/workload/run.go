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
	res := Result{System: sys.Name, Workload: spec.Name}
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout+30*time.Second)
	defer cancel()
	common := []string{"-n", strconv.Itoa(spec.N), "-qos", strconv.Itoa(int(spec.QoS)),
		"-run-id", strconv.FormatUint(runID, 10), "-timeout", spec.Timeout.String()}
	subArgs := append([]string{"sub", "-addr", sys.SubAddr, "-topic", sys.OutTopic, "-ca", sys.CA, "-cert", sys.Cert,
		"-key", sys.Key, "-server-name", sys.Server, "-idle", spec.Idle.String(), "-client-id", fmt.Sprintf("bench-sub-%d", runID)}, common...)
	pubArgs := append([]string{"pub", "-addr", sys.PubAddr, "-topic", sys.InTopic, "-size", strconv.Itoa(spec.Size),
		"-rate", strconv.FormatFloat(spec.Rate, 'f', -1, 64), "-client-id", fmt.Sprintf("bench-pub-%d", runID)}, common...)

	// The peak is per workload: reset VmHWM of every broker process first.
	for _, p := range append(append([]int{}, sys.PidsA...), sys.PidsB...) {
		if err := procstat.ResetPeak(p); err != nil {
			return res, err
		}
	}
	cpuA0, _, err := sample(sys.PidsA)
	if err != nil {
		return res, err
	}
	cpuB0, _, err := sample(sys.PidsB)
	if err != nil {
		return res, err
	}

	start := time.Now()
	sub, err := startChild(ctx, command, sys.SubNS, exe, subArgs, true)
	if err != nil {
		return res, err
	}
	defer sub.kill()
	first, err := sub.next()
	if err != nil {
		return res, fmt.Errorf("%s subscriber: %w", sys.Name, err)
	}
	if first.Event != "ready" {
		return res, fmt.Errorf("%s subscriber did not subscribe: %s", sys.Name, first.Error)
	}
	pub, err := startChild(ctx, command, sys.PubNS, exe, pubArgs, false)
	if err != nil {
		return res, err
	}
	defer pub.kill()
	pe, perr := pub.next()
	pub.wait()
	sub.stdin.Close() // the publisher is done: the subscriber drains, then reports
	se, serr := sub.next()
	sub.wait()
	res.Wall = time.Since(start)
	if pe.Pub != nil {
		res.Pub = *pe.Pub
	}
	if se.Sub != nil {
		res.Sub = *se.Sub
	}

	cpuA1, peakA, err := sample(sys.PidsA)
	if err != nil {
		return res, err
	}
	cpuB1, peakB, err := sample(sys.PidsB)
	if err != nil {
		return res, err
	}
	res.CPUA, res.CPUB, res.PeakA, res.PeakB = cpuA1-cpuA0, cpuB1-cpuB0, peakA, peakB

	var errs []error
	if perr != nil {
		errs = append(errs, fmt.Errorf("%s publisher: %w", sys.Name, perr))
	} else if pe.Error != "" {
		errs = append(errs, fmt.Errorf("%s publisher: %s", sys.Name, pe.Error))
	}
	if serr != nil {
		errs = append(errs, fmt.Errorf("%s subscriber: %w", sys.Name, serr))
	} else if se.Error != "" {
		errs = append(errs, fmt.Errorf("%s subscriber: %s", sys.Name, se.Error))
	} else if res.Sub.TimedOut {
		errs = append(errs, fmt.Errorf("%s subscriber gave up after %s with %d of %d messages (raise the timeout or lower -n if the path is that slow)",
			sys.Name, spec.Timeout, res.Sub.Unique, spec.N))
	}
	return res, errors.Join(errs...)
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
