package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/lab"
	"github.com/dualpeer/dualpeer/bench/internal/report"
	"github.com/dualpeer/dualpeer/bench/internal/workload"
	"github.com/dualpeer/dualpeer/bench/mosquitto"
	"github.com/dualpeer/dualpeer/internal/netlab"
)

const (
	inputTopic  = "input"
	outputTopic = "output"
	// maxQueued is Mosquitto's max_queued_messages: above every run's message count, so the
	// reference bridge does not drop QoS 1 messages by configuration (see a.conf.tmpl).
	maxQueued = 10_000_000
)

// bench holds what every round shares.
type bench struct {
	o      options
	exe    string // this binary, run in the namespaces as `pub`/`sub`
	bin    string // dualpeer
	base   string // working directory
	log    io.Writer
	stderr io.Writer
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func benchmark(ctx context.Context, o options, stdout, stderr io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("the benchmark needs root (network namespaces, /proc of root's processes): run it as `sudo go run ./bench`")
	}
	mqVersion, err := mosquitto.Version(ctx)
	if err != nil {
		return err
	}
	repo, err := filepath.Abs(o.Repo)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(repo, "cmd", "dualpeer")); err != nil && o.DualpeerBin == "" {
		return fmt.Errorf("-repo %s is not the dualpeer checkout (no cmd/dualpeer): run from the repository root or pass -repo", repo)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the benchmark's own binary (it runs itself in the lab namespaces): %w", err)
	}
	base := o.StateDir
	if base == "" {
		if base, err = os.MkdirTemp("", "dualpeer-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(base, 0o700); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(base, "dualpeer.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	b := &bench{o: o, exe: exe, base: base, log: logFile, stderr: stderr}
	b.logf("working directory %s (dualpeer output in dualpeer.log, Mosquitto logs per round)", base)
	if b.bin = o.DualpeerBin; b.bin == "" && !o.Standin {
		b.logf("building dualpeer from %s", repo)
		if b.bin, err = lab.Build(ctx, repo, base); err != nil {
			return err
		}
	}
	doc := report.Document{
		Machine:  report.ReadMachine(),
		Versions: report.Versions{Go: runtime.Version(), Mosquitto: mqVersion, Dualpeer: lab.Commit(ctx, repo)},
		Command:  o.Command,
		Started:  time.Now().UTC().Format(time.RFC3339),
		Method:   method(o),
	}
	if o.Standin {
		doc.Versions.Dualpeer += " (stand-in: internal/broker + internal/dataflow, not `dualpeer up`/agent)"
	}
	var errs []error
	for i := 1; i <= o.Rounds; i++ {
		rd, err := b.round(ctx, i)
		doc.Rounds = append(doc.Rounds, rd)
		fmt.Fprintf(stdout, "\n## %s\n\n", rd.Label)
		_ = rd.WriteTable(stdout)
		if werr := b.write(doc); werr != nil {
			errs = append(errs, werr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("round %d: %w", i, err))
			break
		}
	}
	return errors.Join(errs...)
}

func (b *bench) write(doc report.Document) error {
	if b.o.Out != "" {
		var buf bytes.Buffer
		if err := doc.Write(&buf); err != nil {
			return err
		}
		if err := os.WriteFile(b.o.Out, buf.Bytes(), 0o644); err != nil {
			return fmt.Errorf("write the report -out %s: %w", b.o.Out, err)
		}
	}
	if b.o.JSON != "" {
		j, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(b.o.JSON, j, 0o644); err != nil {
			return fmt.Errorf("write -json %s: %w", b.o.JSON, err)
		}
	}
	return nil
}

func method(o options) []string {
	m := []string{
		"One host, as root. dualpeer's local target builds the two clusters in network namespaces (`dualpeer up`); the reference Mosquitto brokers run in the same two VM namespaces with the same certificates, on other ports (A: mutual TLS on A's VM IP:" +
			strconv.Itoa(o.MQAPort) + "; B: plain 127.0.0.1:" + strconv.Itoa(o.MQBPort) + " with the bridge). dualpeer's agents stay up, idle, while Mosquitto is measured, and the other way round; configurations: bench/mosquitto/*.conf.tmpl.",
		"Load generator (bench/internal/loadgen, eclipse/paho.golang MQTT 5) runs as child processes inside the namespaces: the publisher in B's VM namespace publishes to B's local broker on `input`; the subscriber in A's VM namespace subscribes to `output` on A's broker over mutual TLS with the client certificate. Each payload carries a run id, a sequence number and the send time, padded to the payload size. It runs with `GODEBUG=schedtrace=2147483647` (internal/sysmon, as dualpeer's agents): without it the Go runtime's monitor thread of the publisher polled every 20 µs throughout a 1,000 msg/s run and took 60-80 % of a core from both systems alike.",
		fmt.Sprintf("Throughput: %d messages as fast as the publisher can (QoS 1: asynchronous within the broker's receive maximum), %d runs per workload and system, alternating which system goes first, after the latency workloads; throughput = unique messages received / (last receive − first send); a run gives up after 30 s + 0.5 ms per message.", o.N, o.Runs),
		latencyMethod(o),
		"Lost = sent − unique received (the subscriber waits until nothing arrived for 3 s after the publisher finished); duplicates = deliveries of an already received sequence number.",
		"CPU per message = utime+stime (/proc/<pid>/stat) of each side's processes during the run ÷ unique messages; A = dualpeer's agent on A or A's mosquitto, B = dualpeer's agent on B (broker + dataflow) or B's mosquitto (broker + bridge). Peak RSS = VmHWM, reset before each run via /proc/<pid>/clear_refs.",
		"Up: dualpeer = wall time of `dualpeer up` on a fresh state directory (namespaces, certificates, agents, its connectivity check) and first message through the link; Mosquitto = starting both brokers in the existing namespaces until a first message went B → A (it does not build namespaces or certificates). Down: `dualpeer down` vs stopping both brokers.",
	}
	if o.Standin {
		m = append([]string{"**Stand-in mode (-standin)**: the dualpeer column is NOT `dualpeer up` and its agents. The benchmark built the lab with internal/netlab, generated step-profile certificates with internal/pki and ran dualpeer's runtime packages (internal/broker on both sides, internal/dataflow on B, in-process source) as one process per VM namespace (bench/internal/standin). Up/down are netlab + certificates + processes + first message, and namespace removal."}, m...)
	}
	return m
}

// latencyMethod is the method line for the latency workloads.
func latencyMethod(o options) string {
	how := "one system after the other, alternating which goes first between runs, workloads and rounds"
	if o.LatWindow > 0 {
		how = fmt.Sprintf("both systems in one run, taking turns in %s windows (each at the rate within its own windows, one system carrying traffic at a time; which one has the first window alternates between runs, workloads and rounds), so that the shared VM's slow phases, which last seconds, fall on both alike", o.LatWindow)
	}
	return fmt.Sprintf("Latency: %.0f msg/s for %s (%.0f messages) per system, 64 B, %d runs per system (the table shows the median of each percentile over the runs), after sync(2) and %s of rest; %s; percentiles are nearest-rank over every first delivery of a run.",
		o.LatRate, o.LatDuration, o.LatRate*o.LatDuration.Seconds(), o.LatRuns, settleTime, how)
}

// settleTime is the rest before a round's first measured run.
const settleTime = 2 * time.Second

// round runs every workload once per system (Runs times) and times up/down.
func (b *bench) round(ctx context.Context, n int) (report.Round, error) {
	tp := []struct {
		name string
		qos  byte
		size int
	}{{"QoS 0, 64 B", 0, 64}, {"QoS 0, 1 KB", 0, 1024}, {"QoS 1, 64 B", 1, 64}, {"QoS 1, 1 KB", 1, 1024}}
	lat := []struct {
		name string
		qos  byte
	}{
		{fmt.Sprintf("QoS 1, 64 B at %.0f msg/s", b.o.LatRate), 1},
		{fmt.Sprintf("QoS 0, 64 B at %.0f msg/s", b.o.LatRate), 0},
	}
	rd := report.Round{Label: fmt.Sprintf("Round %d", n), Up: map[string][]time.Duration{}, Down: map[string][]time.Duration{}}
	selected := func(name string) bool { return b.o.Only == nil || b.o.Only.MatchString(name) }
	for _, w := range tp {
		if selected(w.name) {
			rd.Throughput = append(rd.Throughput, w.name)
		}
	}
	for _, w := range lat {
		if selected(w.name) {
			rd.Latency = append(rd.Latency, w.name)
		}
	}
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		b.logf("PROBLEM: %s", msg)
		rd.Problems = append(rd.Problems, msg)
	}

	// dualpeer up/down cycles; the last lab stays for the workloads.
	var tg target
	var out lab.Outputs
	var sf lab.ServerFiles
	for i := 0; i < b.o.UpDown; i++ {
		t := b.newTarget(filepath.Join(b.base, fmt.Sprintf("round%d-lab%d", n, i+1)))
		b.logf("%s (%d/%d)", t.describe(), i+1, b.o.UpDown)
		start := time.Now()
		o, f, err := t.up(ctx)
		if err != nil {
			t.cleanup()
			return rd, err
		}
		// Connectivity verified by a first message through the link, counted in up's time.
		sys, err := b.dualpeerSystem(t, o)
		if err != nil {
			t.cleanup()
			return rd, err
		}
		if err := b.probe(ctx, sys); err != nil {
			t.cleanup()
			return rd, fmt.Errorf("dualpeer's link B → A after up: %w", err)
		}
		took := time.Since(start)
		rd.Up[report.Dualpeer] = append(rd.Up[report.Dualpeer], took)
		b.logf("dualpeer up + first message: %s", took.Round(time.Millisecond))
		if i < b.o.UpDown-1 {
			start := time.Now()
			if err := t.down(ctx); err != nil {
				t.cleanup()
				return rd, err
			}
			took := time.Since(start)
			rd.Down[report.Dualpeer] = append(rd.Down[report.Dualpeer], took)
			b.logf("dualpeer down: %s", took.Round(time.Millisecond))
		}
		tg, out, sf = t, o, f
	}
	labUp := true
	defer func() {
		if labUp && !b.o.Keep {
			tg.cleanup()
		}
	}()

	// Mosquitto in the same namespaces; start/stop cycles like dualpeer's.
	var mqA, mqB *mosquitto.Process
	stopMQ := func() (time.Duration, error) {
		start := time.Now()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := errors.Join(mqB.Stop(sctx), mqA.Stop(sctx))
		return time.Since(start), err
	}
	for i := 0; i < b.o.UpDown; i++ {
		dir := filepath.Join(b.base, fmt.Sprintf("round%d-mosquitto%d", n, i+1))
		b.logf("mosquitto start (%d/%d) in %s", i+1, b.o.UpDown, dir)
		start := time.Now()
		var err error
		if mqA, mqB, err = b.startMosquitto(ctx, dir, out, sf); err != nil {
			return rd, err
		}
		sys := b.mosquittoSystem(out, mqA, mqB)
		if err := b.probe(ctx, sys); err != nil {
			_, _ = stopMQ()
			return rd, fmt.Errorf("mosquitto's bridge B → A: %w\nA's log:\n%s\nB's log:\n%s", err, mqA.LogTail(10), mqB.LogTail(10))
		}
		took := time.Since(start)
		rd.Up[report.Mosquitto] = append(rd.Up[report.Mosquitto], took)
		b.logf("mosquitto start + first message: %s", took.Round(time.Millisecond))
		if i < b.o.UpDown-1 {
			took, err := stopMQ()
			if err != nil {
				return rd, err
			}
			rd.Down[report.Mosquitto] = append(rd.Down[report.Mosquitto], took)
		}
	}
	mqUp := true
	defer func() {
		if mqUp && !b.o.Keep {
			_, _ = stopMQ()
		}
	}()
	mqSys := b.mosquittoSystem(out, mqA, mqB)

	// Which system goes first alternates between runs and between rounds: the first run
	// of a round came out slower for whichever system had it (three rounds in a row had
	// dualpeer first and slower in round 1 than in round 2).
	systems := func(run int) []string {
		if (run+n-1)%2 == 0 {
			return []string{report.Dualpeer, report.Mosquitto}
		}
		return []string{report.Mosquitto, report.Dualpeer}
	}
	system := func(sysName string) (workload.System, error) {
		if sysName == report.Dualpeer {
			return b.dualpeerSystem(tg, out)
		}
		return mqSys, nil
	}
	record := func(r workload.Result, label string, err error) {
		if err != nil {
			problem("%s %s: %v", r.System, label, err)
		}
		if r.Sub.Stale > 0 {
			problem("%s %s: the subscriber also received %d messages of earlier runs (the path was still delivering or redelivering them)", r.System, label, r.Sub.Stale)
		}
		if r.Sub.Unique > 0 || err == nil {
			rd.Results = append(rd.Results, r)
		}
		b.logf("%-9s %-28s %8.0f msg/s  lost %-6d dup %-5d p50 %.2f ms  p99 %.2f ms  max %.2f ms  CPU A %s B %s  RSS A %.0f B %.0f MiB",
			r.System, label, r.Sub.Throughput, r.Sub.Lost, r.Sub.Duplicates, r.Sub.Latency.P50/1e3, r.Sub.Latency.P99/1e3, r.Sub.Latency.Max/1e3,
			r.CPUA.Round(time.Millisecond), r.CPUB.Round(time.Millisecond), float64(r.PeakA)/(1<<20), float64(r.PeakB)/(1<<20))
	}
	// one runs spec on the named systems: one after the other, or with window > 0 all at
	// once, taking turns in windows (workload.RunInterleaved), in the order given.
	one := func(names []string, spec workload.Spec, label string, window time.Duration) {
		var syss []workload.System
		for _, name := range names {
			if ctx.Err() != nil {
				return
			}
			sys, err := system(name)
			if err != nil {
				problem("%s %s: %v", name, label, err)
				return
			}
			if window <= 0 {
				time.Sleep(500 * time.Millisecond) // let the previous run's stragglers settle
				r, err := workload.Run(ctx, netlab.Command, b.exe, sys, spec, rand.Uint64())
				record(r, label, err)
				continue
			}
			syss = append(syss, sys)
		}
		if len(syss) == 0 || ctx.Err() != nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
		rs, err := workload.RunInterleaved(ctx, netlab.Command, b.exe, syss, spec, window, rand.Uint64())
		for _, r := range rs {
			record(r, label, err)
		}
	}
	// Latency first, on the fresh lab: an overload in the throughput runs must not decide the
	// latency numbers (it still shows in the throughput rows and the problems list). Before
	// it, the machine settles: building the binaries and the up/down cycles leave dirty pages
	// that the kernel writes back while the first run is measured.
	syscall.Sync()
	time.Sleep(settleTime)
	for i, w := range lat {
		if !selected(w.name) {
			continue
		}
		count := int(b.o.LatRate * b.o.LatDuration.Seconds())
		spec := workload.Spec{Name: w.name, QoS: w.qos, Size: 64, N: count, Rate: b.o.LatRate,
			Timeout: b.o.LatDuration + 60*time.Second, Idle: 3 * time.Second}
		for run := 0; run < b.o.LatRuns; run++ {
			label := w.name
			if b.o.LatRuns > 1 {
				label = fmt.Sprintf("%s (run %d)", w.name, run+1)
			}
			one(systems(i+run), spec, label, b.o.LatWindow)
		}
	}
	for _, w := range tp {
		if !selected(w.name) {
			continue
		}
		spec := workload.Spec{Name: w.name, QoS: w.qos, Size: w.size, N: b.o.N,
			Timeout: 30*time.Second + time.Duration(b.o.N)*time.Millisecond/2, Idle: 3 * time.Second}
		for run := 0; run < b.o.Runs; run++ {
			one(systems(run), spec, fmt.Sprintf("%s (run %d)", w.name, run+1), 0)
		}
	}
	if err := ctx.Err(); err != nil {
		return rd, err
	}
	if b.o.Keep {
		b.logf("-keep: leaving the lab (%s) and Mosquitto (pids %d, %d) running", tg.describe(), mqA.Pid(), mqB.Pid())
		return rd, nil
	}
	took, err := stopMQ()
	mqUp = false
	if err != nil {
		problem("stop mosquitto: %v", err)
	}
	rd.Down[report.Mosquitto] = append(rd.Down[report.Mosquitto], took)
	start := time.Now()
	err = tg.down(ctx)
	took = time.Since(start)
	labUp = false
	if err != nil {
		tg.cleanup()
		return rd, err
	}
	rd.Down[report.Dualpeer] = append(rd.Down[report.Dualpeer], took)
	b.logf("dualpeer down: %s", took.Round(time.Millisecond))
	return rd, nil
}

func (b *bench) dualpeerSystem(t target, o lab.Outputs) (workload.System, error) {
	a, bp, err := t.pids(o)
	if err != nil {
		return workload.System{}, err
	}
	return workload.System{Name: report.Dualpeer, PubNS: o.BNS, PubAddr: b.o.DPPubAddr, SubNS: o.ANS,
		SubAddr: net.JoinHostPort(o.AIP, strconv.Itoa(b.o.DPSubPort)), CA: o.Files.ServerRootCA, Cert: o.Files.ClientCert,
		Key: o.Files.ClientKey, Server: o.AIP, InTopic: inputTopic, OutTopic: outputTopic, PidsA: a, PidsB: bp}, nil
}

func (b *bench) mosquittoSystem(o lab.Outputs, a, bp *mosquitto.Process) workload.System {
	return workload.System{Name: report.Mosquitto, PubNS: o.BNS, PubAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(b.o.MQBPort)), SubNS: o.ANS,
		SubAddr: net.JoinHostPort(o.AIP, strconv.Itoa(b.o.MQAPort)), CA: o.Files.ServerRootCA, Cert: o.Files.ClientCert,
		Key: o.Files.ClientKey, Server: o.AIP, InTopic: inputTopic, OutTopic: outputTopic, PidsA: []int{a.Pid()}, PidsB: []int{bp.Pid()}}
}

func (b *bench) startMosquitto(ctx context.Context, dir string, o lab.Outputs, sf lab.ServerFiles) (*mosquitto.Process, *mosquitto.Process, error) {
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, nil, err
		}
	}
	aLog, bLog := filepath.Join(dir, "a", "mosquitto.log"), filepath.Join(dir, "b", "mosquitto.log")
	aConf, err := mosquitto.RenderServer(mosquitto.ServerConfig{Addr: o.AIP, Port: b.o.MQAPort, ClientCAFile: sf.ClientCAFile,
		CertFile: sf.CertFile, KeyFile: sf.KeyFile, DataDir: filepath.Join(dir, "a"), LogFile: aLog, MaxQueued: maxQueued})
	if err != nil {
		return nil, nil, err
	}
	bConf, err := mosquitto.RenderBridge(mosquitto.BridgeConfig{LocalPort: b.o.MQBPort, BridgeName: "bench-bridge", RemoteAddr: o.AIP,
		RemotePort: b.o.MQAPort, ServerCAFile: o.Files.ServerRootCA, ClientCertFile: o.Files.ClientCert, ClientKeyFile: o.Files.ClientKey,
		LocalTopic: inputTopic, RemoteTopic: outputTopic, DataDir: filepath.Join(dir, "b"), LogFile: bLog, MaxQueued: maxQueued})
	if err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	a, err := mosquitto.Start(sctx, netlab.Command, o.ANS, "a", dir, aConf, aLog)
	if err != nil {
		return nil, nil, err
	}
	bp, err := mosquitto.Start(sctx, netlab.Command, o.BNS, "b", dir, bConf, bLog)
	if err != nil {
		_ = a.Stop(context.Background())
		return nil, nil, err
	}
	return a, bp, nil
}

// probe sends single QoS 1 messages B → A until one arrives, for at most 20 s.
func (b *bench) probe(ctx context.Context, sys workload.System) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		r, err := workload.Run(ctx, netlab.Command, b.exe, sys, workload.Spec{Name: "probe", QoS: 1, Size: 64, N: 1,
			Timeout: 5 * time.Second, Idle: time.Second}, rand.Uint64())
		if err == nil && r.Sub.Unique == 1 {
			return nil
		}
		last = err
		if last == nil {
			last = errors.New("the probe message did not arrive")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no message went B → A within 20 s: %w", last)
}
