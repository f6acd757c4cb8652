package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// Broker is one running MQTT broker.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	server  *mqtt.Server
	db      *kvLog
	store   *storeHook
	flow    *flowHook
	attach  *attachHook
	metrics *metrics
	gauges  *gaugeCollector
	reg     prometheus.Registerer

	listeners []*tcpListener
	inproc    *inprocListener

	subID     atomic.Int64
	started   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	stop      chan struct{}
	wg        sync.WaitGroup
}

// StateFile is the name of the broker's state log inside Config.DataDir.
const StateFile = "broker.log"

// New validates cfg, opens the state log and prepares (but does not open) the listeners.
// reg may be nil; otherwise the broker's metrics are registered there (and removed by Close).
func New(cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Limits = cfg.Limits.withDefaults()
	lim := cfg.Limits

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumQos = 1 // AIO's broker does not offer QoS 2 (see doc.go)
	caps.MaximumClients = lim.MaxClients
	caps.MaximumPacketSize = lim.MaxPacketSize
	caps.MaximumInflight = lim.MaxQueuedMessages
	caps.ReceiveMaximum = lim.ReceiveMaximum
	caps.MaximumClientWritesPending = lim.MaxPendingWrites
	caps.MaximumMessageExpiryInterval = int64(lim.MaxMessageExpiry / time.Second)
	caps.MaximumSessionExpiryInterval = uint32(min(int64(lim.MaxSessionExpiry/time.Second), math.MaxUint32))

	// mochi logs every hook and listener at Info; keep only its warnings and errors.
	mlog := slog.New(minLevel{log.Handler(), slog.LevelWarn}).With("component", "mochi")
	server := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		Logger:       mlog,
		// $SYS topics once a minute: nobody here reads them and each tick walks all clients.
		SysTopicResendInterval: 60,
		InlineClient:           true,
		// One TLS record's worth (mochi's default is 2 KiB each): with 1 KB messages a
		// 2 KiB read buffer meant a read(2) per message and a 2 KiB write buffer a TLS
		// record per two deliveries. The write buffer is only used while deliveries queue.
		ClientNetReadBufferSize:  16 << 10,
		ClientNetWriteBufferSize: 16 << 10,
	})
	// A delivery of a message that came alone to a subscriber that is keeping up is
	// written on the publisher's goroutine instead of waking mochi's per-client write
	// goroutine (a patch in third_party/mochi-mqtt-server; ackconn.go decides).
	server.Options.WriteInline = writeInline(server)

	var dbPath string
	if cfg.DataDir != "" {
		dbPath = filepath.Join(cfg.DataDir, StateFile)
	}
	db, err := openKVLog(dbPath)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		names = append(names, l.Name)
	}
	b := &Broker{
		cfg: cfg, log: log, server: server, db: db, reg: reg,
		metrics: newMetrics(names...),
		stop:    make(chan struct{}),
	}
	b.gauges = newGaugeCollector(b)

	b.store = &storeHook{db: db}
	modes := map[string]AuthMode{}
	for _, l := range cfg.Listeners {
		modes[l.Name] = l.Auth
	}
	auth := &authHook{modes: modes, metrics: b.metrics, log: log}
	// The flow hook holds a publisher before its message is recorded and acknowledged;
	// then the store hook records it before anything else sees it.
	b.flow = newFlowHook(server, int(lim.HoldPublishersAt), int(lim.MaxQueuedMessages), int(lim.MaxPendingWrites))
	if err := server.AddHook(b.flow, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("add broker flow hook: %w", err)
	}
	if err := server.AddHook(b.store, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("add broker store hook: %w", err)
	}
	// Attached consumers (attach.go) see a message once it is recorded; their handler may
	// hold the publisher, so this comes before the gate (a held publish must not count as
	// being routed, which would delay session resumptions).
	if b.attach, err = newAttachHook(db, int(lim.MaxQueuedMessages)); err != nil {
		db.Close()
		return nil, err
	}
	if err := server.AddHook(b.attach, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("add broker attach hook: %w", err)
	}
	// After every other OnPublish hook: only messages that will be routed pass the gate.
	if err := server.AddHook(newTakeoverGate(server), nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("add broker takeover hook: %w", err)
	}
	if err := server.AddHook(auth, nil); err != nil {
		db.Close()
		return nil, fmt.Errorf("add broker auth hook: %w", err)
	}

	for _, l := range cfg.Listeners {
		tl := &tcpListener{id: l.Name, addr: l.Addr, timeout: lim.HandshakeTimeout, log: log, metrics: b.metrics, db: db}
		if l.TLS != nil {
			tc, err := l.TLS.serverConfig(l.Auth)
			if err != nil {
				db.Close()
				return nil, fmt.Errorf("broker listener %q: %w", l.Name, err)
			}
			tl.tlsConfig = tc
		}
		b.listeners = append(b.listeners, tl)
	}
	b.inproc = newInprocListener(db)
	return b, nil
}

// Start opens the listeners, restores the persisted sessions and starts serving. It
// returns once the broker accepts connections; cancelling ctx closes the broker.
func (b *Broker) Start(ctx context.Context) error {
	if !b.started.CompareAndSwap(false, true) {
		return errors.New("broker already started")
	}
	if b.reg != nil {
		for _, c := range append(b.metrics.collectors(), b.gauges) {
			if err := b.reg.Register(c); err != nil {
				b.unregister()
				return fmt.Errorf("register broker metrics: %w", err)
			}
		}
	}
	for _, l := range b.listeners {
		if err := b.server.AddListener(l); err != nil {
			b.closeListenersOnly()
			return fmt.Errorf("open broker listener %q on %s: %w; is another process using the port?", l.id, l.addr, err)
		}
	}
	if err := b.server.AddListener(b.inproc); err != nil {
		b.closeListenersOnly()
		return fmt.Errorf("open in-process listener: %w", err)
	}
	if err := b.server.Serve(); err != nil {
		b.closeListenersOnly()
		return fmt.Errorf("start broker (restoring state from %s): %w", b.cfg.DataDir, err)
	}
	if err := b.replayPending(); err != nil {
		b.log.Error("re-routing messages pending at the last stop failed", "error", err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		t := time.NewTicker(b.cfg.Limits.SyncInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				go b.Close()
				return
			case <-b.stop:
				return
			case <-t.C:
				if err := b.db.Sync(); err != nil {
					b.log.Error("sync broker state failed", "error", err)
				}
			}
		}
	}()
	attrs := []any{}
	for _, l := range b.listeners {
		attrs = append(attrs, l.id, l.Address())
	}
	b.log.Info("broker started", attrs...)
	return nil
}

// replayPending routes the messages that were acknowledged to their publisher but not
// yet copied into subscriber sessions when the broker last stopped (see store.go).
func (b *Broker) replayPending() error {
	msgs, err := b.store.pending()
	if err != nil {
		return err
	}
	for _, m := range msgs {
		pk := m.ToPacket()
		if err := b.server.Publish(pk.TopicName, pk.Payload, pk.FixedHeader.Retain, pk.FixedHeader.Qos); err != nil {
			return fmt.Errorf("re-route message on %q: %w", pk.TopicName, err)
		}
		b.store.del(m.ID)
	}
	if len(msgs) > 0 {
		b.log.Info("re-routed messages pending at the last stop", "count", len(msgs))
	}
	return nil
}

func (b *Broker) closeListenersOnly() {
	b.server.Listeners.CloseAll(func(string) {})
	b.unregister()
}

func (b *Broker) unregister() {
	if b.reg == nil {
		return
	}
	for _, c := range append(b.metrics.collectors(), b.gauges) {
		b.reg.Unregister(c)
	}
}

// Close disconnects every client, waits (bounded) for their goroutines so that their
// last state changes reach the log, then syncs and closes the log. Safe to call twice.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		close(b.stop)
		if b.started.Load() {
			b.server.Listeners.CloseAll(func(id string) {
				for _, cl := range b.server.Clients.GetByListener(id) {
					// A client that does not read must not stall the shutdown.
					if cl.Net.Conn != nil {
						_ = cl.Net.Conn.SetWriteDeadline(time.Now().Add(time.Second))
					}
					_ = b.server.DisconnectClient(cl, packets.ErrServerShuttingDown)
				}
			})
			done := make(chan struct{})
			go func() { b.server.Listeners.ClientsWg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				b.log.Warn("clients did not finish within 5s of shutdown; closing the state log anyway")
			}
			_ = b.server.Close()
		}
		b.wg.Wait()
		b.closeErr = b.db.Close()
		b.unregister()
		if b.started.Load() {
			b.log.Info("broker stopped")
		}
	})
	return b.closeErr
}

// Addr returns the bound address of the named listener (useful with port 0), or "".
func (b *Broker) Addr(name string) string {
	for _, l := range b.listeners {
		if l.id == name {
			return l.Address()
		}
	}
	return ""
}

// Publish publishes a message from inside the process (the broker's inline client).
// With qos 1 subscribers receive it at QoS 1 and it is queued in their sessions.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	if qos > 1 {
		qos = 1
	}
	return b.server.Publish(topic, payload, retain, qos)
}

// Message is what an in-process subscriber receives.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Subscribe registers an in-process handler for filter. It is called synchronously on
// the publishing client's goroutine, so it must not block; it carries no
// acknowledgement and no persistence — for at-least-once consumption use DialInProcess
// and a persistent MQTT session instead. The returned function unsubscribes.
func (b *Broker) Subscribe(filter string, fn func(Message)) (func(), error) {
	id := int(b.subID.Add(1))
	err := b.server.Subscribe(filter, id, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		fn(Message{Topic: pk.TopicName, Payload: append([]byte(nil), pk.Payload...), QoS: pk.FixedHeader.Qos, Retain: pk.FixedHeader.Retain})
	})
	if err != nil {
		return nil, fmt.Errorf("subscribe in-process to %q: %w", filter, err)
	}
	return func() { _ = b.server.Unsubscribe(filter, id) }, nil
}

// DialInProcess returns a connection to the broker that does not touch the network:
// speak MQTT over it (for example with paho). Its clients are trusted (no
// authentication) and get the same persistent sessions as network clients.
func (b *Broker) DialInProcess(ctx context.Context) (net.Conn, error) {
	return b.inproc.dial(ctx)
}

// Stats is a point-in-time view of the broker for /status.
type Stats struct {
	Listeners      []ListenerStats `json:"listeners"`
	Sessions       int             `json:"sessions"`
	QueueDepth     int64           `json:"queueDepth"`
	Retained       int64           `json:"retained"`
	Received       int64           `json:"messagesReceived"`
	Sent           int64           `json:"messagesSent"`
	Dropped        int64           `json:"messagesDropped"`
	QueueFullDrops int64           `json:"queueFullDrops"`
}

// ListenerStats describes one listener.
type ListenerStats struct {
	Name        string   `json:"name"`
	Address     string   `json:"address"`
	TLS         bool     `json:"tls"`
	Auth        AuthMode `json:"authentication"`
	Connections int      `json:"connections"`
}

// Stats returns the current broker statistics.
func (b *Broker) Stats() Stats {
	info := b.server.Info.Clone()
	st := Stats{
		Retained:       info.Retained,
		Received:       info.MessagesReceived,
		Sent:           info.MessagesSent,
		Dropped:        info.MessagesDropped + info.InflightDropped + b.attach.dropped.Load(),
		QueueFullDrops: info.InflightDropped + b.attach.dropped.Load(),
	}
	for _, n := range b.Consumers() {
		st.QueueDepth += n // stored for attached consumers (the dataflows)
	}
	conns := map[string]int{}
	for _, cl := range b.server.Clients.GetAll() {
		if cl.Net.Inline {
			continue
		}
		st.Sessions++
		st.QueueDepth += int64(cl.State.Inflight.Len())
		if !cl.Closed() {
			conns[cl.Net.Listener]++
		}
	}
	for i, l := range b.cfg.Listeners {
		st.Listeners = append(st.Listeners, ListenerStats{
			Name: l.Name, Address: b.listeners[i].Address(), TLS: l.TLS != nil,
			Auth: authOrDefault(l.Auth), Connections: conns[l.Name],
		})
	}
	if n := conns[inprocListenerID]; n > 0 {
		st.Listeners = append(st.Listeners, ListenerStats{Name: inprocListenerID, Address: "in-process", Auth: AuthAnonymous, Connections: n})
	}
	sort.SliceStable(st.Listeners, func(i, j int) bool { return st.Listeners[i].Name < st.Listeners[j].Name })
	return st
}

func authOrDefault(a AuthMode) AuthMode {
	if a == "" {
		return AuthAnonymous
	}
	return a
}

// minLevel drops records below a level (mochi's chatter) and passes the rest on.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.level && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{m.Handler.WithAttrs(a), m.level}
}
func (m minLevel) WithGroup(g string) slog.Handler { return minLevel{m.Handler.WithGroup(g), m.level} }
