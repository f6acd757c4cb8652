package dataflow

import (
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"

	"github.com/dualpeer/dualpeer/internal/broker"
)

// Attacher is the local broker's attached-consumer API (broker.Broker): the fast path for
// a dataflow whose source is the agent's own broker. See internal/broker/attach.go for
// the delivery and durability rules.
type Attacher interface {
	Attach(name string, filters []string, qos byte, h broker.Handler) ([]broker.Delivery, error)
	Detach(name string)
	Done(name string, seq uint64)
	Forget(name string)
	Consumers() map[string]int64 // declared consumers → stored messages
	AdoptSession(clientID, name string, filters []string, qos byte) (int, error)
}

// Local is the agent's own broker as the engine reaches it.
type Local struct {
	// Dial opens an MQTT connection to it in-process (broker.DialInProcess): used by
	// endpoints that need MQTT (a local destination; a local source without Attach).
	Dial Dialer
	// Attach, when set, is how local sources read: no MQTT session in between.
	Attach Attacher
}

// How many source messages a local-source dataflow queues before it holds publishers:
// little while the destination is connected (it drains; a longer queue would only add
// latency and memory), a burst's worth while it is not (as a persistent session would
// absorb it; the messages are also in the broker's state log).
const (
	localQueueConnected    = 1024
	localQueueDisconnected = 10000
)

// attachName is the dataflow's durable consumer name in the local broker.
func attachName(dataflow string) string { return attachPrefix + dataflow }

const attachPrefix = "dataflow:"

// localSource is the queue between the broker's publisher goroutines (onLocal) and the
// destination. The common case needs no queue: with nothing queued and the pump idle,
// onLocal hands the message to the destination itself, so a message crosses B with no
// goroutine hand-off at all. Only when the destination's window or write buffer is
// full does it queue, and the pump goroutine drains the queue in order.
type localSource struct {
	att     Attacher
	name    string
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []broker.Delivery
	head    int
	pumping bool
	done    chan struct{}
}

func (q *localSource) len() int { return len(q.queue) - q.head }

// newLocalSource is set before the destination starts: its hooks look at f.local.
// It is pumping until the stored messages are queued: no publish may overtake them.
func newLocalSource(att Attacher, dataflow string) *localSource {
	q := &localSource{att: att, name: attachName(dataflow), done: make(chan struct{}), pumping: true}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// startLocal attaches the dataflow to the local broker and starts the pump. Messages
// stored for it before (a restart, a changed dataflow) are queued first.
func (f *flow) startLocal() error {
	q := f.local
	f.flushDst = f.dst.flush
	// The MQTT session this dataflow used before sources were attached (an agent
	// upgraded in place): its backlog becomes stored messages, handed over below.
	if n, err := q.att.AdoptSession(clientID(f.cfg.Source.ClientIDPrefix, f.cfg.Name, "source"), q.name, f.cfg.SourceTopics, f.cfg.Source.QoS); err != nil {
		f.log.Warn("the dataflow's earlier MQTT session could not be taken over; it expires on its own", "error", err)
	} else if n > 0 {
		f.log.Info("took over the backlog of the dataflow's earlier MQTT session", "messages", n)
	}
	pending, err := q.att.Attach(q.name, f.cfg.SourceTopics, f.cfg.Source.QoS, f.onLocal)
	if err != nil {
		close(q.done) // no pump to wait for
		return err
	}
	q.mu.Lock()
	// Publishes right after Attach may already be queued: the stored ones go in front.
	q.queue = append(append([]broker.Delivery(nil), pending...), q.queue[q.head:]...)
	q.head = 0
	q.pumping = false
	q.mu.Unlock()
	go f.pump()
	q.cond.Broadcast()
	f.srcUp.Store(true)
	f.srcSubbed.Store(true)
	f.m.connected.WithLabelValues(f.cfg.Name, "source").Set(1)
	if len(pending) > 0 {
		f.in.Add(uint64(len(pending)))
		f.mIn.Add(float64(len(pending)))
		f.log.Info("resuming stored messages", "count", len(pending))
	}
	return nil
}

// onLocal runs on a publisher's goroutine inside the broker, before that publisher's
// PUBACK. Blocking here holds the publisher: that is the back-pressure.
func (f *flow) onLocal(d broker.Delivery, p broker.Publisher) {
	q := f.local
	f.in.Add(1)
	f.mIn.Inc()
	if !f.tr.keep(d.Payload) {
		f.drop("filtered")
		q.att.Done(q.name, d.Seq)
		return
	}
	// The write to the destination happens on this goroutine once it is done with the
	// packets it read together (after q.mu is released): one write per batch.
	defer p.AfterBatch(f, f.flushDst)
	q.mu.Lock()
	defer q.mu.Unlock()
	if f.stopping.Load() {
		return // stored (QoS 1): delivered again on the next Attach
	}
	if d.QoS == 0 && !f.dstUp.Load() {
		f.drop("qos0_disconnected")
		return
	}
	if q.len() == 0 && !q.pumping && f.forward(d, false) {
		return
	}
	held := false
	for !f.stopping.Load() && q.len() >= f.localLimit() {
		if !held {
			held = true
			q.mu.Unlock()
			f.dst.flush() // what this goroutine queued must go out before it waits
			p.Hold()      // and the PUBACKs already owed to this publisher
			q.mu.Lock()
			continue
		}
		q.cond.Wait()
	}
	if f.stopping.Load() {
		return
	}
	q.queue = append(q.queue, d)
	q.cond.Broadcast()
}

func (f *flow) localLimit() int {
	if f.dstUp.Load() {
		return localQueueConnected
	}
	return localQueueDisconnected
}

// pump forwards queued messages in order, waiting for the destination's window.
func (f *flow) pump() {
	q := f.local
	defer close(q.done)
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for q.len() == 0 && !f.stopping.Load() {
			q.cond.Wait()
		}
		if f.stopping.Load() {
			return
		}
		q.pumping = true
		d := q.pop()
		q.mu.Unlock()
		f.forward(d, true) // waits for the destination's window
		// Then everything else that fits without waiting, written as one: acknowledgements
		// from A free slots in bursts, and one write per freed slot would cost A a read
		// and B a TLS record per message. Handlers only append meanwhile (pumping), so
		// the head stays put while q.mu is released.
		q.mu.Lock()
		for q.len() > 0 {
			d := q.queue[q.head]
			q.mu.Unlock()
			ok := f.forward(d, false)
			q.mu.Lock()
			if !ok {
				break
			}
			q.pop()
		}
		q.mu.Unlock()
		f.dst.flush()
		q.mu.Lock()
		q.pumping = false
	}
}

// pop removes the queue's head; q.mu is held.
func (q *localSource) pop() broker.Delivery {
	d := q.queue[q.head]
	q.queue[q.head] = broker.Delivery{}
	q.head++
	if q.head == len(q.queue) {
		q.queue, q.head = q.queue[:0], 0
	}
	q.cond.Broadcast() // room for held publishers
	return d
}

// forward hands d to the destination. With wait false it only succeeds when that
// needs no waiting (the destination's window and buffer have room); it reports
// whether d was taken (sent, or dropped on purpose).
func (f *flow) forward(d broker.Delivery, wait bool) bool {
	m := f.outLocal(&d)
	q := f.local
	if m.qos == 0 {
		err := f.dst.send0(m, wait)
		if err == errWouldBlock {
			return false
		}
		f.sent0(err)
		q.att.Done(q.name, d.Seq) // a QoS 1 source message sent at QoS 0
		return true
	}
	f.mInflight.Add(1)
	switch err := f.dst.send1(item{seq: d.Seq, received: time.Now()}, m, wait); err {
	case nil:
		return true
	case errWouldBlock:
		f.mInflight.Add(-1)
		return false
	default:
		// Stopping: not Done, so the broker hands it over again on the next Attach.
		f.mInflight.Add(-1)
		return true
	}
}

// outLocal is outMsg for a local delivery.
func (f *flow) outLocal(d *broker.Delivery) outMsg {
	p := d.Props
	var props []byte
	if p.CorrelationData != nil || p.ContentType != "" || p.ResponseTopic != "" || p.PayloadFormat != nil ||
		p.MessageExpiry != nil || len(p.User) > 0 {
		pp := &packets.Properties{CorrelationData: p.CorrelationData, ContentType: p.ContentType,
			ResponseTopic: p.ResponseTopic, PayloadFormat: p.PayloadFormat, MessageExpiry: p.MessageExpiry}
		for _, u := range p.User {
			pp.User = append(pp.User, packets.User{Key: u[0], Value: u[1]})
		}
		props = pp.Pack(packets.PUBLISH)
	}
	return f.newOutMsg(d.Topic, d.Payload, d.QoS, d.Retain, props)
}

// stopLocal detaches from the broker and stops the pump. What was not acknowledged by
// the destination stays stored in the broker for the next Attach.
func (f *flow) stopLocal() {
	q := f.local
	q.att.Detach(q.name)
	q.mu.Lock()
	q.cond.Broadcast()
	q.mu.Unlock()
	<-q.done
	f.srcUp.Store(false)
	f.m.connected.WithLabelValues(f.cfg.Name, "source").Set(0)
}

func (f *flow) localDepth() int {
	if f.local == nil {
		return 0
	}
	f.local.mu.Lock()
	defer f.local.mu.Unlock()
	return f.local.len()
}
