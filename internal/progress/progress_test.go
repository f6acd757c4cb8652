package progress

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source that advances by step on every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

// syncBuffer lets the spinner goroutine and the test share a buffer under -race.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 11, 24, 1, 2, 3, 0, time.UTC), step: 60 * time.Millisecond}
}

func TestPlainLines(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		opts Options
		want string
	}{
		"normal": {
			opts: Options{},
			want: "2026-11-24T01:02:03Z  • Creating network namespaces\n" +
				"2026-11-24T01:02:03Z  ✓ Creating network namespaces (0.12s)\n" +
				"2026-11-24T01:02:03Z  • Starting agents\n" +
				"2026-11-24T01:02:03Z  ✗ Starting agents (0.12s)\n" +
				"2026-11-24T01:02:03Z  ✗ agent b did not start: see .dualpeer/logs/agent-b.log\n",
		},
		"quiet prints only failures": {
			opts: Options{Quiet: true},
			want: "2026-11-24T01:02:03Z  ✗ Starting agents (0.12s)\n" +
				"2026-11-24T01:02:03Z  ✗ agent b did not start: see .dualpeer/logs/agent-b.log\n",
		},
		"verbose adds debug lines": {
			opts: Options{Verbosity: 1},
			want: "2026-11-24T01:02:03Z  • Creating network namespaces\n" +
				"2026-11-24T01:02:03Z  · created dp-x-a-vnet\n" +
				"2026-11-24T01:02:03Z  ✓ Creating network namespaces (0.12s)\n" +
				"2026-11-24T01:02:03Z  • Starting agents\n" +
				"2026-11-24T01:02:03Z  ✗ Starting agents (0.12s)\n" +
				"2026-11-24T01:02:03Z  ✗ agent b did not start: see .dualpeer/logs/agent-b.log\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			c := newClock()
			c.step = 0
			opts := tc.opts
			opts.Now = c.Now
			opts.TTY = TTYAuto // a bytes.Buffer is no terminal: auto must choose plain lines
			p := New(&buf, opts)
			if p.IsTTY() {
				t.Fatal("a bytes.Buffer was detected as a terminal")
			}
			s := p.Start("Creating network namespaces")
			p.Debugf("created %s", "dp-x-a-vnet")
			c.step = 120 * time.Millisecond // the next reading (End) is 0.12s later
			c.Now()
			c.step = 0
			if err := s.End(nil); err != nil {
				t.Fatalf("End(nil) = %v", err)
			}
			s = p.Start("Starting agents")
			c.step = 120 * time.Millisecond
			c.Now()
			c.step = 0
			boom := errors.New("boom")
			if err := s.End(boom); err != boom {
				t.Fatalf("End(err) returned %v, want the same error back", err)
			}
			s.End(nil) // ignored: a step ends once
			p.Errorf("agent b did not start: see %s", ".dualpeer/logs/agent-b.log")
			got := strings.ReplaceAll(buf.String(), "2026-11-24T01:02:04Z", "2026-11-24T01:02:03Z")
			if got != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestTTYSpinner(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	c := newClock()
	p := New(&buf, Options{TTY: TTYOn, Now: c.Now, Interval: time.Millisecond})
	s := p.Start("Generating certificates")
	// Let the spinner draw a few frames (bounded in count and time).
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(buf.String(), clearLine) < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	s.End(nil)
	out := buf.String()
	if n := strings.Count(out, clearLine); n < 4 {
		t.Fatalf("spinner redrew %d times, want ≥ 4; output %q", n, out)
	}
	if !strings.Contains(out, "⠋ Generating certificates (") {
		t.Errorf("no spinner frame in %q", out)
	}
	last := out[strings.LastIndex(out, clearLine):]
	if !strings.HasPrefix(last, clearLine+" ✓ Generating certificates (") || !strings.HasSuffix(last, "s)\n") {
		t.Errorf("final line = %q, want the spinner cleared and a ✓ line", last)
	}
	// After the last step ended the spinner is gone: nothing more is written.
	before := buf.String()
	time.Sleep(20 * time.Millisecond)
	if after := buf.String(); after != before {
		t.Errorf("spinner wrote after the step ended: %q", strings.TrimPrefix(after, before))
	}
}

func TestTTYQuietDrawsNothingButErrors(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	p := New(&buf, Options{TTY: TTYOn, Quiet: true, Interval: time.Millisecond})
	s := p.Start("Creating peering")
	time.Sleep(5 * time.Millisecond)
	s.End(nil)
	p.Debugf("hidden")
	p.Infof("hidden")
	if out := buf.String(); out != "" {
		t.Fatalf("quiet TTY wrote %q", out)
	}
	s = p.Start("Creating peering")
	s.End(errors.New("x"))
	if out := buf.String(); !strings.HasPrefix(out, " ✗ Creating peering (") {
		t.Fatalf("quiet TTY failure line = %q", out)
	}
}

func TestConcurrentSteps(t *testing.T) {
	t.Parallel()
	for _, mode := range []TTYMode{TTYOff, TTYOn} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			p := New(&buf, Options{TTY: mode, Verbosity: 1, Interval: time.Millisecond})
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := p.Start(fmt.Sprintf("step %d", i))
					p.Debugf("working on %d", i)
					time.Sleep(time.Duration(i) * time.Millisecond)
					s.End(nil)
				}()
			}
			wg.Wait()
			out := buf.String()
			for i := range 8 {
				if !strings.Contains(out, fmt.Sprintf("✓ step %d (", i)) {
					t.Errorf("missing the end line of step %d in %q", i, out)
				}
			}
		})
	}
}

func TestFormatElapsed(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second:                          "0.00s",
		120 * time.Millisecond:                "0.12s",
		9990 * time.Millisecond:               "9.99s",
		42 * time.Second:                      "42s",
		3*time.Minute + 1500*time.Millisecond: "3m1s",
	} {
		if got := formatElapsed(d); got != want {
			t.Errorf("formatElapsed(%v) = %q, want %q", d, got, want)
		}
	}
}
