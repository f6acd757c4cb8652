package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

// options are the benchmark's flags.
type options struct {
	N           int
	Runs        int
	Rounds      int
	UpDown      int
	LatRate     float64
	LatDuration time.Duration
	LatRuns     int
	LatWindow   time.Duration
	Quick       bool
	Out         string
	JSON        string
	StateDir    string
	Repo        string
	DualpeerBin string
	UpArgs      string
	DPPubAddr   string
	DPSubPort   int
	MQAPort     int
	MQBPort     int
	Keep        bool
	Standin     bool
	Only        *regexp.Regexp // nil: every workload
	Command     string         // how the benchmark was invoked, for BENCHMARKS.md
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: go run ./bench [flags]   (as root, from the repository root)

Measures dualpeer's link B -> A against Mosquitto's bridge in the same lab and prints one table.

Examples:
  go run ./bench -quick                 smoke run (small counts, < 60 s), writes nothing
  go run ./bench                        full run, writes BENCHMARKS.md
  go run ./bench -rounds 2              the full table twice (what BENCHMARKS.md shows)
  go run ./bench -n 20000 -runs 1 -out ""   a shorter run that only prints

Flags:
`)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.N, "n", 100000, "messages per throughput run")
	fs.IntVar(&o.Runs, "runs", 3, "runs per throughput workload and system; the table shows the median")
	fs.IntVar(&o.Rounds, "rounds", 1, "complete rounds (each one table)")
	fs.IntVar(&o.UpDown, "updown", 3, "`dualpeer up`/`down` cycles timed per round (fresh state directory each)")
	fs.Float64Var(&o.LatRate, "latency-rate", 1000, "messages per second of the latency workloads")
	fs.DurationVar(&o.LatDuration, "latency-duration", 20*time.Second, "duration of the latency workloads")
	fs.IntVar(&o.LatRuns, "latency-runs", 3, "runs per latency workload and system; the table shows the median of each percentile")
	fs.DurationVar(&o.LatWindow, "latency-window", time.Second, "latency runs drive both systems at once, taking turns in windows this long, so that the host's slow phases fall on both alike (0: one system after the other)")
	fs.BoolVar(&o.Quick, "quick", false, "smoke run: -n 2000 -runs 1 -updown 1 -latency-duration 2s -latency-runs 1, no BENCHMARKS.md")
	fs.StringVar(&o.Out, "out", "BENCHMARKS.md", "write the Markdown report here (empty: print only)")
	fs.StringVar(&o.JSON, "json", "", "also write every measurement as JSON here")
	fs.StringVar(&o.StateDir, "state-dir", "", "parent of the state directories (default: a new temporary directory)")
	fs.StringVar(&o.Repo, "repo", ".", "the dualpeer checkout to build and to describe (git commit)")
	fs.StringVar(&o.DualpeerBin, "dualpeer", "", "use this dualpeer binary instead of building ./cmd/dualpeer")
	fs.StringVar(&o.UpArgs, "up-args", "", "extra arguments for `dualpeer up`, space-separated")
	fs.StringVar(&o.DPPubAddr, "dualpeer-local", "127.0.0.1:18884", "dualpeer's local broker on Cluster B (anonymous plain listener)")
	fs.IntVar(&o.DPSubPort, "dualpeer-port", 28883, "dualpeer's mutual-TLS listener port on Cluster A")
	fs.IntVar(&o.MQAPort, "mosquitto-port", 38883, "Mosquitto's mutual-TLS listener port on Cluster A (other than dualpeer's: both run)")
	fs.IntVar(&o.MQBPort, "mosquitto-local-port", 11883, "Mosquitto's local plain listener port on Cluster B (127.0.0.1)")
	fs.BoolVar(&o.Standin, "standin", false, "do not run `dualpeer up`: build the lab with internal/netlab and run dualpeer's broker and dataflow packages as stand-in agents (see bench/internal/standin)")
	only := fs.String("only", "", "run only the workloads whose name matches this regular expression (e.g. 'QoS 0, 1 KB' or 'msg/s'); partial tables are printed, BENCHMARKS.md is not written")
	fs.BoolVar(&o.Keep, "keep", false, "leave the last lab and Mosquitto running (for debugging); stop them with `dualpeer down`")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: the benchmark takes flags only (see -h)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.Quick {
		// Explicit flags win over -quick's smaller defaults.
		for name, apply := range map[string]func(){
			"n": func() { o.N = 2000 }, "runs": func() { o.Runs = 1 }, "updown": func() { o.UpDown = 1 },
			"latency-duration": func() { o.LatDuration = 2 * time.Second }, "latency-runs": func() { o.LatRuns = 1 },
			"out": func() { o.Out = "" },
		} {
			if !set[name] {
				apply()
			}
		}
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return o, fmt.Errorf("-only %q is not a regular expression: %w", *only, err)
		}
		o.Only = re
		if !set["out"] {
			o.Out = "" // a partial table must not replace the full one
		}
	}
	o.Command = commandLine(args)
	return o, o.validate()
}

func (o options) validate() error {
	var errs []error
	if o.N < 1 {
		errs = append(errs, fmt.Errorf("-n %d: use at least 1 message", o.N))
	}
	if o.Runs < 1 || o.Rounds < 1 || o.UpDown < 1 || o.LatRuns < 1 {
		errs = append(errs, fmt.Errorf("-runs %d, -rounds %d, -updown %d, -latency-runs %d: each must be at least 1", o.Runs, o.Rounds, o.UpDown, o.LatRuns))
	}
	if o.LatRate <= 0 || o.LatDuration <= 0 {
		errs = append(errs, fmt.Errorf("-latency-rate %g and -latency-duration %s must be positive", o.LatRate, o.LatDuration))
	}
	if n := o.LatRate * o.LatDuration.Seconds(); n < 1 || n > 10_000_000 {
		errs = append(errs, fmt.Errorf("the latency workload would send %.0f messages: choose -latency-rate and -latency-duration for 1 to 10,000,000", n))
	}
	if o.LatWindow < 0 || (o.LatWindow > 0 && o.LatRate > 0 && o.LatWindow < time.Duration(float64(time.Second)/o.LatRate)) {
		errs = append(errs, fmt.Errorf("-latency-window %s: use 0 (one system after the other) or at least one message interval at -latency-rate %g", o.LatWindow, o.LatRate))
	}
	if o.MQAPort == o.DPSubPort {
		errs = append(errs, fmt.Errorf("-mosquitto-port %d equals -dualpeer-port: both brokers run at once in Cluster A, use another port", o.MQAPort))
	}
	return errors.Join(errs...)
}

// commandLine is how the benchmark was invoked, for BENCHMARKS.md, without the flags that only
// say where results go (-out, -json, -state-dir): they do not change what is measured, and the
// line should be the one a reader reruns.
func commandLine(args []string) string {
	parts := []string{"go", "run", "./bench"}
	for i := 0; i < len(args); i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if strings.HasPrefix(args[i], "-") && (name == "out" || name == "json" || name == "state-dir") {
			if !hasValue {
				i++ // skip the value too
			}
			continue
		}
		parts = append(parts, args[i])
	}
	return strings.Join(parts, " ")
}
