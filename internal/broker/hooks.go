package broker

import (
	"crypto/tls"
	"log/slog"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// authHook authenticates CONNECT packets per listener and counts traffic.
//
// On X509 listeners the TLS layer already refused every client without a valid chain;
// here we only turn the verified leaf into the client identity. The check is repeated
// (a verified chain must exist) so that a configuration mistake can never turn an X509
// listener into an anonymous one.
type authHook struct {
	mqtt.HookBase
	modes   map[string]AuthMode // listener id → mode
	metrics *metrics
	log     *slog.Logger
}

func (h *authHook) ID() string { return "dualpeer-auth" }

func (h *authHook) Provides(b byte) bool {
	// A switch, not bytes.Contains: mochi asks every hook on every event of every packet.
	switch b {
	case mqtt.OnConnectAuthenticate,
		mqtt.OnConnect,
		mqtt.OnSessionEstablished,
		mqtt.OnACLCheck,
		mqtt.OnPublished,
		mqtt.OnPacketSent,
		mqtt.OnPublishDropped,
		mqtt.OnQosDropped:
		return true
	}
	return false
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	listener := cl.Net.Listener
	if listener == inprocListenerID {
		return true
	}
	switch h.modes[listener] {
	case AuthX509:
		tc, ok := cl.Net.Conn.(*tls.Conn)
		if !ok {
			h.refuse(cl, "not a TLS connection")
			return false
		}
		cs := tc.ConnectionState()
		if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
			h.refuse(cl, "no verified client certificate")
			return false
		}
		// The subject CN is the identity, as AIO's X509 authentication does; a
		// username in CONNECT is ignored rather than trusted.
		cl.Properties.Username = []byte(cs.VerifiedChains[0][0].Subject.CommonName)
		return true
	case AuthAnonymous, "":
		return true
	default:
		h.refuse(cl, "unknown listener")
		return false
	}
}

// OnConnect and OnSessionEstablished switch off mochi's send-quota queue. mochi
// 2.7.9 holds messages beyond a client's Receive Maximum in the session and sends them
// as acknowledgements free the quota — but then deletes them from the in-flight store
// (server.go processPacket, NextImmediate), so a client that disconnects before
// acknowledging loses them, and the quota leaks until messages stall. Losing
// acknowledged QoS 1 messages is worse than exceeding a client's Receive Maximum, so
// the broker sends every queued message at once, bounded by Limits.MaxQueuedMessages.
// Both hooks are needed: a resumed session resets the quota after OnConnect.
func (h *authHook) OnConnect(cl *mqtt.Client, _ packets.Packet) error {
	cl.State.Inflight.ResetSendQuota(0)
	return nil
}

func (h *authHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	cl.State.Inflight.ResetSendQuota(0)
}

func (h *authHook) refuse(cl *mqtt.Client, why string) {
	h.metrics.authFailures.WithLabelValues(cl.Net.Listener).Inc()
	h.log.Info("MQTT client refused", "listener", cl.Net.Listener, "client_id", cl.ID, "remote", cl.Net.Remote, "reason", why)
}

// OnACLCheck allows everything: AIO's BrokerAuthorization is not part of the spec's
// resources, and an authenticated client may use every topic.
func (h *authHook) OnACLCheck(*mqtt.Client, string, bool) bool { return true }

func (h *authHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	h.metrics.child(h.metrics.receivedBy, h.metrics.received, listenerLabel(cl)).Inc()
}

func (h *authHook) OnPacketSent(cl *mqtt.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Publish {
		h.metrics.child(h.metrics.sentBy, h.metrics.sent, listenerLabel(cl)).Inc()
	}
}

func (h *authHook) OnPublishDropped(cl *mqtt.Client, _ packets.Packet) {
	h.metrics.dropped.WithLabelValues("slow_consumer").Inc()
}

func (h *authHook) OnQosDropped(cl *mqtt.Client, _ packets.Packet) {
	if cl.IsTakenOver() {
		return // handed over to the new session, not dropped
	}
	h.metrics.dropped.WithLabelValues("expired").Inc()
}

func listenerLabel(cl *mqtt.Client) string {
	if cl.Net.Inline {
		return "inline"
	}
	return cl.Net.Listener
}

// metrics are the broker's Prometheus series. Gauges read mochi's counters at scrape
// time (collector), so there is no second bookkeeping to drift.
type metrics struct {
	handshakeFailures *prometheus.CounterVec
	authFailures      *prometheus.CounterVec
	received          *prometheus.CounterVec
	sent              *prometheus.CounterVec
	dropped           *prometheus.CounterVec

	// Per-listener children of received and sent, looked up once: WithLabelValues
	// hashes the label and takes a lock, twice per message. Read-only after newMetrics.
	receivedBy, sentBy map[string]prometheus.Counter
}

// newMetrics creates the series; listeners are the label values known in advance.
func newMetrics(listeners ...string) *metrics {
	m := newMetricVecs()
	m.receivedBy, m.sentBy = map[string]prometheus.Counter{}, map[string]prometheus.Counter{}
	for _, l := range append(listeners, "inline", inprocListenerID) {
		m.receivedBy[l] = m.received.WithLabelValues(l)
		m.sentBy[l] = m.sent.WithLabelValues(l)
	}
	return m
}

func (m *metrics) child(cached map[string]prometheus.Counter, vec *prometheus.CounterVec, label string) prometheus.Counter {
	if c, ok := cached[label]; ok {
		return c
	}
	return vec.WithLabelValues(label)
}

func newMetricVecs() *metrics {
	return &metrics{
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_broker_tls_handshake_failures_total",
			Help: "TLS handshakes refused (no, untrusted, expired or unsuitable client certificate; timeouts).",
		}, []string{"listener"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_broker_auth_failures_total",
			Help: "MQTT CONNECTs refused by authentication.",
		}, []string{"listener"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_broker_messages_received_total",
			Help: "PUBLISH packets accepted from clients.",
		}, []string{"listener"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_broker_messages_sent_total",
			Help: "PUBLISH packets written to clients (including redeliveries).",
		}, []string{"listener"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dualpeer_broker_messages_dropped_total",
			Help: "Messages dropped by the bounded-queue policy (slow_consumer, expired, queue_full).",
		}, []string{"reason"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.handshakeFailures, m.authFailures, m.received, m.sent, m.dropped}
}

// gaugeCollector exposes live broker gauges.
type gaugeCollector struct {
	b           *Broker
	connections *prometheus.Desc
	inflight    *prometheus.Desc
	retained    *prometheus.Desc
	sessions    *prometheus.Desc
	queueFull   *prometheus.Desc
}

func newGaugeCollector(b *Broker) *gaugeCollector {
	return &gaugeCollector{
		b:           b,
		connections: prometheus.NewDesc("dualpeer_broker_connections", "Connected MQTT clients.", []string{"listener"}, nil),
		inflight:    prometheus.NewDesc("dualpeer_broker_queue_depth", "QoS 1 messages held for clients (unacknowledged or queued).", nil, nil),
		retained:    prometheus.NewDesc("dualpeer_broker_retained_messages", "Retained messages.", nil, nil),
		sessions:    prometheus.NewDesc("dualpeer_broker_sessions", "Sessions, connected or persisted.", nil, nil),
		queueFull:   prometheus.NewDesc("dualpeer_broker_queue_full_drops_total", "Messages dropped because a session queue was full.", nil, nil),
	}
}

func (c *gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.connections
	ch <- c.inflight
	ch <- c.retained
	ch <- c.sessions
	ch <- c.queueFull
}

func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Stats()
	for _, l := range st.Listeners {
		ch <- prometheus.MustNewConstMetric(c.connections, prometheus.GaugeValue, float64(l.Connections), l.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.inflight, prometheus.GaugeValue, float64(st.QueueDepth))
	ch <- prometheus.MustNewConstMetric(c.retained, prometheus.GaugeValue, float64(st.Retained))
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(st.Sessions))
	ch <- prometheus.MustNewConstMetric(c.queueFull, prometheus.CounterValue, float64(st.QueueFullDrops))
}
