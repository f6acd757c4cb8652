package procstat

import (
	"os"
	"testing"
	"time"
)

func TestCPUTicks(t *testing.T) {
	tests := map[string]struct {
		stat    string
		want    int64
		wantErr bool
	}{
		"plain": {stat: "1234 (mosquitto) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 1000 10", want: 325},
		"parens and spaces in comm": {
			stat: "99 (a (b) c) R 1 99 99 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 5 1000 10", want: 15},
		"truncated":  {stat: "1 (x) S 1 2 3", wantErr: true},
		"no comm":    {stat: "1 x S", wantErr: true},
		"bad number": {stat: "1 (x) S 1 1 1 0 -1 0 0 0 0 0 u 8 0", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := cpuTicks([]byte(tc.stat))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ticks = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestMemory(t *testing.T) {
	tests := map[string]struct {
		status   string
		hwm, rss int64
		wantErr  bool
	}{
		"normal":   {status: "Name:\tx\nVmPeak:\t 9 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n", hwm: 2 << 20, rss: 1 << 20},
		"kernel":   {status: "Name:\tkthreadd\nState:\tS\n", wantErr: true},
		"odd unit": {status: "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			hwm, rss, err := memory([]byte(tc.status))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if hwm != tc.hwm || rss != tc.rss {
				t.Errorf("hwm, rss = %d, %d; want %d, %d", hwm, rss, tc.hwm, tc.rss)
			}
		})
	}
}

// TestReadSelf checks the parsing against the live kernel: this process has used CPU and memory.
func TestReadSelf(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) { // burn at least a few ticks
	}
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU < TickDuration || s.HWMBytes < s.RSSBytes || s.RSSBytes <= 0 {
		t.Errorf("implausible sample of this test process: %+v", s)
	}
	if os.Geteuid() == 0 {
		if err := ResetPeak(os.Getpid()); err != nil {
			t.Error(err)
		}
	}
	if c, err := Comm(os.Getpid()); err != nil || c == "" {
		t.Errorf("Comm = %q, %v", c, err)
	}
}
