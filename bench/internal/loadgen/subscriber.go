package loadgen

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// SubConfig is one subscriber run.
type SubConfig struct {
	Target Target
	Topic  string
	N      int // messages the publisher sends
	QoS    byte
	RunID  uint64
	// Idle is how long to wait for more messages once the publisher is done (the bridge may
	// still be delivering its queue) and none arrived for this long.
	Idle time.Duration
}

// SubResult is what a subscriber reports. Times are nanoseconds since the Unix epoch;
// latencies are microseconds.
type SubResult struct {
	Received    int       `json:"received"` // this run's messages, duplicates included
	Unique      int       `json:"unique"`
	Duplicates  int       `json:"duplicates"`
	Lost        int       `json:"lost"`      // N - Unique
	Stale       int       `json:"stale"`     // other runs' messages, ignored
	Malformed   int       `json:"malformed"` // not a benchmark payload, or a sequence number beyond N
	FirstSentNS int64     `json:"first_sent_ns"`
	LastRecvNS  int64     `json:"last_recv_ns"`
	Throughput  float64   `json:"throughput"` // Unique / (LastRecv - FirstSent), messages per second end to end
	Latency     Quantiles `json:"latency_us"`
	TimedOut    bool      `json:"timed_out"`
}

// Subscribe connects, subscribes to cfg.Topic, calls ready once the subscription is granted
// (start the publisher then), and collects messages until all N arrived, or pubDone is closed
// and no message came for cfg.Idle, or ctx ends (the result then has TimedOut set).
func Subscribe(ctx context.Context, cfg SubConfig, ready func(), pubDone <-chan struct{}) (SubResult, error) {
	if cfg.N <= 0 {
		return SubResult{}, fmt.Errorf("message count -n %d must be positive", cfg.N)
	}
	if cfg.Idle <= 0 {
		cfg.Idle = 2 * time.Second
	}
	col := newCollector(cfg.N, cfg.RunID)
	c, err := connect(ctx, cfg.Target, true, 65535, []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			col.add(pr.Packet.Payload, time.Now().UnixNano())
			return true, nil
		},
	})
	if err != nil {
		return SubResult{}, err
	}
	defer func() { _ = c.Disconnect(&paho.Disconnect{ReasonCode: 0}) }()

	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: cfg.Topic, QoS: cfg.QoS}}})
	if err != nil {
		return SubResult{}, fmt.Errorf("subscribe to %q at %s: %w", cfg.Topic, cfg.Target.Addr, err)
	}
	if len(sa.Reasons) != 1 || sa.Reasons[0] > 1 {
		return SubResult{}, fmt.Errorf("subscription to %q at %s refused: reason codes %v", cfg.Topic, cfg.Target.Addr, sa.Reasons)
	}
	if ready != nil {
		ready()
	}

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var doneAt time.Time
	for {
		select {
		case <-ctx.Done():
			r := col.result()
			r.TimedOut = true
			return r, nil
		case <-c.Done():
			r := col.result()
			if r.Unique == cfg.N {
				return r, nil
			}
			return r, errors.New("the broker closed the subscriber's connection before all messages arrived")
		case <-pubDone:
			pubDone = nil
			doneAt = time.Now()
		case <-tick.C:
		}
		if col.complete() {
			return col.result(), nil
		}
		if !doneAt.IsZero() {
			last := col.lastReceived()
			if last.Before(doneAt) {
				last = doneAt
			}
			if time.Since(last) >= cfg.Idle {
				return col.result(), nil
			}
		}
	}
}

// collector records deliveries. paho calls handlers from one goroutine, but result() runs on
// another, hence the mutex.
type collector struct {
	mu     sync.Mutex
	runID  uint64
	n      int
	seen   []bool
	lat    []int64 // nanoseconds, first delivery of each message only
	res    SubResult
	lastNS int64
}

func newCollector(n int, runID uint64) *collector {
	return &collector{n: n, runID: runID, seen: make([]bool, n), lat: make([]int64, 0, n)}
}

func (c *collector) add(payload []byte, recvNS int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, err := DecodeHeader(payload)
	if err != nil {
		c.res.Malformed++
		return
	}
	if h.RunID != c.runID {
		c.res.Stale++
		return
	}
	if h.Seq >= uint64(c.n) {
		c.res.Malformed++
		return
	}
	c.res.Received++
	c.lastNS = recvNS
	if c.seen[h.Seq] {
		c.res.Duplicates++
		return
	}
	c.seen[h.Seq] = true
	c.res.Unique++
	if c.res.FirstSentNS == 0 || h.SentNS < c.res.FirstSentNS {
		c.res.FirstSentNS = h.SentNS
	}
	c.lat = append(c.lat, recvNS-h.SentNS)
}

func (c *collector) complete() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.res.Unique == c.n
}

func (c *collector) lastReceived() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastNS == 0 {
		return time.Time{}
	}
	return time.Unix(0, c.lastNS)
}

func (c *collector) result() SubResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.Lost = c.n - r.Unique
	r.LastRecvNS = c.lastNS
	if d := time.Duration(r.LastRecvNS - r.FirstSentNS).Seconds(); r.Unique > 0 && d > 0 {
		r.Throughput = float64(r.Unique) / d
	}
	r.Latency = QuantilesOf(c.lat)
	return r
}
