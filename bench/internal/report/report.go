package report

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/workload"
)

// Systems in column order.
const (
	Dualpeer  = "dualpeer"
	Mosquitto = "mosquitto"
)

// Round is one complete benchmark: every workload on both systems, plus up/down timings.
type Round struct {
	Label      string                     `json:"label"`
	Throughput []string                   `json:"throughput_workloads"` // workload names in order
	Latency    []string                   `json:"latency_workloads"`
	Results    []workload.Result          `json:"results"`
	Up         map[string][]time.Duration `json:"up_ns"`
	Down       map[string][]time.Duration `json:"down_ns"`
	Problems   []string                   `json:"problems,omitempty"` // failed runs and other things a reader must know
}

// Better says which direction wins.
type Better string

const (
	Higher Better = "higher"
	Lower  Better = "lower"
)

// Row is one metric.
type Row struct {
	Metric    string
	Unit      string
	DP, MQ    float64 // NaN: not measured
	Better    Better
	Target    string // empty: no target in the issue
	Met       string // "yes", "NO", or "" when there is no target
	Precision int
}

// Ratio is dualpeer / Mosquitto; NaN when undefined.
func (r Row) Ratio() float64 {
	if math.IsNaN(r.DP) || math.IsNaN(r.MQ) || r.MQ == 0 {
		return math.NaN()
	}
	return r.DP / r.MQ
}

func (rd *Round) runs(wl, sys string) []workload.Result {
	var out []workload.Result
	for _, r := range rd.Results {
		if r.Workload == wl && r.System == sys {
			out = append(out, r)
		}
	}
	return out
}

// Rows computes the table.
func (rd *Round) Rows() []Row {
	var rows []Row
	both := func(wl string, f func([]workload.Result) float64) (float64, float64) {
		return f(rd.runs(wl, Dualpeer)), f(rd.runs(wl, Mosquitto))
	}
	for _, wl := range rd.Throughput {
		qos1 := strings.Contains(wl, "QoS 1")
		n := len(rd.runs(wl, Dualpeer))
		dp, mq := both(wl, medianOf(func(r workload.Result) float64 { return r.Sub.Throughput }))
		rows = append(rows, ratioTarget(Row{Metric: fmt.Sprintf("Throughput %s (median of %d)", wl, n), Unit: "msg/s", DP: dp, MQ: mq, Better: Higher, Precision: 0}, 1.0))
		dp, mq = both(wl, sumOf(func(r workload.Result) float64 { return float64(r.Sub.Lost) }))
		row := Row{Metric: fmt.Sprintf("Lost %s (sum of %d runs)", wl, n), Unit: "msgs", DP: dp, MQ: mq, Better: Lower}
		if qos1 {
			row = absTarget(row, "0", dp == 0)
		}
		rows = append(rows, row)
		dp, mq = both(wl, sumOf(func(r workload.Result) float64 { return float64(r.Sub.Duplicates) }))
		rows = append(rows, Row{Metric: fmt.Sprintf("Duplicates %s (sum)", wl), Unit: "msgs", DP: dp, MQ: mq, Better: Lower})
		for _, side := range []string{"A", "B"} {
			dp, mq = both(wl, medianOf(func(r workload.Result) float64 { return cpuPerMsg(r, side) }))
			rows = append(rows, Row{Metric: fmt.Sprintf("CPU per message %s, %s side (median)", wl, side), Unit: "µs", DP: dp, MQ: mq, Better: Lower, Precision: 1})
		}
		for _, side := range []string{"A", "B"} {
			dp, mq = both(wl, maxOf(func(r workload.Result) float64 { return peak(r, side) }))
			row := Row{Metric: fmt.Sprintf("Peak RSS %s, %s side (max)", wl, side), Unit: "MiB", DP: dp, MQ: mq, Better: Lower, Precision: 1}
			if qos1 {
				row = absTarget(row, "≤ 64 MiB", dp <= 64)
			}
			rows = append(rows, row)
		}
	}
	for _, wl := range rd.Latency {
		qos1 := strings.Contains(wl, "QoS 1")
		n := len(rd.runs(wl, Dualpeer))
		of, sumOfRuns := "", ""
		if n > 1 {
			of, sumOfRuns = fmt.Sprintf(" (median of %d runs)", n), fmt.Sprintf(" (sum of %d runs)", n)
		}
		get := func(f func(workload.Result) float64) (float64, float64) { return both(wl, medianOf(f)) }
		for _, q := range []struct {
			name string
			f    func(workload.Result) float64
		}{
			{"p50", func(r workload.Result) float64 { return r.Sub.Latency.P50 / 1e3 }},
			{"p90", func(r workload.Result) float64 { return r.Sub.Latency.P90 / 1e3 }},
			{"p99", func(r workload.Result) float64 { return r.Sub.Latency.P99 / 1e3 }},
			{"max", func(r workload.Result) float64 { return r.Sub.Latency.Max / 1e3 }},
		} {
			dp, mq := get(q.f)
			row := Row{Metric: fmt.Sprintf("Latency %s %s%s", wl, q.name, of), Unit: "ms", DP: dp, MQ: mq, Better: Lower, Precision: 3}
			if qos1 && q.name == "p99" {
				row = ratioTargetLower(row)
			}
			rows = append(rows, row)
			if q.name == "p99" && n > 1 {
				// The spread of the runs, so that a reader can tell a ratio from the noise.
				dp, mq = both(wl, minOf(q.f))
				rows = append(rows, Row{Metric: fmt.Sprintf("Latency %s p99, lowest of %d runs", wl, n), Unit: "ms", DP: dp, MQ: mq, Better: Lower, Precision: 3})
				dp, mq = both(wl, maxOf(q.f))
				rows = append(rows, Row{Metric: fmt.Sprintf("Latency %s p99, highest of %d runs", wl, n), Unit: "ms", DP: dp, MQ: mq, Better: Lower, Precision: 3})
			}
		}
		dp, mq := both(wl, sumOf(func(r workload.Result) float64 { return float64(r.Sub.Lost) }))
		row := Row{Metric: fmt.Sprintf("Lost %s%s", wl, sumOfRuns), Unit: "msgs", DP: dp, MQ: mq, Better: Lower}
		if qos1 {
			row = absTarget(row, "0", dp == 0)
		}
		rows = append(rows, row)
		dp, mq = both(wl, sumOf(func(r workload.Result) float64 { return float64(r.Sub.Duplicates) }))
		rows = append(rows, Row{Metric: fmt.Sprintf("Duplicates %s%s", wl, sumOfRuns), Unit: "msgs", DP: dp, MQ: mq, Better: Lower})
	}
	dp, mq := medianDur(rd.Up[Dualpeer]), medianDur(rd.Up[Mosquitto])
	rows = append(rows, absTarget(Row{Metric: fmt.Sprintf("Up: nothing → connectivity verified (median of %d)", len(rd.Up[Dualpeer])), Unit: "s", DP: dp, MQ: mq, Better: Lower, Precision: 2}, "≤ 2 s", dp <= 2))
	dp, mq = medianDur(rd.Down[Dualpeer]), medianDur(rd.Down[Mosquitto])
	rows = append(rows, absTarget(Row{Metric: fmt.Sprintf("Down (median of %d)", len(rd.Down[Dualpeer])), Unit: "s", DP: dp, MQ: mq, Better: Lower, Precision: 2}, "≤ 1 s", dp <= 1))
	return rows
}

func ratioTarget(r Row, min float64) Row {
	r.Target = fmt.Sprintf("≥ %.1f×", min)
	r.Met = verdict(!math.IsNaN(r.Ratio()) && r.Ratio() >= min)
	return r
}

func ratioTargetLower(r Row) Row {
	r.Target = "≤ 1.0×"
	r.Met = verdict(!math.IsNaN(r.Ratio()) && r.Ratio() <= 1)
	return r
}

func absTarget(r Row, target string, ok bool) Row {
	r.Target = target
	r.Met = verdict(!math.IsNaN(r.DP) && ok)
	return r
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func cpuPerMsg(r workload.Result, side string) float64 {
	if r.Sub.Unique == 0 {
		return math.NaN()
	}
	cpu := r.CPUA
	if side == "B" {
		cpu = r.CPUB
	}
	return float64(cpu.Microseconds()) / float64(r.Sub.Unique)
}

func peak(r workload.Result, side string) float64 {
	b := r.PeakA
	if side == "B" {
		b = r.PeakB
	}
	return float64(b) / (1 << 20)
}

func medianOf(f func(workload.Result) float64) func([]workload.Result) float64 {
	return func(rs []workload.Result) float64 {
		var v []float64
		for _, r := range rs {
			if x := f(r); !math.IsNaN(x) {
				v = append(v, x)
			}
		}
		return median(v)
	}
}

func sumOf(f func(workload.Result) float64) func([]workload.Result) float64 {
	return func(rs []workload.Result) float64 {
		if len(rs) == 0 {
			return math.NaN()
		}
		s := 0.0
		for _, r := range rs {
			s += f(r)
		}
		return s
	}
}

func maxOf(f func(workload.Result) float64) func([]workload.Result) float64 {
	return extremeOf(f, func(a, b float64) float64 { return max(a, b) })
}

func minOf(f func(workload.Result) float64) func([]workload.Result) float64 {
	return extremeOf(f, func(a, b float64) float64 { return min(a, b) })
}

// extremeOf folds f over the runs with pick (min or max); NaN without runs.
func extremeOf(f func(workload.Result) float64, pick func(a, b float64) float64) func([]workload.Result) float64 {
	return func(rs []workload.Result) float64 {
		if len(rs) == 0 {
			return math.NaN()
		}
		m := f(rs[0])
		for _, r := range rs[1:] {
			m = pick(m, f(r))
		}
		return m
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(d []time.Duration) float64 {
	v := make([]float64, len(d))
	for i, x := range d {
		v[i] = x.Seconds()
	}
	return median(v)
}

// WriteTable writes the round's table as Markdown.
func (rd *Round) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "| metric | unit | dualpeer | mosquitto | ratio dualpeer/mosquitto | better | target (issue 9) | met |\n")
	fmt.Fprintf(&b, "|---|---|--:|--:|--:|---|---|---|\n")
	for _, r := range rd.Rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Metric, r.Unit, num(r.DP, r.Precision), num(r.MQ, r.Precision),
			ratio(r.Ratio()), r.Better, dash(r.Target), dash(r.Met))
	}
	if len(rd.Problems) > 0 {
		fmt.Fprintf(&b, "\nProblems during this round:\n\n")
		for _, p := range rd.Problems {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(p, "\n", " "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func num(v float64, prec int) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", v)
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
