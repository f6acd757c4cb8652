package broker

import (
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// flowHook applies back-pressure to QoS 1 publishers. mochi drops a QoS 1 message for a
// session whose queue holds Limits.MaxQueuedMessages unacknowledged messages — after the
// publisher got its PUBACK, so the message is lost although it was acknowledged. A
// publisher that outruns a connected consumer (Cluster B's dataflow forwarding to A
// over a slower link) reached that limit within seconds once the broker itself got
// faster. So, before a QoS 1 PUBLISH is recorded and acknowledged, the publisher's
// connection goroutine waits while a connected subscriber of the topic has
// Limits.HoldPublishersAt or more messages queued: the publisher stops being read,
// TCP and its receive maximum slow it down, and nothing is dropped.
//
// A subscriber that makes no progress (no acknowledgement for holdStall) stops
// holding anyone until its queue falls below the mark again, so a stuck or hostile
// consumer cannot stall publishers for long, and a burst while the consumer cannot
// drain (B's dataflow while A is unreachable) is absorbed by its queue up to
// MaxQueuedMessages. There, a network consumer's queue follows the drop policy; an
// in-process consumer (the cluster's own dataflow) holds publishers again, for as long
// as it stays connected: the publishers keep their unacknowledged messages instead of
// the broker dropping acknowledged ones. Disconnected sessions never hold publishers
// (nothing would drain them).
//
// QoS 0 publishers are held the same way while a connected subscriber's write queue
// (mochi's per-client outbound queue: Client.OutboundPending, a patch in
// third_party/mochi-mqtt-server) holds
// qos0HoldAt packets: mochi drops QoS 0 messages without a trace when that queue is
// full, where Mosquitto buffers them, so a subscriber slower than its publishers
// (Cluster A's consumers behind the dataflow's link) lost them by the thousand.
type flowHook struct {
	mqtt.HookBase
	server *mqtt.Server
	mark   int           // queue depth at which publishers are held
	full   int           // in-process consumers hold publishers here without a time limit
	stall  time.Duration // no progress for this long: stop holding for that subscriber
	poll   time.Duration
	held   atomic.Int64 // publishes that waited (for tests and metrics)
	// pending is mochi's per-client write queue size (Limits.MaxPendingWrites): QoS 0
	// publishers are held while a subscriber's queue is three quarters full.
	pending  int
	qos0Seen atomic.Uint64 // QoS 0 publishes seen (every qos0CheckEvery-th looks at the queues)

	mu      sync.Mutex
	stalled map[string]bool // client id → gave up holding for it
}

const (
	qos0HoldAt     = 1024
	qos0CheckEvery = 16
	holdStall      = 2 * time.Second
	holdPoll       = 500 * time.Microsecond
)

// newFlowHook holds QoS 1 publishers at mark and, for in-process consumers, at a little
// below maxQueued (the margin covers publishers that passed the check at once).
func newFlowHook(server *mqtt.Server, mark, maxQueued, pendingWrites int) *flowHook {
	full := max(maxQueued-max(maxQueued/20, 1), mark)
	return &flowHook{server: server, mark: mark, full: full, pending: pendingWrites, stall: holdStall, poll: holdPoll, stalled: map[string]bool{}}
}

// unbounded reports whether sub holds publishers without a time limit.
func (h *flowHook) unbounded(sub *mqtt.Client, depth int) bool {
	return sub.Net.Listener == inprocListenerID && depth >= h.full
}

func (h *flowHook) ID() string { return "dualpeer-flow" }

func (h *flowHook) Provides(b byte) bool {
	return b == mqtt.OnPublish
}

func (h *flowHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || h.mark <= 0 {
		return pk, nil
	}
	topic := pk.TopicName
	if pk.FixedHeader.Qos == 0 {
		// Looking up the topic's subscribers costs as much as routing the message (9 %
		// of A's CPU at 40,000 QoS 0 messages/s): look every qos0CheckEvery publishes.
		// The queues can grow by that many between looks, far below mochi's limit.
		if h.pending <= 0 || h.qos0Seen.Add(1)%qos0CheckEvery != 0 {
			return pk, nil
		}
		// Three quarters of mochi's limit, and at most qos0HoldAt: a queue only needs
		// to cover one write to the subscriber; 6,000 queued 1 KB messages cost A
		// ~15 MiB for nothing.
		limit := min(h.pending*3/4, qos0HoldAt)
		h.hold(cl, func() (*mqtt.Client, int) {
			return h.fullest(cl.ID, topic, limit, (*mqtt.Client).OutboundPending, true)
		})
		return pk, nil
	}
	// Fast path: no session can be at the mark while all sessions together are below it.
	if atomic.LoadInt64(&h.server.Info.Inflight) < int64(h.mark) {
		return pk, nil
	}
	h.hold(cl, func() (*mqtt.Client, int) { return h.fullest(cl.ID, topic, h.mark, inflightLen, false) })
	return pk, nil
}

// hold waits while find reports a subscriber whose queue is at its mark, within the
// stall rule: a subscriber that makes no progress for h.stall stops holding anyone
// (unless it is an in-process consumer at h.full, see unbounded).
func (h *flowHook) hold(cl *mqtt.Client, find func() (*mqtt.Client, int)) {
	var deadline time.Time
	last, waited := -1, false
	for {
		sub, depth := find()
		if sub == nil || cl.Closed() {
			return
		}
		now := time.Now()
		if last < 0 || depth < last {
			deadline = now.Add(h.stall) // progress: keep waiting
		}
		last = depth
		if now.After(deadline) && !h.unbounded(sub, depth) {
			h.mu.Lock()
			h.stalled[sub.ID] = true
			h.mu.Unlock()
			h.server.Log.Warn("subscriber makes no progress; no longer holding publishers for it",
				"client", sub.ID, "queued", depth)
			return
		}
		sleep := h.poll
		if now.Sub(deadline.Add(-h.stall)) > 100*time.Millisecond {
			sleep = 10 * time.Millisecond // a long outage: do not spin
		}
		if !waited {
			waited = true
			h.held.Add(1)
			// Acknowledgements and deliveries held for this connection go out now,
			// not after the wait.
			if a := ackConnOf(cl); a != nil {
				_ = a.release()
			}
		}
		time.Sleep(sleep)
	}
}

func inflightLen(c *mqtt.Client) int { return c.State.Inflight.Len() }

// fullest returns a connected subscriber of topic (other than the publisher) whose
// queue — depth(c): its QoS 1 queue, or its write queue for QoS 0 — is at mark, and its
// depth; nil when nobody should hold the publisher. Subscriptions at QoS 0 queue no QoS
// 1 messages, so they count only with qos0.
func (h *flowHook) fullest(publisher, topic string, mark int, depth func(*mqtt.Client) int, qos0 bool) (*mqtt.Client, int) {
	subs := h.server.Topics.Subscribers(topic)
	check := func(id string, sub packets.Subscription) (*mqtt.Client, int) {
		if id == publisher || (sub.Qos == 0 && !qos0) {
			return nil, 0
		}
		c, ok := h.server.Clients.Get(id)
		if !ok || c.Closed() || c.Net.Inline {
			return nil, 0
		}
		n := depth(c)
		h.mu.Lock()
		defer h.mu.Unlock()
		if n < mark {
			delete(h.stalled, id) // recovered: it may hold publishers again
			return nil, 0
		}
		if h.stalled[id] && !h.unbounded(c, n) {
			return nil, 0
		}
		return c, n
	}
	for id, sub := range subs.Subscriptions {
		if c, n := check(id, sub); c != nil {
			return c, n
		}
	}
	// A shared group delivers to one member: hold only when every member is full.
	for _, group := range subs.Shared {
		var full *mqtt.Client
		depth := 0
		for id, sub := range group {
			c, n := check(id, sub)
			if c == nil {
				full = nil
				break
			}
			full, depth = c, n
		}
		if full != nil {
			return full, depth
		}
	}
	return nil, 0
}
