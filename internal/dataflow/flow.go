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
	"github.com/eclipse/paho.golang/paho"
)

// Dialer opens an in-process connection to the local broker (broker.DialInProcess).
type Dialer func(ctx context.Context) (net.Conn, error)

const (
	reconnectMin   = 200 * time.Millisecond
	reconnectMax   = 10 * time.Second
	publishTimeout = 30 * time.Second
	// ackInterval: how often paho flushes in-order PUBACKs to the source. With a window
	// of W messages the throughput bound is W/ackInterval, so keep it short.
	ackInterval = 5 * time.Millisecond
)

// item is one source message held by the engine until the destination acknowledges it.
type item struct {
	pub      *paho.Publish
	src      *paho.Client // the connection it came on: its PUBACK must go there
	received time.Time
}

type flow struct {
	cfg Dataflow
	log *slog.Logger
	m   *metrics
	tr  *transformer

	queue     chan item
	workCtx   context.Context
	workStop  context.CancelFunc
	connStop  context.CancelFunc
	workers   sync.WaitGroup
	src, dst  *autopaho.ConnectionManager
	srcUp     atomic.Bool
	srcSubbed atomic.Bool
	dstUp     atomic.Bool
	in, out   atomic.Uint64
	dropped   atomic.Uint64
	retries   atomic.Uint64
	held      atomic.Int64
	lastError atomic.Value // string
}

func startFlow(d Dataflow, local Dialer, m *metrics, log *slog.Logger) (*flow, error) {
	d = d.withDefaults()
	tr, err := newTransformer(d)
	if err != nil {
		return nil, fmt.Errorf("dataflow %q: %w", d.Name, err)
	}
	f := &flow{cfg: d, log: log.With("dataflow", d.Name), m: m, tr: tr, queue: make(chan item, d.Window)}
	f.lastError.Store("")
	f.workCtx, f.workStop = context.WithCancel(context.Background())
	connCtx, connStop := context.WithCancel(context.Background())
	f.connStop = connStop

	// Destination first, so it is connecting while the first source messages arrive.
	dcfg, err := f.clientConfig(d.Destination, "dest", &f.dstUp, local)
	if err != nil {
		connStop()
		return nil, err
	}
	if f.dst, err = autopaho.NewConnection(connCtx, dcfg); err != nil {
		connStop()
		return nil, fmt.Errorf("dataflow %q: destination %s: %w", d.Name, d.Destination, err)
	}
	for range d.Destination.MaxInflight {
		f.workers.Add(1)
		go f.worker()
	}

	scfg, err := f.clientConfig(d.Source, "source", &f.srcUp, local)
	if err != nil {
		f.stop()
		return nil, err
	}
	scfg.EnableManualAcknowledgment = true
	scfg.SendAcksInterval = ackInterval
	scfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){f.onPublish}
	up := scfg.OnConnectionUp
	scfg.OnConnectionUp = func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
		up(cm, ca)
		go f.subscribe(connCtx, cm)
	}
	if f.src, err = autopaho.NewConnection(connCtx, scfg); err != nil {
		f.stop()
		return nil, fmt.Errorf("dataflow %q: source %s: %w", d.Name, d.Source, err)
	}
	f.log.Info("dataflow started", "source", d.Source.String(), "topics", d.SourceTopics,
		"destination", d.Destination.String(), "destination_topic", d.DestinationTopic)
	return f, nil
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
func (f *flow) subscribe(ctx context.Context, cm *autopaho.ConnectionManager) {
	var subs []paho.SubscribeOptions
	for _, t := range f.cfg.SourceTopics {
		subs = append(subs, paho.SubscribeOptions{Topic: t, QoS: f.cfg.Source.QoS, RetainAsPublished: true, RetainHandling: 1})
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs})
	if err != nil {
		f.setError(fmt.Errorf("subscribe %v: %w", f.cfg.SourceTopics, err))
		f.log.Error("subscribe failed", "topics", f.cfg.SourceTopics, "error", err)
		return
	}
	ok := true
	for i, rc := range sa.Reasons {
		if rc >= 0x80 && i < len(subs) {
			ok = false
			f.setError(fmt.Errorf("subscribe %q refused with reason 0x%02x", subs[i].Topic, rc))
			f.log.Error("subscription refused", "topic", subs[i].Topic, "reason", rc)
		}
	}
	f.srcSubbed.Store(ok)
}

// onPublish runs on paho's delivery goroutine, in arrival order.
func (f *flow) onPublish(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	f.in.Add(1)
	f.m.in.WithLabelValues(f.cfg.Name).Inc()
	if !f.tr.keep(p.Payload) {
		f.drop("filtered")
		f.ack(item{pub: p, src: pr.Client})
		return true, nil
	}
	it := item{pub: p, src: pr.Client, received: time.Now()}
	if p.QoS == 0 {
		select {
		case f.queue <- it:
			f.hold(1)
		default:
			f.drop("qos0_overflow") // at most once: never block the source for QoS 0
		}
		return true, nil
	}
	select {
	case f.queue <- it:
		f.hold(1)
	case <-f.workCtx.Done():
		// Stopping: not acknowledged, so the source broker redelivers it later.
	}
	return true, nil
}

func (f *flow) hold(n int64) {
	f.m.inflight.WithLabelValues(f.cfg.Name).Set(float64(f.held.Add(n)))
}

func (f *flow) drop(reason string) {
	f.dropped.Add(1)
	f.m.dropped.WithLabelValues(f.cfg.Name, reason).Inc()
}

func (f *flow) ack(it item) {
	if it.pub.QoS == 0 || it.src == nil {
		return
	}
	// An ack for a connection that has since closed is ignored by paho; the broker
	// redelivers the message on the new connection (a duplicate, never a loss).
	_ = it.src.Ack(it.pub)
}

func (f *flow) worker() {
	defer f.workers.Done()
	for {
		select {
		case <-f.workCtx.Done():
			return
		case it := <-f.queue:
			f.forward(it)
			f.hold(-1)
		}
	}
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

func (f *flow) forward(it item) {
	d := f.cfg
	pub := &paho.Publish{
		QoS:     d.Destination.QoS,
		Topic:   strings.ReplaceAll(d.DestinationTopic, "${inputTopic}", it.pub.Topic),
		Payload: it.pub.Payload,
		Retain:  it.pub.Retain && d.Destination.Retain == RetainKeep,
	}
	if sp := it.pub.Properties; sp != nil {
		pub.Properties = &paho.PublishProperties{
			CorrelationData: sp.CorrelationData, ContentType: sp.ContentType, ResponseTopic: sp.ResponseTopic,
			PayloadFormat: sp.PayloadFormat, MessageExpiry: sp.MessageExpiry, User: sp.User,
		}
	}
	backoff := Backoff(reconnectMin, reconnectMax)
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			f.retries.Add(1)
			f.m.retries.WithLabelValues(d.Name).Inc()
			select {
			case <-f.workCtx.Done():
				return
			case <-time.After(backoff(attempt)):
			}
		}
		if err := f.dst.AwaitConnection(f.workCtx); err != nil {
			return // stopping; the source redelivers the unacknowledged message later
		}
		ctx, cancel := context.WithTimeout(f.workCtx, publishTimeout)
		resp, err := f.dst.Publish(ctx, pub)
		cancel()
		if err != nil {
			if f.workCtx.Err() != nil {
				return
			}
			f.setError(fmt.Errorf("publish to %s: %w", d.Destination, err))
			continue
		}
		if resp != nil && resp.ReasonCode >= 0x80 {
			err := fmt.Errorf("destination %s refused the message on %q with reason 0x%02x", d.Destination, pub.Topic, resp.ReasonCode)
			f.setError(err)
			if permanent(resp.ReasonCode) {
				f.log.Error("message dropped", "error", err)
				f.drop("rejected")
				f.ack(it)
				return
			}
			continue
		}
		f.out.Add(1)
		f.m.out.WithLabelValues(d.Name).Inc()
		f.m.latency.WithLabelValues(d.Name).Observe(time.Since(it.received).Seconds())
		f.ack(it)
		return
	}
}

// stop disconnects cleanly (bounded in time). Messages not yet acknowledged stay in
// the source broker's session.
func (f *flow) stop() {
	f.workStop()
	f.workers.Wait()
	time.Sleep(3 * ackInterval) // let paho flush the PUBACKs of finished messages
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, cm := range []*autopaho.ConnectionManager{f.src, f.dst} {
		if cm == nil {
			continue
		}
		if err := cm.Disconnect(ctx); err != nil && !errors.Is(err, autopaho.ConnectionDownError) {
			errs = append(errs, err)
		}
	}
	f.connStop()
	for _, cm := range []*autopaho.ConnectionManager{f.src, f.dst} {
		if cm == nil {
			continue
		}
		select {
		case <-cm.Done():
		case <-ctx.Done():
		}
	}
	if len(errs) > 0 {
		f.log.Debug("disconnect", "error", errors.Join(errs...))
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
	SourceSubscribed     bool     `json:"sourceSubscribed"` // the source session holds the subscriptions
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
		Retries: f.retries.Load(), QueueDepth: f.held.Load(), LastError: f.lastError.Load().(string),
	}
}
