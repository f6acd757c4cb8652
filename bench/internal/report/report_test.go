package report

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/loadgen"
	"github.com/dualpeer/dualpeer/bench/internal/workload"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func res(sys, wl string, tput float64, lost, dup int, cpuA, cpuB time.Duration, peakMiB int64, p99us float64) workload.Result {
	return workload.Result{System: sys, Workload: wl,
		Sub:  loadgen.SubResult{Unique: 1000 - lost, Lost: lost, Duplicates: dup, Throughput: tput, Latency: loadgen.Quantiles{P50: p99us / 4, P90: p99us / 2, P99: p99us, Max: p99us * 3}},
		CPUA: cpuA, CPUB: cpuB, PeakA: peakMiB << 20, PeakB: (peakMiB + 1) << 20}
}

func sampleRound() Round {
	rd := Round{Label: "Round 1", Throughput: []string{"QoS 0, 64 B", "QoS 1, 64 B"}, Latency: []string{"QoS 1, 64 B at 1000 msg/s", "QoS 0, 64 B at 1000 msg/s"},
		Up:       map[string][]time.Duration{Dualpeer: {1500 * time.Millisecond, 1700 * time.Millisecond, 3 * time.Second}, Mosquitto: {200 * time.Millisecond}},
		Down:     map[string][]time.Duration{Dualpeer: {400 * time.Millisecond}, Mosquitto: {50 * time.Millisecond}},
		Problems: []string{"mosquitto QoS 0, 64 B (run 2): subscriber gave up\nafter 30s"},
	}
	ms := time.Millisecond
	rd.Results = []workload.Result{
		res(Dualpeer, "QoS 0, 64 B", 10000, 5, 0, 100*ms, 200*ms, 20, 0),
		res(Dualpeer, "QoS 0, 64 B", 30000, 0, 0, 300*ms, 400*ms, 22, 0),
		res(Dualpeer, "QoS 0, 64 B", 20000, 0, 0, 200*ms, 300*ms, 21, 0),
		res(Mosquitto, "QoS 0, 64 B", 40000, 100, 0, 50*ms, 50*ms, 5, 0),
		res(Dualpeer, "QoS 1, 64 B", 8000, 0, 3, 100*ms, 100*ms, 70, 0),
		res(Mosquitto, "QoS 1, 64 B", 9000, 0, 0, 60*ms, 70*ms, 6, 0),
		res(Dualpeer, "QoS 1, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 20, 2000),
		res(Mosquitto, "QoS 1, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 5, 4000),
		res(Dualpeer, "QoS 0, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 20, 3000),
		res(Mosquitto, "QoS 0, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 5, 1500),
		res(Dualpeer, "QoS 0, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 20, 1000),
		res(Mosquitto, "QoS 0, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 5, 2500),
		res(Dualpeer, "QoS 0, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 20, 2000),
		res(Mosquitto, "QoS 0, 64 B at 1000 msg/s", 1000, 0, 0, 0, 0, 5, 500),
	}
	return rd
}

func TestRows(t *testing.T) {
	rd := sampleRound()
	rows := rd.Rows()
	find := func(metric string) Row {
		for _, r := range rows {
			if r.Metric == metric {
				return r
			}
		}
		t.Fatalf("no row %q", metric)
		return Row{}
	}
	tests := map[string]struct {
		metric string
		dp, mq float64
		met    string
	}{
		"throughput is the median":    {"Throughput QoS 0, 64 B (median of 3)", 20000, 40000, "NO"},
		"lost is the sum":             {"Lost QoS 0, 64 B (sum of 3 runs)", 5, 100, ""},
		"qos 1 lost has a target":     {"Lost QoS 1, 64 B (sum of 1 runs)", 0, 0, "yes"},
		"cpu per message in µs":       {"CPU per message QoS 0, 64 B, B side (median)", 300, 50000.0 / 900, ""}, // per unique message
		"peak rss is the max":         {"Peak RSS QoS 0, 64 B, A side (max)", 22, 5, ""},
		"qos 1 rss target":            {"Peak RSS QoS 1, 64 B, B side (max)", 71, 7, "NO"},
		"p99 lower is met":            {"Latency QoS 1, 64 B at 1000 msg/s p99", 2, 4, "yes"},
		"p99 of several runs: median": {"Latency QoS 0, 64 B at 1000 msg/s p99 (median of 3 runs)", 2, 1.5, ""},
		"p99 spread: lowest run":      {"Latency QoS 0, 64 B at 1000 msg/s p99, lowest of 3 runs", 1, 0.5, ""},
		"p99 spread: highest run":     {"Latency QoS 0, 64 B at 1000 msg/s p99, highest of 3 runs", 3, 2.5, ""},
		"up median against 2 s":       {"Up: nothing → connectivity verified (median of 3)", 1.7, 0.2, "yes"},
		"down":                        {"Down (median of 1)", 0.4, 0.05, "yes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := find(tc.metric)
			if math.Abs(r.DP-tc.dp) > 1e-9 || math.Abs(r.MQ-tc.mq) > 1e-9 || r.Met != tc.met {
				t.Errorf("row %+v: want dualpeer %g, mosquitto %g, met %q", r, tc.dp, tc.mq, tc.met)
			}
		})
	}
}

func TestDocumentGolden(t *testing.T) {
	d := Document{Machine: Machine{CPUs: 2, Model: "Test CPU", Kernel: "6.0.0", MemGiB: "4.0 GiB"},
		Versions: Versions{Go: "go1.26", Mosquitto: "2.0.11", Dualpeer: "abc123"},
		Command:  "go run ./bench -rounds 2", Started: "2025-01-01T00:00:00Z", Method: []string{"one", "two"},
		Rounds: []Round{sampleRound()}}
	var buf bytes.Buffer
	if err := d.Write(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "benchmarks.md.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./bench/internal/report -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("rendered document differs from %s (run with -update if intended):\n%s", golden, buf.Bytes())
	}
}

// TestLatencyRuns: with several latency runs per system, each percentile is the median over
// the runs (one slow run does not decide the ratio) and the rows say so.
func TestLatencyRuns(t *testing.T) {
	const wl = "QoS 1, 64 B at 1000 msg/s"
	rd := Round{Label: "Round 1", Latency: []string{wl}}
	for _, p99 := range []float64{500, 900, 520} {
		rd.Results = append(rd.Results, res(Dualpeer, wl, 1000, 0, 1, 0, 0, 20, p99))
	}
	for _, p99 := range []float64{480, 470, 700} {
		rd.Results = append(rd.Results, res(Mosquitto, wl, 1000, 0, 0, 0, 0, 5, p99))
	}
	want := map[string][2]float64{
		"Latency " + wl + " p99 (median of 3 runs)": {0.520, 0.480},
		"Latency " + wl + " p50 (median of 3 runs)": {0.130, 0.120},
		"Duplicates " + wl + " (sum of 3 runs)":     {3, 0},
	}
	for _, r := range rd.Rows() {
		if w, ok := want[r.Metric]; ok {
			if math.Abs(r.DP-w[0]) > 1e-9 || math.Abs(r.MQ-w[1]) > 1e-9 {
				t.Errorf("%s: dualpeer %g, mosquitto %g; want %g, %g", r.Metric, r.DP, r.MQ, w[0], w[1])
			}
			delete(want, r.Metric)
		}
	}
	for m := range want {
		t.Errorf("no row %q", m)
	}
}
