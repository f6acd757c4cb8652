package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// PubConfig is one publisher run.
type PubConfig struct {
	Target Target
	Topic  string
	N      int     // messages to send
	Size   int     // payload bytes, at least HeaderSize
	QoS    byte    // 0 or 1
	Rate   float64 // messages per second; 0 sends as fast as the broker takes them
	RunID  uint64
	// Interleave: with Rate > 0 and Window > 0 the publisher sends only in its own windows:
	// time is cut into windows of Window from Start (zero: now), and this publisher owns
	// every Slots-th one, starting with Slot. Two publishers with Slots 2 and Slots 0 and 1
	// take turns, each at Rate within its windows (see Schedule).
	Window time.Duration
	Slot   int
	Slots  int
	Start  time.Time
}

// Schedule is when message i is due: i/Rate after start, or with windows, the same pace
// within this publisher's windows only.
func (c PubConfig) Schedule(start time.Time, i int) time.Time {
	interval := time.Duration(float64(time.Second) / c.Rate)
	if c.Window <= 0 || c.Slots <= 1 {
		return start.Add(time.Duration(i) * interval)
	}
	perWindow := max(1, int(c.Window/interval))
	w, j := i/perWindow, i%perWindow
	return start.Add(time.Duration(w*c.Slots+c.Slot)*c.Window + time.Duration(j)*interval)
}

// PubResult is what a publisher reports.
type PubResult struct {
	Sent    int     `json:"sent"`
	StartNS int64   `json:"start_ns"`
	EndNS   int64   `json:"end_ns"` // after the last message was written (QoS 0) or acknowledged (QoS 1)
	Rate    float64 `json:"rate"`   // Sent / (End - Start), messages per second
}

// Validate reports every problem of the configuration.
func (c PubConfig) Validate() error {
	var errs []error
	if c.N <= 0 {
		errs = append(errs, fmt.Errorf("message count -n %d must be positive", c.N))
	}
	if c.Size < HeaderSize {
		errs = append(errs, fmt.Errorf("payload size -size %d is below the %d-byte header: use at least %d", c.Size, HeaderSize, HeaderSize))
	}
	if c.QoS > 1 {
		errs = append(errs, fmt.Errorf("-qos %d is not offered: use 0 or 1 (dualpeer's broker, like AIO's, has no QoS 2)", c.QoS))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("-rate %g must be 0 (as fast as possible) or positive", c.Rate))
	}
	if c.Window > 0 && (c.Slots < 1 || c.Slot < 0 || c.Slot >= c.Slots) {
		errs = append(errs, fmt.Errorf("-slot %d of -slots %d: the slot must be from 0 to slots-1", c.Slot, c.Slots))
	}
	if c.Window > 0 && c.Rate > 0 && c.Window < time.Duration(float64(time.Second)/c.Rate) {
		errs = append(errs, fmt.Errorf("-window %s is shorter than one message at -rate %g: use a longer window", c.Window, c.Rate))
	}
	if c.Topic == "" {
		errs = append(errs, errors.New("topic is empty"))
	}
	return errors.Join(errs...)
}

// Publish sends cfg.N messages and returns once the last one was handed to the broker (QoS 0)
// or acknowledged (QoS 1). QoS 1 messages are sent asynchronously within the broker's receive
// maximum, so the publisher is never the bottleneck of a single round trip; the last message is
// sent synchronously, and since a broker acknowledges in order its PUBACK means all are done.
func Publish(ctx context.Context, cfg PubConfig) (PubResult, error) {
	if err := cfg.Validate(); err != nil {
		return PubResult{}, err
	}
	c, err := connect(ctx, cfg.Target, true, 65535, nil)
	if err != nil {
		return PubResult{}, err
	}
	defer func() { _ = c.Disconnect(&paho.Disconnect{ReasonCode: 0}) }()

	var res PubResult
	start := time.Now()
	if !cfg.Start.IsZero() {
		start = cfg.Start
	}
	res.StartNS = start.UnixNano()
	for i := 0; i < cfg.N; i++ {
		if cfg.Rate > 0 {
			// Pace against the schedule, not the previous send, so a late message does not
			// shift every later one (the rate stays what was asked).
			if d := time.Until(cfg.Schedule(start, i)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return res, fmt.Errorf("publisher stopped after %d of %d messages: %w", res.Sent, cfg.N, ctx.Err())
				case <-t.C:
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("publisher stopped after %d of %d messages: %w", res.Sent, cfg.N, err)
		}
		// A fresh buffer per message: paho keeps QoS 1 packets in its session until acknowledged.
		payload := make([]byte, cfg.Size)
		Header{RunID: cfg.RunID, Seq: uint64(i), SentNS: time.Now().UnixNano()}.Encode(payload)
		p := &paho.Publish{Topic: cfg.Topic, QoS: cfg.QoS, Payload: payload}
		opts := paho.PublishOptions{Method: paho.PublishMethod_AsyncSend}
		if cfg.QoS == 0 || i == cfg.N-1 {
			opts.Method = paho.PublishMethod_Blocking
		}
		if _, err := c.PublishWithOptions(ctx, p, opts); err != nil {
			return res, fmt.Errorf("publish message %d of %d to %s on %q: %w", i, cfg.N, cfg.Target.Addr, cfg.Topic, err)
		}
		res.Sent++
	}
	end := time.Now()
	res.EndNS = end.UnixNano()
	if d := end.Sub(start).Seconds(); d > 0 {
		res.Rate = float64(res.Sent) / d
	}
	return res, nil
}
