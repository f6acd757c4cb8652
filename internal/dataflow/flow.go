package dataflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"
)

// Dialer opens an in-process connection to the local broker (broker.DialInProcess).
type Dialer func(ctx context.Context) (net.Conn, error)

const (
	reconnectMin = 200 * time.Millisecond
	reconnectMax = 10 * time.Second
	// ackInterval: how often paho flushes in-order PUBACKs to the source. With a window
	// of W messages the throughput bound is W/ackInterval, so keep it short.
	ackInterval = 5 * time.Millisecond
)

// item is one source message held by the engine until the destination acknowledges it.
type item struct {
	pub      *paho.Publish
	src      *paho.Client // the connection it came on: its PUBACK must go there
	seq      uint64       // a local source's stored message (broker.Delivery.Seq)
	received time.Time
}

type flow struct {
	cfg Dataflow
	log *slog.Logger
	m   *metrics
	tr  *transformer

	// per-dataflow metric children, resolved once (not per message)
	mIn, mOut, mRetries prometheus.Counter
	mLatency            prometheus.Observer
	mInflight           prometheus.Gauge

	stopping  atomic.Bool
	connStop  context.CancelFunc
	src       *autopaho.ConnectionManager
	dst       *destClient
	srcUp     atomic.Bool
	srcSubbed atomic.Bool
	dstUp     atomic.Bool
	in, out   atomic.Uint64
	dropped   atomic.Uint64
	retries   atomic.Uint64
	lastError atomic.Value // string
	srcMu     sync.Mutex
	srcConns  map[*paho.Client]*srcConn // which connection a message came on
	curSrc    *srcConn                  // the newest source connection
	topicTmpl bool                      // DestinationTopic contains ${inputTopic}
	local     *localSource              // set when the source is the local broker, attached (localsrc.go)
	flushDst  func()                    // f.dst.flush, allocated once (a per-batch callback)
}

func startFlow(d Dataflow, lb Local, m *metrics, log *slog.Logger) (*flow, error) {
	local := lb.Dial
	d = d.withDefaults()
	tr, err := newTransformer(d)
	if err != nil {
		return nil, fmt.Errorf("dataflow %q: %w", d.Name, err)
	}
	f := &flow{cfg: d, log: log.With("dataflow", d.Name), m: m, tr: tr,
		mIn: m.in.WithLabelValues(d.Name), mOut: m.out.WithLabelValues(d.Name), mRetries: m.retries.WithLabelValues(d.Name),
		mLatency: m.latency.WithLabelValues(d.Name), mInflight: m.inflight.WithLabelValues(d.Name),
		topicTmpl: strings.Contains(d.DestinationTopic, "${inputTopic}")}
	f.lastError.Store("")
	f.srcConns = map[*paho.Client]*srcConn{}
	connCtx, connStop := context.WithCancel(context.Background())
	f.connStop = connStop

	// Destination first, so it is connecting while the first source messages arrive.
	dial, err := destDialer(d.Destination, local)
	if err != nil {
		connStop()
		return nil, fmt.Errorf("dataflow %q: destination endpoint %q: %w", d.Name, d.Destination.Name, err)
	}
	if d.Source.Local && lb.Attach != nil {
		f.local = newLocalSource(lb.Attach, d.Name)
	}
	f.dst = newDestClient(dial, d.Destination, clientID(d.Destination.ClientIDPrefix, d.Name, "dest"), f.destHooks())

	if f.local != nil {
		if err := f.startLocal(); err != nil {
			f.stop()
			return nil, fmt.Errorf("dataflow %q: source %s: %w", d.Name, d.Source, err)
		}
		f.log.Info("dataflow started", "source", d.Source.String()+" (attached)", "topics", d.SourceTopics,
			"destination", d.Destination.String(), "destination_topic", d.DestinationTopic)
		return f, nil
	}
	scfg, err := f.clientConfig(d.Source, "source", &f.srcUp, local)
	if err != nil {
		f.stop()
		return nil, err
	}
	sdial, err := destDialer(d.Source, local)
	if err != nil {
		f.stop()
		return nil, fmt.Errorf("dataflow %q: source endpoint %q: %w", d.Name, d.Source.Name, err)
	}
	scfg.AttemptConnection = func(ctx context.Context, _ autopaho.ClientConfig, _ *url.URL) (net.Conn, error) {
		c, err := sdial(ctx)
		if err != nil {
			return nil, err
		}
		sc := newSrcConn(c)
		f.srcMu.Lock()
		f.curSrc = sc
		f.srcMu.Unlock()
		return sc, nil
	}
	scfg.EnableManualAcknowledgment = true
	scfg.SendAcksInterval = ackInterval
	scfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){f.onPublish}
	up := scfg.OnConnectionUp
	scfg.OnConnectionUp = func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
		up(cm, ca)
		// A resumed session still holds its subscriptions (and routes into them), so the
		// flow is subscribed at once; the re-subscribe below only repairs a changed session.
		if ca.SessionPresent {
			f.srcSubbed.Store(true)
		}
		go f.subscribe(connCtx, cm, ca.SessionPresent)
	}
	if f.src, err = autopaho.NewConnection(connCtx, scfg); err != nil {
		f.stop()
		return nil, fmt.Errorf("dataflow %q: source %s: %w", d.Name, d.Source, err)
	}
	f.log.Info("dataflow started", "source", d.Source.String(), "topics", d.SourceTopics,
		"destination", d.Destination.String(), "destination_topic", d.DestinationTopic)
	return f, nil
}

// destHooks connects the destination publisher's events to the flow's state, metrics
// and the source's acknowledgements.
func (f *flow) destHooks() destHooks {
	side := "dest"
	ep := f.cfg.Destination
	return destHooks{
		done: func(it item, rc byte) {
			if rc >= 0x80 {
				f.setError(fmt.Errorf("destination %s refused a message on %q with reason 0x%02x; it cannot succeed, so it was dropped", ep, it.pub.Topic, rc))
				f.drop("rejected")
			} else {
				f.out.Add(1)
				f.mOut.Inc()
				f.mLatency.Observe(time.Since(it.received).Seconds())
			}
			f.ack(it)
			f.mInflight.Add(-1)
		},
		refused: func(it item, topic string, rc byte) {
			f.setError(fmt.Errorf("destination %s refused the message on %q with reason 0x%02x; retrying", ep, topic, rc))
		},
		resent: func(n int) {
			f.retries.Add(uint64(n))
			f.mRetries.Add(float64(n))
		},
		up: func() {
			f.dstUp.Store(true)
			f.m.connected.WithLabelValues(f.cfg.Name, side).Set(1)
			f.log.Info("connected", "side", side)
		},
		down: func(err error) {
			f.dstUp.Store(false)
			if q := f.local; q != nil {
				q.mu.Lock()
				q.cond.Broadcast() // held publishers may queue more now (localLimit)
				q.mu.Unlock()
			}
			f.m.connected.WithLabelValues(f.cfg.Name, side).Set(0)
			f.log.Warn("connection lost; reconnecting", "side", side, "error", err)
		},
		connectError: func(err error) {
			f.setError(fmt.Errorf("%s %s: %w", side, ep, err))
			f.log.Warn("connect failed", "side", side, "endpoint", ep.String(), "error", err)
		},
	}
}

func (f *flow) setError(err error) {
	f.lastError.Store(err.Error())
}

// clientConfig builds an autopaho configuration for one endpoint.
func (f *flow) clientConfig(ep Endpoint, role string, up *atomic.Bool, local Dialer) (autopaho.ClientConfig, error) {
	side := role
	cfg := autopaho.ClientConfig{
		KeepAlive:                     uint16(ep.KeepAlive / time.Second),
		CleanStartOnInitialConnection: false, // persistent session: the broker keeps what we did not acknowledge
		SessionExpiryInterval:         uint32(ep.SessionExpiry / time.Second),
		ReconnectBackoff:              Backoff(reconnectMin, reconnectMax),
		ConnectTimeout:                10 * time.Second,
		OnConnectionUp: func(*autopaho.ConnectionManager, *paho.Connack) {
			up.Store(true)
			f.m.connected.WithLabelValues(f.cfg.Name, side).Set(1)
			f.log.Info("connected", "side", side)
		},
		OnConnectionDown: func() bool {
			up.Store(false)
			f.m.connected.WithLabelValues(f.cfg.Name, side).Set(0)
			f.log.Warn("connection lost; reconnecting", "side", side)
			return true
		},
		OnConnectError: func(err error) {
			f.setError(fmt.Errorf("%s %s: %w", side, ep, err))
			f.log.Warn("connect failed", "side", side, "endpoint", ep.String(), "error", err)
		},
		ClientConfig: paho.ClientConfig{ClientID: clientID(ep.ClientIDPrefix, f.cfg.Name, role)},
	}
	switch {
	case ep.Local:
		if local == nil {
			return cfg, fmt.Errorf("dataflow %q: %s endpoint %q is the local broker, but no local broker is running", f.cfg.Name, side, ep.Name)
		}
		u, _ := url.Parse("mqtt://in-process")
		cfg.ServerUrls = []*url.URL{u}
		cfg.AttemptConnection = func(ctx context.Context, _ autopaho.ClientConfig, _ *url.URL) (net.Conn, error) {
			return local(ctx)
		}
	case ep.TLS:
		tc, err := ep.tlsConfig()
		if err != nil {
			return cfg, fmt.Errorf("dataflow %q: %s endpoint %q: %w", f.cfg.Name, side, ep.Name, err)
		}
		cfg.TlsCfg = tc
		cfg.ServerUrls = []*url.URL{{Scheme: "tls", Host: ep.Host}}
	default:
		cfg.ServerUrls = []*url.URL{{Scheme: "mqtt", Host: ep.Host}}
	}
	return cfg, nil
}

// subscribe (re)subscribes the source session. With a persistent session the broker
// still has the subscriptions; re-subscribing is harmless and repairs a session that
// expired. RetainHandling 1 avoids replaying retained messages on every reconnect.
//
// With a resumed session the broker may refuse the SUBSCRIBE with 0x91 (packet identifier in
// use: it is redelivering the session's queue with that identifier); the subscription exists
// already, so that is not an error.
func (f *flow) subscribe(ctx context.Context, cm *autopaho.ConnectionManager, resumed bool) {
	var subs []paho.SubscribeOptions
	for _, t := range f.cfg.SourceTopics {
		subs = append(subs, paho.SubscribeOptions{Topic: t, QoS: f.cfg.Source.QoS, RetainAsPublished: true, RetainHandling: 1})
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs})
	if err != nil {
		var reasons []byte
		if sa != nil {
			reasons = sa.Reasons
		}
		if resumed && len(reasons) > 0 && allInUse(reasons) {
			return // the resumed session keeps its subscriptions
		}
		f.setError(fmt.Errorf("subscribe %v: %w (reasons %x)", f.cfg.SourceTopics, err, reasons))
		f.log.Error("subscribe failed", "topics", f.cfg.SourceTopics, "reasons", reasons, "error", err)
		return
	}
	ok := true
	for i, rc := range sa.Reasons {
		if resumed && rc == 0x91 {
			continue
		}
		if rc >= 0x80 && i < len(subs) {
			ok = false
			f.setError(fmt.Errorf("subscribe %q refused with reason 0x%02x", subs[i].Topic, rc))
			f.log.Error("subscription refused", "topic", subs[i].Topic, "reason", rc)
		}
	}
	f.srcSubbed.Store(ok)
}

// allInUse reports whether every reason code is 0x91 (packet identifier in use).
func allInUse(reasons []byte) bool {
	for _, r := range reasons {
		if r != 0x91 {
			return false
		}
	}
	return true
}

// onPublish runs on paho's delivery goroutine, in arrival order. It blocks while the
// destination has maxInflightMessages unacknowledged (QoS 1) or its write buffer is
// full: that is the back-pressure — further messages wait in the source broker's
// session for this dataflow.
func (f *flow) onPublish(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	f.in.Add(1)
	f.mIn.Inc()
	if !f.tr.keep(p.Payload) {
		f.drop("filtered")
		f.ack(item{pub: p, src: pr.Client})
		return true, nil
	}
	if f.stopping.Load() || (p.QoS > 0 && f.stale(pr.Client)) {
		// Not acknowledged: the source broker redelivers it (on the next connection).
		// paho still hands over messages it buffered before its connection died; their
		// PUBACKs could never reach the broker, so forwarding them would only add a
		// duplicate of each, and after an overload that stale backlog is thousands of
		// messages ahead of the redelivered ones: skip them.
		return true, nil
	}
	m := f.outMsg(p)
	if m.qos == 0 {
		// At most once (the source's or the destination's QoS is 0): nothing to track.
		f.sent0(f.dst.publish0(m))
		f.ack(item{pub: p, src: pr.Client}) // a QoS 1 source message sent at QoS 0
		return true, nil
	}
	f.mInflight.Add(1)
	if err := f.dst.publish1(item{pub: p, src: pr.Client, received: time.Now()}, m); err != nil {
		f.mInflight.Add(-1)
		// Stopping: not acknowledged, so the source broker redelivers it later.
	}
	return true, nil
}

// stale reports whether the connection message came on is gone. A client seen for the
// first time belongs to the newest connection (its first message is delivered while
// that connection is current); entries of dead connections are pruned then.
func (f *flow) stale(c *paho.Client) bool {
	f.srcMu.Lock()
	defer f.srcMu.Unlock()
	sc, ok := f.srcConns[c]
	if !ok {
		sc = f.curSrc
		if sc == nil {
			return false
		}
		for k, v := range f.srcConns {
			if v.dead.Load() && len(f.srcConns) > 2 {
				delete(f.srcConns, k)
			}
		}
		f.srcConns[c] = sc
	}
	return sc.dead.Load()
}

// outMsg transforms a source message into the destination's: topic, QoS = min(source,
// destination) as Mosquitto's bridge does, retain per the endpoint, and the MQTT 5
// properties a bridge forwards.
func (f *flow) outMsg(p *paho.Publish) outMsg {
	var props []byte
	if sp := p.Properties; sp != nil && (sp.CorrelationData != nil || sp.ContentType != "" || sp.ResponseTopic != "" ||
		sp.PayloadFormat != nil || sp.MessageExpiry != nil || len(sp.User) > 0) {
		pp := &packets.Properties{
			CorrelationData: sp.CorrelationData, ContentType: sp.ContentType, ResponseTopic: sp.ResponseTopic,
			PayloadFormat: sp.PayloadFormat, MessageExpiry: sp.MessageExpiry,
		}
		for _, u := range sp.User {
			pp.User = append(pp.User, packets.User{Key: u.Key, Value: u.Value})
		}
		props = pp.Pack(packets.PUBLISH)
	}
	return f.newOutMsg(p.Topic, p.Payload, p.QoS, p.Retain, props)
}

// newOutMsg applies the destination topic, QoS and retain rules.
func (f *flow) newOutMsg(topic string, payload []byte, qos byte, retain bool, props []byte) outMsg {
	d := f.cfg
	m := outMsg{
		topic:   d.DestinationTopic,
		payload: payload,
		qos:     min(qos, d.Destination.QoS),
		retain:  retain && d.Destination.Retain == RetainKeep,
		props:   props,
	}
	if f.topicTmpl {
		m.topic = strings.ReplaceAll(d.DestinationTopic, "${inputTopic}", topic)
	}
	return m
}

// sent0 counts the outcome of sending a QoS 0 message.
func (f *flow) sent0(err error) {
	switch {
	case errors.Is(err, errDestDown):
		f.drop("qos0_disconnected")
	case err != nil:
		f.drop("qos0_stopping")
	default:
		f.out.Add(1)
		f.mOut.Inc()
	}
}

func (f *flow) drop(reason string) {
	f.dropped.Add(1)
	f.m.dropped.WithLabelValues(f.cfg.Name, reason).Inc()
}

func (f *flow) ack(it item) {
	if q := f.local; q != nil {
		q.att.Done(q.name, it.seq)
		return
	}
	if it.pub.QoS == 0 || it.src == nil {
		return
	}
	// An ack for a connection that has since closed is ignored by paho; the broker
	// redelivers the message on the new connection (a duplicate, never a loss).
	_ = it.src.Ack(it.pub)
}

// permanent PUBACK reasons: retrying cannot succeed, so the message is dropped (and
// counted) instead of blocking the dataflow forever.
func permanent(rc byte) bool {
	switch rc {
	case 0x87, 0x90, 0x95, 0x99: // not authorized, topic name invalid, packet too large, payload format invalid
		return true
	}
	return false
}

// stop disconnects cleanly (bounded in time). Messages not yet acknowledged by the
// destination stay with the source: in the source broker's session, or stored for the
// attached consumer (handed over again on the next Attach).
func (f *flow) stop() {
	f.stopping.Store(true)
	if f.dst != nil {
		f.dst.close() // unblocks onPublish; unacknowledged messages stay with the source
	}
	if f.local != nil {
		f.stopLocal()
		f.connStop()
		f.log.Info("dataflow stopped", "in", f.in.Load(), "out", f.out.Load(), "dropped", f.dropped.Load(), "retries", f.retries.Load())
		return
	}
	time.Sleep(3 * ackInterval) // let paho flush the PUBACKs of finished messages
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if f.src != nil {
		if err := f.src.Disconnect(ctx); err != nil && !errors.Is(err, autopaho.ConnectionDownError) {
			f.log.Debug("disconnect", "error", err)
		}
	}
	f.connStop()
	if f.src != nil {
		select {
		case <-f.src.Done():
		case <-ctx.Done():
		}
	}
	f.log.Info("dataflow stopped", "in", f.in.Load(), "out", f.out.Load(), "dropped", f.dropped.Load(), "retries", f.retries.Load())
}

// Status is a dataflow's state for /status.
type Status struct {
	Name                 string   `json:"name"`
	Source               string   `json:"source"`
	SourceTopics         []string `json:"sourceTopics"`
	Destination          string   `json:"destination"`
	DestinationTopic     string   `json:"destinationTopic"`
	SourceConnected      bool     `json:"sourceConnected"`
	SourceSubscribed     bool     `json:"sourceSubscribed"` // subscribed (MQTT source) or attached (local source)
	DestinationConnected bool     `json:"destinationConnected"`
	MessagesIn           uint64   `json:"messagesIn"`
	MessagesOut          uint64   `json:"messagesOut"`
	Dropped              uint64   `json:"dropped"`
	Retries              uint64   `json:"retries"`
	QueueDepth           int64    `json:"queueDepth"`
	LastError            string   `json:"lastError,omitempty"`
}

func (f *flow) status() Status {
	return Status{
		Name: f.cfg.Name, Source: f.cfg.Source.String(), SourceTopics: f.cfg.SourceTopics,
		Destination: f.cfg.Destination.String(), DestinationTopic: f.cfg.DestinationTopic,
		SourceConnected: f.srcUp.Load(), SourceSubscribed: f.srcSubbed.Load(), DestinationConnected: f.dstUp.Load(),
		MessagesIn: f.in.Load(), MessagesOut: f.out.Load(), Dropped: f.dropped.Load(),
		Retries: f.retries.Load(), QueueDepth: int64(f.dst.inflight() + f.localDepth()), LastError: f.lastError.Load().(string),
	}
}
