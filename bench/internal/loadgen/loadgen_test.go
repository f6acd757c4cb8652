package loadgen

import (
	"testing"
	"time"
)

func TestHeaderRoundTrip(t *testing.T) {
	tests := map[string]Header{
		"zero":     {},
		"typical":  {RunID: 0xfeedface, Seq: 99999, SentNS: 1_700_000_000_123_456_789},
		"extremes": {RunID: ^uint64(0), Seq: ^uint64(0), SentNS: -1},
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			buf := make([]byte, 64)
			h.Encode(buf)
			got, err := DecodeHeader(buf)
			if err != nil {
				t.Fatal(err)
			}
			if got != h {
				t.Errorf("decoded %+v, want %+v", got, h)
			}
		})
	}
	if _, err := DecodeHeader(make([]byte, HeaderSize-1)); err == nil {
		t.Error("a payload shorter than the header decoded without error")
	}
}

func TestQuantiles(t *testing.T) {
	ns := func(us ...int64) []int64 {
		out := make([]int64, len(us))
		for i, v := range us {
			out[i] = v * 1000
		}
		return out
	}
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(100-i) * 1000 // 100 .. 1 µs, unsorted on purpose
	}
	tests := map[string]struct {
		in   []int64
		want Quantiles
	}{
		"empty":   {nil, Quantiles{}},
		"one":     {ns(7), Quantiles{Count: 1, P50: 7, P90: 7, P99: 7, Max: 7, Mean: 7}},
		"two":     {ns(10, 20), Quantiles{Count: 2, P50: 10, P90: 20, P99: 20, Max: 20, Mean: 15}},
		"hundred": {hundred, Quantiles{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := QuantilesOf(tc.in); got != tc.want {
				t.Errorf("QuantilesOf = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestCollector(t *testing.T) {
	const run = 42
	c := newCollector(4, run)
	msg := func(runID, seq uint64, sent int64) []byte {
		b := make([]byte, HeaderSize)
		Header{RunID: runID, Seq: seq, SentNS: sent}.Encode(b)
		return b
	}
	c.add(msg(run, 0, 1000), 3000)
	c.add(msg(run, 1, 2000), 4000)
	c.add(msg(run, 1, 2000), 5000) // duplicate
	c.add(msg(7, 2, 2000), 5000)   // another run's
	c.add(msg(run, 9, 2000), 5000) // beyond N
	c.add([]byte("short"), 5000)
	r := c.result()
	want := SubResult{Received: 3, Unique: 2, Duplicates: 1, Lost: 2, Stale: 1, Malformed: 2, FirstSentNS: 1000, LastRecvNS: 5000}
	r.Throughput, r.Latency = 0, Quantiles{}
	if r != want {
		t.Errorf("result = %+v, want %+v", r, want)
	}
	if c.complete() {
		t.Error("complete with 2 of 4 messages")
	}
}

func TestSchedule(t *testing.T) {
	start := time.Unix(1000, 0)
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		cfg  PubConfig
		i    int
		want time.Duration
	}{
		{"no window", PubConfig{Rate: 1000}, 1500, 1500 * ms},
		{"slot 0, first window", PubConfig{Rate: 1000, Window: time.Second, Slots: 2}, 999, 999 * ms},
		{"slot 0 skips slot 1's window", PubConfig{Rate: 1000, Window: time.Second, Slots: 2}, 1000, 2000 * ms},
		{"slot 1 starts one window later", PubConfig{Rate: 1000, Window: time.Second, Slot: 1, Slots: 2}, 0, 1000 * ms},
		{"slot 1, second window", PubConfig{Rate: 1000, Window: time.Second, Slot: 1, Slots: 2}, 1001, 3001 * ms},
		{"one slot is no window", PubConfig{Rate: 1000, Window: time.Second, Slots: 1}, 1000, 1000 * ms},
		{"window shorter than the rate's pace sends one per window", PubConfig{Rate: 1, Window: 500 * ms, Slots: 2}, 1, 1000 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.cfg.Schedule(start, tc.i).Sub(start); got != tc.want {
				t.Errorf("Schedule(%d) = start + %s, want start + %s", tc.i, got, tc.want)
			}
		})
	}
}

func TestValidateWindow(t *testing.T) {
	base := PubConfig{N: 1, Size: HeaderSize, Topic: "t", Rate: 1000}
	for _, tc := range []struct {
		name    string
		window  time.Duration
		slot    int
		slots   int
		wantErr bool
	}{
		{"none", 0, 0, 0, false},
		{"two slots", time.Second, 1, 2, false},
		{"slot out of range", time.Second, 2, 2, true},
		{"no slots", time.Second, 0, 0, true},
		{"window below one message", 100 * time.Microsecond, 0, 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			c.Window, c.Slot, c.Slots = tc.window, tc.slot, tc.slots
			if err := c.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate() = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}
