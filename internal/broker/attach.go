package broker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// An attached consumer is the cluster's own dataflow reading the local broker without
// MQTT in between. Before, the dataflow was an MQTT client of its own broker over a
// socketpair: every message was queued in its session, encoded by mochi, handed to
// mochi's write goroutine, written, read and decoded by paho on two more goroutines,
// and its PUBACK travelled back the same way — five goroutine wake-ups and four
// syscalls per message on B before the message was even on its way to A, and QoS 0
// messages were dropped whenever the session's write queue (MaxPendingWrites) was full.
//
// An attachment is a durable, named consumer instead: the broker matches each PUBLISH
// against its filters in an OnPublish hook, on the publisher's goroutine and before the
// publisher's PUBACK, stores QoS 1 copies in the state log (one record until the
// consumer calls Done) and calls the consumer's handler there and then. A handler that
// blocks holds that publisher — back-pressure instead of drops, for QoS 0 too, while
// other publishers and subscribers carry on.
//
// Durability is the session's: the record is queued in the log before the PUBACK is
// written and reaches the kernel before the PUBACK leaves (the ackConn rule, see
// storeHook.OnPublish). The declaration (name, filters, QoS) is in the log as well, so
// after a restart the broker captures messages for the consumer from its first
// connection on, before the consumer attaches again; Attach then hands over every
// record not yet Done, oldest first.
type attachHook struct {
	mqtt.HookBase
	db          *kvLog
	maxDetached int64 // records a detached consumer keeps; newer QoS 1 messages are dropped

	mu        sync.RWMutex
	idx       *mqtt.TopicsIndex // filter → consumer name (as the "client" of the subscription)
	consumers map[string]*consumer
	dropped   atomic.Int64
}

type consumer struct {
	name    string
	filters []string
	qos     byte
	next    atomic.Uint64 // the next record's sequence number
	stored  atomic.Int64  // records not yet Done

	mu sync.Mutex // orders "store, then look at h" against Attach's "load, then set h"
	h  Handler
}

// Delivery is one message for an attached consumer. Payload and the property slices
// belong to the consumer.
type Delivery struct {
	// Seq > 0: the message is stored until Done(name, Seq) (QoS 1). 0: QoS 0, not stored.
	Seq     uint64
	Topic   string
	Payload []byte
	QoS     byte // min(published QoS, the consumer's QoS)
	Retain  bool
	Props   DeliveryProps
}

// DeliveryProps are the MQTT 5 PUBLISH properties a bridge forwards.
type DeliveryProps struct {
	PayloadFormat   *byte
	MessageExpiry   *uint32
	ContentType     string
	ResponseTopic   string
	CorrelationData []byte
	User            [][2]string
}

// Handler receives deliveries on the publisher's goroutine (several publishers: several
// goroutines at once). It may block to hold the publisher; before it does, it calls
// p.Hold, which lets the acknowledgements already owed to that publisher go out.
type Handler func(d Delivery, p Publisher)

// Publisher is the connection a delivery came from, as a handler may use it.
type Publisher struct {
	conn *ackConn // nil: no batching (the broker's own publishes)
	lone bool     // the message came alone in its read: nothing to batch it with
}

// Hold writes the acknowledgements already owed to the publisher (call it before
// blocking).
func (p Publisher) Hold() {
	if p.conn != nil {
		_ = p.conn.release()
	}
}

// AfterBatch runs fn once (per key) when the publisher's goroutine is done with the
// packets it read together, before it reads again — or now, when there is no such
// batch or the message came alone. A consumer that forwards messages defers its write
// with it: under load one write carries a whole batch, and a single message leaves
// before the broker's own bookkeeping for it (acknowledgement, routing).
func (p Publisher) AfterBatch(key any, fn func()) {
	if p.conn == nil || p.lone || !p.conn.afterBatch(key, fn) {
		fn()
	}
}

const (
	attachDeclPrefix = "ATD/" // ATD/<name> → qos byte, then filters separated by '\n'
	attachRecPrefix  = "ATQ/" // ATQ/<name>/<seq as 16 hex digits> → the message (msgcodec)
)

func attachRecKey(name string, seq uint64) string {
	// Fixed width, so key order is sequence order (kvLog lists keys sorted). Built by
	// hand: this runs twice per QoS 1 message and fmt was visible in its profile.
	const hexDigits = "0123456789abcdef"
	b := make([]byte, 0, len(attachRecPrefix)+len(name)+17)
	b = append(append(append(b, attachRecPrefix...), name...), '/')
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(seq>>uint(shift))&0xf])
	}
	return string(b)
}

// attachRecSeq is attachRecKey's sequence number.
func attachRecSeq(key string) (uint64, error) {
	return strconv.ParseUint(key[strings.LastIndexByte(key, '/')+1:], 16, 64)
}

// newAttachHook restores the declared consumers from the log (detached).
func newAttachHook(db *kvLog, maxDetached int) (*attachHook, error) {
	h := &attachHook{db: db, maxDetached: int64(maxDetached), idx: mqtt.NewTopicsIndex(), consumers: map[string]*consumer{}}
	for _, key := range db.keysWithPrefix(attachDeclPrefix) {
		name := strings.TrimPrefix(key, attachDeclPrefix)
		v := db.Get(key)
		if len(v) < 1 {
			continue
		}
		c := &consumer{name: name, qos: v[0], filters: strings.Split(string(v[1:]), "\n")}
		var last uint64
		for _, rk := range db.keysWithPrefix(attachRecPrefix + name + "/") {
			seq, err := attachRecSeq(rk)
			if err != nil {
				return nil, fmt.Errorf("broker state: attached consumer record %q: %w", rk, err)
			}
			last = max(last, seq)
			c.stored.Add(1)
		}
		c.next.Store(last + 1)
		h.consumers[name] = c
		h.subscribeLocked(c)
	}
	return h, nil
}

func (h *attachHook) ID() string { return "dualpeer-attach" }

func (h *attachHook) Provides(b byte) bool { return b == mqtt.OnPublish }

func (h *attachHook) subscribeLocked(c *consumer) {
	for _, f := range c.filters {
		h.idx.Subscribe(c.name, packets.Subscription{Filter: f, Qos: c.qos})
	}
}

func (h *attachHook) unsubscribeLocked(c *consumer) {
	for _, f := range c.filters {
		h.idx.Unsubscribe(f, c.name)
	}
}

// OnPublish hands the message to every matching consumer. It never rejects: a message
// that cannot be stored for a consumer is dropped for that consumer (and counted), as a
// full session queue drops it.
func (h *attachHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.RLock()
	if len(h.consumers) == 0 {
		h.mu.RUnlock()
		return pk, nil
	}
	// The index remembers each topic's subscribers until a subscription changes (patch 7
	// in third_party/mochi-mqtt-server); up to four consumers are collected without an
	// allocation.
	var buf [4]*consumer
	matched := buf[:0]
	for name := range h.idx.Subscribers(pk.TopicName).Subscriptions {
		if c := h.consumers[name]; c != nil {
			matched = append(matched, c)
		}
	}
	h.mu.RUnlock()
	stored := false
	for _, c := range matched {
		if h.deliver(c, cl, &pk) {
			stored = true
		}
	}
	if stored && !cl.Net.Inline {
		// The records must reach the kernel before the PUBACK leaves: held PUBACKs wait
		// for the log flush (ackconn.go); otherwise flush now.
		if a := ackConnOf(cl); a == nil || !a.deferFlush() {
			_ = h.db.Flush()
		}
	}
	return pk, nil
}

// deliver stores (QoS 1) and hands pk to c; it reports whether a record was stored.
func (h *attachHook) deliver(c *consumer, cl *mqtt.Client, pk *packets.Packet) bool {
	d := Delivery{Topic: pk.TopicName, QoS: min(pk.FixedHeader.Qos, c.qos), Retain: pk.FixedHeader.Retain}
	c.mu.Lock()
	handler := c.h
	if d.QoS > 0 {
		if handler == nil && c.stored.Load() >= h.maxDetached {
			c.mu.Unlock()
			h.dropped.Add(1)
			return false
		}
		d.Seq = c.next.Add(1) - 1
		key := attachRecKey(c.name, d.Seq)
		m := toMessage(key, attachRecPrefix, c.name, pk)
		m.FixedHeader.Qos = d.QoS
		if err := h.db.Set(key, encodeMessage(&m)); err != nil {
			c.mu.Unlock()
			h.dropped.Add(1)
			return false
		}
		c.stored.Add(1)
	}
	c.mu.Unlock()
	if handler == nil {
		return d.QoS > 0
	}
	d.Payload = slices.Clone(pk.Payload)
	d.Props = deliveryProps(&pk.Properties)
	a := ackConnOf(cl)
	handler(d, Publisher{conn: a, lone: a != nil && a.lone(wireSize(pk))})
	return d.QoS > 0
}

func deliveryProps(p *packets.Properties) DeliveryProps {
	dp := DeliveryProps{ContentType: p.ContentType, ResponseTopic: p.ResponseTopic, CorrelationData: slices.Clone(p.CorrelationData)}
	if p.PayloadFormatFlag {
		f := p.PayloadFormat
		dp.PayloadFormat = &f
	}
	if p.MessageExpiryInterval > 0 {
		e := p.MessageExpiryInterval
		dp.MessageExpiry = &e
	}
	for _, u := range p.User {
		dp.User = append(dp.User, [2]string{u.Key, u.Val})
	}
	return dp
}

func deliveryOf(seq uint64, m *storage.Message) Delivery {
	pk := m.ToPacket()
	return Delivery{Seq: seq, Topic: pk.TopicName, Payload: pk.Payload, QoS: pk.FixedHeader.Qos,
		Retain: pk.FixedHeader.Retain, Props: deliveryProps(&pk.Properties)}
}

var errAttached = errors.New("already attached")

// Attach declares (or re-declares) the durable consumer name for filters at qos and
// attaches h. It returns the stored deliveries not yet Done, oldest first: the caller
// handles them before (and in order with) what h receives. New publishes reach h as
// soon as Attach returns.
func (b *Broker) Attach(name string, filters []string, qos byte, h Handler) ([]Delivery, error) {
	if name == "" || strings.ContainsAny(name, "/\n") {
		return nil, fmt.Errorf("attach consumer %q: the name must be non-empty, without '/' or newlines", name)
	}
	if len(filters) == 0 {
		return nil, fmt.Errorf("attach consumer %q: no topic filters", name)
	}
	for _, f := range filters {
		if !mqtt.IsValidFilter(f, false) || strings.Contains(f, "\n") {
			return nil, fmt.Errorf("attach consumer %q: %q is not a valid topic filter", name, f)
		}
	}
	if h == nil {
		return nil, fmt.Errorf("attach consumer %q: no handler", name)
	}
	ah := b.attach
	ah.mu.Lock()
	defer ah.mu.Unlock()
	c, err := b.declareLocked(name, filters, qos)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.h != nil {
		return nil, fmt.Errorf("attach consumer %q: %w", name, errAttached)
	}
	var pending []Delivery
	for _, key := range b.db.keysWithPrefix(attachRecPrefix + name + "/") {
		seq, err := attachRecSeq(key)
		if err != nil {
			continue
		}
		m, err := decodeMessage(b.db.Get(key))
		if err != nil {
			b.log.Error("stored message for attached consumer is unreadable; skipped", "consumer", name, "key", key, "error", err)
			b.Done(name, seq)
			continue
		}
		pending = append(pending, deliveryOf(seq, &m))
	}
	c.h = h
	return pending, nil
}

// declareLocked declares (or re-declares) the consumer name, durably; ah.mu is held.
func (b *Broker) declareLocked(name string, filters []string, qos byte) (*consumer, error) {
	ah := b.attach
	qos = min(qos, 1)
	c := ah.consumers[name]
	if c != nil && (!slices.Equal(c.filters, filters) || c.qos != qos) {
		ah.unsubscribeLocked(c)
		c.filters, c.qos = slices.Clone(filters), qos
		ah.subscribeLocked(c)
	}
	if c == nil {
		c = &consumer{name: name, filters: slices.Clone(filters), qos: qos}
		c.next.Store(1)
		ah.consumers[name] = c
		ah.subscribeLocked(c)
	}
	decl := append([]byte{qos}, strings.Join(filters, "\n")...)
	if err := b.db.Set(attachDeclPrefix+name, decl); err != nil {
		return nil, fmt.Errorf("attach consumer %q: record it in the broker state: %w", name, err)
	}
	if err := b.db.Flush(); err != nil {
		return nil, fmt.Errorf("attach consumer %q: record it in the broker state: %w", name, err)
	}
	return c, nil
}

// AdoptSession moves the QoS 1 messages a disconnected MQTT session of clientID still
// holds (queued or unacknowledged) into the stored messages of consumer name (declaring
// it for filters at qos) and removes the session. A dataflow that read this broker as an
// MQTT client — dualpeer before attached consumers — keeps its backlog this way when the
// agent is upgraded; without it the old session would keep queuing messages nobody reads
// until it expired. Call it before Attach, which then hands the messages over. It
// returns how many messages moved; a missing session is not an error.
func (b *Broker) AdoptSession(clientID, name string, filters []string, qos byte) (int, error) {
	cl, ok := b.server.Clients.Get(clientID)
	if !ok || cl.Net.Inline {
		return 0, nil
	}
	if !cl.Closed() {
		return 0, fmt.Errorf("adopt session %q: it is connected; disconnect it first", clientID)
	}
	ah := b.attach
	ah.mu.Lock()
	c, err := b.declareLocked(name, filters, qos)
	ah.mu.Unlock()
	if err != nil {
		return 0, err
	}
	var msgs []packets.Packet
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type == packets.Publish {
			msgs = append(msgs, pk)
		}
	}
	// Oldest first, as far as the session knows (its order is not kept exactly).
	slices.SortStableFunc(msgs, func(x, y packets.Packet) int {
		if x.Created != y.Created {
			return int(x.Created - y.Created)
		}
		return int(x.PacketID) - int(y.PacketID)
	})
	c.mu.Lock()
	for i := range msgs {
		pk := &msgs[i]
		seq := c.next.Add(1) - 1
		key := attachRecKey(name, seq)
		m := toMessage(key, attachRecPrefix, name, pk)
		m.FixedHeader.Qos = min(pk.FixedHeader.Qos, c.qos)
		m.FixedHeader.Dup = false
		if err := b.db.Set(key, encodeMessage(&m)); err != nil {
			c.mu.Unlock()
			return i, fmt.Errorf("adopt session %q: store its messages: %w", clientID, err)
		}
		c.stored.Add(1)
	}
	c.mu.Unlock()
	b.server.UnsubscribeClient(cl)
	b.server.Clients.Delete(clientID)
	b.store.forgetClient(clientID) // flushes the log: the records are in before the session is gone
	b.log.Info("moved an MQTT session's messages to an attached consumer", "session", clientID, "consumer", name, "messages", len(msgs))
	return len(msgs), nil
}

// Detach stops handing messages to name's handler; the consumer stays declared, so
// QoS 1 messages are still stored for it (up to Limits.MaxQueuedMessages) until it
// attaches again. A handler call in progress is not waited for.
func (b *Broker) Detach(name string) {
	b.attach.mu.RLock()
	c := b.attach.consumers[name]
	b.attach.mu.RUnlock()
	if c == nil {
		return
	}
	c.mu.Lock()
	c.h = nil
	c.mu.Unlock()
}

// Done forgets a stored delivery: the consumer has passed it on.
func (b *Broker) Done(name string, seq uint64) {
	if seq == 0 {
		return
	}
	b.attach.mu.RLock()
	c := b.attach.consumers[name]
	b.attach.mu.RUnlock()
	if err := b.db.Delete(attachRecKey(name, seq)); err != nil && !errors.Is(err, errStoreClosed) {
		b.log.Error("broker state delete failed", "consumer", name, "error", err)
		return
	}
	if c != nil {
		c.stored.Add(-1)
	}
}

// Forget removes the consumer name and everything stored for it (a dataflow that was
// deleted).
func (b *Broker) Forget(name string) {
	ah := b.attach
	ah.mu.Lock()
	c := ah.consumers[name]
	if c != nil {
		ah.unsubscribeLocked(c)
		delete(ah.consumers, name)
	}
	ah.mu.Unlock()
	for _, key := range b.db.keysWithPrefix(attachRecPrefix + name + "/") {
		_ = b.db.Delete(key)
	}
	_ = b.db.Delete(attachDeclPrefix + name)
	_ = b.db.Flush()
}

// Consumers lists the declared consumers with the number of stored messages each.
func (b *Broker) Consumers() map[string]int64 {
	b.attach.mu.RLock()
	defer b.attach.mu.RUnlock()
	out := make(map[string]int64, len(b.attach.consumers))
	for name, c := range b.attach.consumers {
		out[name] = c.stored.Load()
	}
	return out
}
