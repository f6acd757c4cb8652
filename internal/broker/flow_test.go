package broker

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// manualSub is an in-process subscriber that acknowledges only when told to.
type manualSub struct {
	c *paho.Client

	mu      sync.Mutex
	acking  bool
	backlog []*paho.Publish
	seen    map[string]bool
}

func newManualSub(t *testing.T, b *Broker, id, topic string, network bool) *manualSub {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var conn net.Conn
	var err error
	if network {
		conn, err = net.DialTimeout("tcp", b.Addr("p"), 5*time.Second)
	} else {
		conn, err = b.DialInProcess(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &manualSub{seen: map[string]bool{}}
	s.c = paho.NewClient(paho.ClientConfig{Conn: conn, EnableManualAcknowledgment: true,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.seen[string(pr.Packet.Payload)] = true
			if s.acking {
				_ = s.c.Ack(pr.Packet)
			} else {
				s.backlog = append(s.backlog, pr.Packet)
			}
			return true, nil
		}}})
	if _, err := s.c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.c.Disconnect(&paho.Disconnect{}) })
	return s
}

func (s *manualSub) startAcking() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acking = true
	for _, p := range s.backlog {
		_ = s.c.Ack(p)
	}
	s.backlog = nil
}

func (s *manualSub) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// publishAll publishes n QoS 1 messages in order and reports when all were acknowledged.
func publishAll(t *testing.T, b *Broker, id, topic string, n int) <-chan error {
	t.Helper()
	pub := inprocClient(t, b, id, true, nil)
	t.Cleanup(func() { _ = pub.Disconnect(&paho.Disconnect{}) })
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for i := range n {
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
				done <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	return done
}

func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBackPressure: a publisher that outruns a connected consumer is held at
// HoldPublishersAt instead of the consumer's queue overflowing (which drops
// acknowledged messages). A consumer that acknowledges nothing holds it only for the
// stall time; then its queue absorbs the burst, and at MaxQueuedMessages a network
// consumer's queue drops while an in-process one (a dataflow whose destination is
// unreachable) holds the publisher again, as long as it is connected.
func TestBackPressure(t *testing.T) {
	const n = 60
	lim := Limits{MaxQueuedMessages: 20, HoldPublishersAt: 10}
	const stall = 300 * time.Millisecond
	cases := []struct {
		name      string
		network   bool
		ackAfter  time.Duration // the consumer starts acknowledging this long after the publisher is held; 0: never
		heldAt    int           // messages the consumer has while the publisher is held
		wantDrops int64
	}{
		{name: "slow in-process consumer: held, nothing dropped", ackAfter: 50 * time.Millisecond, heldAt: 10},
		{name: "slow network consumer: held, nothing dropped", network: true, ackAfter: 50 * time.Millisecond, heldAt: 10},
		{name: "in-process consumer stuck beyond the stall time: held again when full, nothing dropped", ackAfter: 3 * stall, heldAt: 19},
		{name: "stuck network consumer: released after the stall, queue overflows", network: true, wantDrops: n - 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, Config{DataDir: t.TempDir(), Limits: lim, Listeners: []Listener{{Name: "p", Addr: "127.0.0.1:0"}}}, nil)
			b.flow.stall = stall
			sub := newManualSub(t, b, "consumer", "bp", tc.network)
			done := publishAll(t, b, "producer", "bp", n)
			waitFor(t, "publisher held", 10*time.Second, func() bool { return b.flow.held.Load() > 0 })
			if tc.ackAfter > 0 {
				time.Sleep(tc.ackAfter)
				// While held the consumer has exactly the mark queued; nothing more.
				if got := sub.count(); got != tc.heldAt {
					t.Errorf("consumer received %d messages while the publisher was held, want %d", got, tc.heldAt)
				}
				select {
				case <-done:
					t.Fatal("the publisher finished while the consumer acknowledged nothing")
				default:
				}
				sub.startAcking()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("publisher still blocked after 15 s")
			}
			if tc.ackAfter > 0 {
				waitFor(t, "every message delivered", 10*time.Second, func() bool { return sub.count() == n })
			}
			// mochi routes a message after its PUBACK: the last one may still be on its way.
			time.Sleep(100 * time.Millisecond)
			if got := b.Stats().QueueFullDrops; got != tc.wantDrops {
				t.Errorf("queue-full drops %d, want %d", got, tc.wantDrops)
			}
		})
	}
}

// TestQoS0SlowSubscriberHoldsPublisher: a QoS 0 burst to a subscriber that reads more
// slowly than the publisher sends is held back at the publisher instead of dropped at
// the subscriber's full write queue (mochi drops silently there). The subscriber is a raw
// TCP connection that reads 4 KiB per millisecond, so its pace does not depend on the
// test machine. The control run without the hold shows the test can fail.
func TestQoS0SlowSubscriberHoldsPublisher(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hold  bool
		drops bool
	}{{"held", true, false}, {"control without hold", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t, Config{Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}},
				Limits: Limits{MaxPendingWrites: 64}}, nil)
			if !tc.hold {
				b.flow.pending = 0
			}
			got := slowRawSubscriber(t, b.Addr("plain"), "burst", 4096, time.Millisecond)
			pub := inprocClient(t, b, "fast-pub", true, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const n = 5000 // 5 MB: ~1.3 s at the subscriber's pace, far longer than the burst
			for i := 0; i < n; i++ {
				if _, err := pub.Publish(ctx, &paho.Publish{Topic: "burst", QoS: 0, Payload: make([]byte, 1024)}); err != nil {
					t.Fatal(err)
				}
			}
			wait := 20 * time.Second
			if tc.drops {
				wait = 3 * time.Second
			}
			deadline := time.Now().Add(wait)
			for got.Load() < n && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			dropped := atomic.LoadInt64(&b.server.Info.MessagesDropped)
			t.Logf("received %d of %d, dropped %d, publishes held %d", got.Load(), n, dropped, b.flow.held.Load())
			if !tc.drops && (dropped != 0 || got.Load() != n) {
				t.Fatalf("received %d of %d with %d dropped: the slow subscriber lost QoS 0 messages", got.Load(), n, dropped)
			}
			if tc.drops && dropped == 0 {
				t.Fatalf("control: nothing dropped without the hold; the test would not catch a regression")
			}
		})
	}
}

// slowRawSubscriber subscribes to topic at QoS 0 over a plain MQTT 3.1.1 connection and
// then reads at most chunk bytes per interval, counting the PUBLISH packets it gets.
func slowRawSubscriber(t *testing.T, addr, topic string, chunk int, interval time.Duration) *atomic.Int64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// A fixed receive buffer (no autotuning, which would swallow the whole burst), large
	// enough to stay clear of TCP's zero-window probing.
	_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
	connect := append(mqttString("MQTT"), 4, 0x02, 0, 60)
	subscribe := append(append([]byte{0, 1}, mqttString(topic)...), 0)
	if _, err := c.Write(append(mqttPacket(0x10, append(connect, mqttString("slow-sub")...)), mqttPacket(0x82, subscribe)...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	acks := make([]byte, 4+5) // CONNACK, SUBACK
	if _, err := io.ReadFull(c, acks); err != nil || acks[0] != 0x20 || acks[4] != 0x90 {
		t.Fatalf("CONNACK+SUBACK %x, %v", acks, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	var n atomic.Int64
	go func() {
		r := bufio.NewReader(&pacedReader{r: c, chunk: chunk, interval: interval})
		for {
			first, err := r.ReadByte()
			if err != nil {
				return
			}
			size, mult := 0, 1
			for {
				d, err := r.ReadByte()
				if err != nil {
					return
				}
				size += int(d&0x7f) * mult
				mult *= 128
				if d&0x80 == 0 {
					break
				}
			}
			if _, err := r.Discard(size); err != nil {
				return
			}
			if first>>4 == 3 {
				n.Add(1)
			}
		}
	}()
	return &n
}

// pacedReader reads at most chunk bytes per interval.
type pacedReader struct {
	r        io.Reader
	chunk    int
	interval time.Duration
}

func (p *pacedReader) Read(b []byte) (int, error) {
	time.Sleep(p.interval)
	return p.r.Read(b[:min(len(b), p.chunk)])
}

// TestSubscriberThatStopsReading: a subscriber whose TCP connection stops reading must
// not stall the publisher or the other subscribers of the topic. Deliveries are written
// on the publisher's goroutine while a subscriber keeps up (WriteInline, ackconn.go);
// if such a write could block on the stuck subscriber's full socket, the publisher would
// hang here instead of being held only for the stall time.
func TestSubscriberThatStopsReading(t *testing.T) {
	b := startBroker(t, Config{Listeners: []Listener{{Name: "p", Addr: "127.0.0.1:0"}}, Limits: Limits{MaxPendingWrites: 64}}, nil)
	b.flow.stall = 300 * time.Millisecond

	stuck, err := net.DialTimeout("tcp", b.Addr("p"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	_ = stuck.(*net.TCPConn).SetReadBuffer(4096)
	_ = stuck.SetDeadline(time.Now().Add(10 * time.Second))
	connect := append(mqttString("MQTT"), 4, 0x02, 0, 60)
	subscribe := append(append([]byte{0, 1}, mqttString("t")...), 0)
	if _, err := stuck.Write(append(mqttPacket(0x10, append(connect, mqttString("stuck")...)), mqttPacket(0x82, subscribe)...)); err != nil {
		t.Fatal(err)
	}
	acks := make([]byte, 4+5) // CONNACK, SUBACK
	if _, err := io.ReadFull(stuck, acks); err != nil || acks[0] != 0x20 || acks[4] != 0x90 {
		t.Fatalf("CONNACK+SUBACK %x, %v", acks, err)
	}
	// From here on the stuck subscriber reads nothing.

	var good atomic.Int64
	sub := inprocClient(t, b, "good-sub", true, func(paho.PublishReceived) (bool, error) { good.Add(1); return true, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t", QoS: 0}}}); err != nil {
		t.Fatal(err)
	}
	pub := inprocClient(t, b, "pub", true, nil)
	const n = 2000 // 8 MB: far more than the stuck subscriber's socket and queues hold
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := pub.Publish(ctx, &paho.Publish{Topic: "t", QoS: 0, Payload: make([]byte, 4096)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("publisher stalled by the subscriber that stopped reading (good subscriber has %d of %d)", good.Load(), n)
	}
	waitFor(t, "the good subscriber to get every message", 20*time.Second, func() bool { return good.Load() == n })
}
