package dataflow

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/broker"
	"github.com/dualpeer/dualpeer/internal/broker/testpki"
	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/prometheus/client_golang/prometheus"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func TestFilter(t *testing.T) {
	tests := map[string]struct {
		rule    FilterRule
		payload string
		keep    bool
	}{
		"drop above threshold":    {FilterRule{Inputs: []string{"temperature"}, Expression: "$1 > 20"}, `{"temperature":25}`, false},
		"keep below threshold":    {FilterRule{Inputs: []string{"temperature"}, Expression: "$1 > 20"}, `{"temperature":15}`, true},
		"nested path":             {FilterRule{Inputs: []string{"a.b"}, Expression: "$1 == \"x\""}, `{"a":{"b":"x"}}`, false},
		"and":                     {FilterRule{Inputs: []string{"t", "h"}, Expression: "$1 > 1 && $2 < 5"}, `{"t":2,"h":9}`, true},
		"or":                      {FilterRule{Inputs: []string{"t", "h"}, Expression: "$1 > 10 || $2 < 5"}, `{"t":2,"h":3}`, false},
		"compare inputs":          {FilterRule{Inputs: []string{"t", "h"}, Expression: "$1 >= $2"}, `{"t":3,"h":3}`, false},
		"missing field keeps":     {FilterRule{Inputs: []string{"nope"}, Expression: "$1 > 1"}, `{"t":2}`, true},
		"non-JSON keeps":          {FilterRule{Inputs: []string{"t"}, Expression: "$1 > 1"}, `not json`, true},
		"type mismatch keeps":     {FilterRule{Inputs: []string{"t"}, Expression: "$1 > 1"}, `{"t":"hot"}`, true},
		"boolean literal matches": {FilterRule{Inputs: []string{"on"}, Expression: "$1 == true"}, `{"on":true}`, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tr, err := newTransformer(Dataflow{Filter: []FilterRule{tc.rule}})
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.keep([]byte(tc.payload)); got != tc.keep {
				t.Fatalf("keep(%s) = %v, want %v", tc.payload, got, tc.keep)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	local := Endpoint{Name: "default", Local: true}
	tests := map[string]struct {
		d    Dataflow
		want []string
	}{
		"ok": {d: Dataflow{Name: "f", Source: local, SourceTopics: []string{"input"}, Destination: Endpoint{Name: "r", Host: "10.2.1.4:28883"}, DestinationTopic: "output"}},
		"everything wrong": {
			d: Dataflow{Name: "f", Source: local, Destination: Endpoint{Name: "r", Host: "nohost", QoS: 2, ClientCertPEM: []byte("x"), TLS: true, TrustedCAPEM: []byte("junk")},
				Map: []MapRule{{Type: "Compute"}}, Filter: []FilterRule{{Inputs: []string{"a"}, Expression: "$3 > 1"}}},
			want: []string{"no dataSources", "empty dataDestination", "Compute", "$3 does not name", "not host:port", "qos 2", "must both be set", "no PEM certificate"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.d.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("want errors")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestBackoffBounded(t *testing.T) {
	b := Backoff(100*time.Millisecond, time.Second)
	for n := 1; n < 50; n++ {
		d := b(n)
		if d <= 0 || d > time.Second {
			t.Fatalf("attempt %d: %v outside (0, 1s]", n, d)
		}
	}
	if d := b(1); d > 100*time.Millisecond || d < 50*time.Millisecond {
		t.Fatalf("first attempt %v, want within [50ms, 100ms]", d)
	}
}

// rig is two brokers on loopback: A (server: X509 listener) and B (client: source of
// the dataflow), an engine on B forwarding input → output, a publisher on B and a
// persistent subscriber on A.
type rig struct {
	t      testing.TB
	set    *testpki.Set
	aCfg   broker.Config
	mu     sync.Mutex
	a      *broker.Broker
	b      *broker.Broker
	engine *Engine
	reg    *prometheus.Registry
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// sourceModes are the two ways a dataflow reads the local broker: attached (the
// default, broker.Attach) and as an MQTT client over DialInProcess (what a local source
// does without an Attacher; the code path remote sources use).
var sourceModes = []struct {
	name   string
	attach bool
}{{"attached", true}, {"mqtt-session", false}}

// eachSourceMode runs test once per source mode.
func eachSourceMode(t *testing.T, test func(t *testing.T, attach bool)) {
	for _, m := range sourceModes {
		t.Run(m.name, func(t *testing.T) { test(t, m.attach) })
	}
}

func newRig(t testing.TB) *rig { return newRigWith(t, true) }

func newRigWith(t testing.TB, attach bool) *rig {
	r := &rig{t: t, set: testpki.NewSet(t), reg: prometheus.NewRegistry()}
	r.aCfg = broker.Config{DataDir: t.TempDir(), Listeners: []broker.Listener{{
		Name: "default-loadbalancer", Addr: freeAddr(t), Auth: broker.AuthX509,
		TLS: &broker.TLSConfig{CertPEM: r.set.ServerCert, KeyPEM: r.set.ServerKey, ClientCAPEM: r.set.ClientRoot.PEM},
	}}}
	r.startA()
	var err error
	r.b, err = broker.New(broker.Config{DataDir: t.TempDir(), Listeners: []broker.Listener{{Name: "default", Addr: "127.0.0.1:0"}}}, testLogger(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	local := Local{Dial: r.b.DialInProcess}
	if attach {
		local.Attach = r.b
	}
	r.engine, err = NewEngine(local, testLogger(), r.reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.engine.Close()
		r.b.Close()
		r.mu.Lock()
		if r.a != nil {
			r.a.Close()
		}
		r.mu.Unlock()
	})
	flow := Dataflow{
		Name:         "site-to-enterprise-cert-auth",
		Source:       Endpoint{Name: "default", Local: true},
		SourceTopics: []string{"input"},
		Map:          []MapRule{{Type: "PassThrough", Inputs: []string{"*"}, Output: "*"}},
		Destination: Endpoint{
			Name: "mqtt-cert-auth", Host: r.aCfg.Listeners[0].Addr, TLS: true, TrustedCAPEM: r.set.ServerRoot.PEM,
			ClientCertPEM: r.set.ClientCert, ClientKeyPEM: r.set.ClientKey, ClientIDPrefix: "client-cert-auth",
			KeepAlive: 60 * time.Second, MaxInflight: 100, QoS: 1, Retain: RetainKeep, SessionExpiry: time.Hour,
		},
		DestinationTopic: "output",
	}
	if err := r.engine.Apply(context.Background(), []Dataflow{flow}); err != nil {
		t.Fatal(err)
	}
	// Publishing before the dataflow's source session subscribed would route the first
	// messages to nobody (that is MQTT, not a loss by the dataflow): wait, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := r.engine.Status()
		if len(st) == 1 && st[0].SourceSubscribed && st[0].DestinationConnected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dataflow not ready after 10s: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r
}

func (r *rig) startA() {
	a, err := broker.New(r.aCfg, testLogger(), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.a = a
	r.mu.Unlock()
}

func (r *rig) stopA() {
	r.mu.Lock()
	a := r.a
	r.a = nil
	r.mu.Unlock()
	if err := a.Close(); err != nil {
		r.t.Fatal(err)
	}
}

// dialA reaches whatever broker A is currently running, in-process.
func (r *rig) dialA(ctx context.Context) (net.Conn, error) {
	r.mu.Lock()
	a := r.a
	r.mu.Unlock()
	if a == nil {
		return nil, fmt.Errorf("broker A is down")
	}
	return a.DialInProcess(ctx)
}

// receiver subscribes to A's output with a persistent session (so messages arriving
// while it reconnects after A's restart are kept) and counts what arrives.
type receiver struct {
	mu       sync.Mutex
	seen     map[int]int
	dups     int
	received int
}

func (r *rig) receive(ctx context.Context) *receiver {
	rc := &receiver{seen: map[int]int{}}
	ready := make(chan struct{})
	var once sync.Once
	u, _ := url.Parse("mqtt://in-process")
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, SessionExpiryInterval: 3600,
		CleanStartOnInitialConnection: false,
		ReconnectBackoff:              autopaho.NewConstantBackoff(100 * time.Millisecond),
		AttemptConnection: func(ctx context.Context, _ autopaho.ClientConfig, _ *url.URL) (net.Conn, error) {
			return r.dialA(ctx)
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ca *paho.Connack) {
			r.t.Logf("receiver: connection up, session present %v", ca.SessionPresent)
			go func() {
				sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "output", QoS: 1}}}); err == nil {
					once.Do(func() { close(ready) })
				}
			}()
		},
		OnConnectionDown: func() bool { r.t.Logf("receiver: connection down"); return true },
		PahoErrors:       tlog{r.t, "paho"},
		Errors:           tlog{r.t, "autopaho"},
		ClientConfig: paho.ClientConfig{
			ClientID: "enterprise-reader",
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				n, err := strconv.Atoi(string(pr.Packet.Payload))
				if err != nil {
					return true, nil
				}
				rc.mu.Lock()
				if rc.received%5000 == 4999 {
					r.t.Logf("receiver: %d received, this one n=%d id=%d", rc.received, n, pr.Packet.PacketID)
				}
				rc.received++
				rc.seen[n]++
				if rc.seen[n] > 1 {
					rc.dups++
				}
				rc.mu.Unlock()
				return true, nil
			}},
		},
	}
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = cm.Disconnect(dctx)
	})
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		r.t.Fatal("receiver on A never subscribed")
	}
	return rc
}

func (rc *receiver) unique() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

// publisher publishes n QoS 1 messages (payload = sequence number) to B's input over
// an in-process connection; hook runs before message i (for outages).
func (r *rig) publish(ctx context.Context, n int, hook func(i int)) (acked int) {
	conn, err := r.b.DialInProcess(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "site-sensor", KeepAlive: 30, CleanStart: true}); err != nil {
		r.t.Fatal(err)
	}
	defer c.Disconnect(&paho.Disconnect{})
	for i := range n {
		if hook != nil {
			hook(i)
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := c.Publish(pctx, &paho.Publish{Topic: "input", QoS: 1, Payload: []byte(strconv.Itoa(i))})
		cancel()
		if err != nil {
			r.t.Fatalf("publish %d to B: %v", i, err)
		}
		if resp.ReasonCode < 0x80 {
			acked++
		}
	}
	return acked
}

// waitAll waits (bounded) until every sequence number arrived.
func (rc *receiver) waitAll(t testing.TB, n int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for rc.unique() < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

func (rc *receiver) report(t testing.TB, sent, acked int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	lost := 0
	for i := range sent {
		if rc.seen[i] == 0 {
			lost++
		}
	}
	t.Logf("sent=%d acked=%d received=%d unique=%d lost=%d duplicates=%d", sent, acked, rc.received, len(rc.seen), lost, rc.dups)
	if lost > 0 {
		t.Errorf("%d of %d QoS 1 messages were lost", lost, sent)
	}
}

// TestTwoBrokersQoS1: messages published on B's input arrive on A's output through
// the dataflow over mutual TLS.
func TestTwoBrokersQoS1(t *testing.T) { eachSourceMode(t, testTwoBrokersQoS1) }

func testTwoBrokersQoS1(t *testing.T, attach bool) {
	r := newRigWith(t, attach)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rc := r.receive(ctx)
	const n = 300
	acked := r.publish(ctx, n, nil)
	rc.waitAll(t, n, 30*time.Second)
	rc.report(t, n, acked)
	st := r.engine.Status()
	if len(st) != 1 || st[0].MessagesOut < n || !st[0].DestinationConnected {
		t.Errorf("status = %+v", st)
	}
	// A saw the dataflow's client as "client" (the certificate CN) on the X509 listener.
	r.mu.Lock()
	stats := r.a.Stats()
	r.mu.Unlock()
	if stats.Listeners[0].Connections < 1 {
		t.Errorf("A's X509 listener shows no connection: %+v", stats)
	}
}

// TestTwoBrokersQoS1WithOutage stops A for 5 s in the middle of the stream: every
// message still arrives (duplicates allowed, counted).
func TestTwoBrokersQoS1WithOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("5 s outage; skipped with -short")
	}
	eachSourceMode(t, testTwoBrokersQoS1WithOutage)
}

func testTwoBrokersQoS1WithOutage(t *testing.T, attach bool) {
	r := newRigWith(t, attach)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rc := r.receive(ctx)
	const n = 600
	var restarted sync.WaitGroup
	acked := r.publish(ctx, n, func(i int) {
		if i == n/3 {
			r.stopA()
			t.Logf("A stopped after %d messages; B keeps accepting", i)
			restarted.Add(1)
			go func() {
				defer restarted.Done()
				time.Sleep(5 * time.Second)
				r.startA()
				t.Log("A restarted")
			}()
		}
		if i >= n/3 {
			time.Sleep(8 * time.Millisecond) // spread the rest of the stream over the outage
		}
	})
	restarted.Wait()
	rc.waitAll(t, n, 45*time.Second)
	r.mu.Lock()
	t.Logf("A stats: %+v", r.a.Stats())
	t.Logf("B stats: %+v", r.b.Stats())
	r.mu.Unlock()
	rc.report(t, n, acked)
	st := r.engine.Status()
	t.Logf("dataflow: in=%d out=%d retries=%d dropped=%d queue=%d last error: %s", st[0].MessagesIn, st[0].MessagesOut, st[0].Retries, st[0].Dropped, st[0].QueueDepth, st[0].LastError)
}

// BenchmarkDataflowQoS1 measures end-to-end QoS 1 forwarding B → dataflow (mTLS) → A
// on loopback: from publishing on B to receipt on A.
func BenchmarkDataflowQoS1(b *testing.B) {
	r := newRig(b)
	ctx := context.Background()
	rc := r.receive(ctx)
	conn, err := r.b.DialInProcess(ctx)
	if err != nil {
		b.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "bench-pub", KeepAlive: 30, CleanStart: true}); err != nil {
		b.Fatal(err)
	}
	payload := bytes.Repeat([]byte("1"), 8)
	b.ResetTimer()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // pipeline publishes like a real sensor fleet would
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := c.Publish(ctx, &paho.Publish{Topic: "input", QoS: 1, Payload: payload}); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(60 * time.Second)
	for {
		rc.mu.Lock()
		got := rc.received
		rc.mu.Unlock()
		if got >= b.N || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
}

type tlog struct {
	t   testing.TB
	who string
}

func (l tlog) Println(v ...any)          { l.t.Log(append([]any{l.who + ":"}, v...)...) }
func (l tlog) Printf(f string, v ...any) { l.t.Logf(l.who+": "+f, v...) }

// publisher connects a publisher to B's input (in-process, clean session).
func (r *rig) publisher(ctx context.Context, id string) *paho.Client {
	conn, err := r.b.DialInProcess(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// publishAsync publishes n messages (payloads first … first+n-1) as fast as B's broker
// accepts them: paho's asynchronous send, up to B's Receive Maximum in flight; the
// last one waits for its PUBACK.
func (r *rig) publishAsync(ctx context.Context, c *paho.Client, first, n int, qos byte) {
	for i := first; i < first+n; i++ {
		opts := paho.PublishOptions{Method: paho.PublishMethod_AsyncSend}
		if i == first+n-1 {
			opts.Method = paho.PublishMethod_Blocking
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.PublishWithOptions(pctx, &paho.Publish{Topic: "input", QoS: qos, Payload: []byte(strconv.Itoa(i))}, opts)
		cancel()
		if err != nil {
			r.t.Fatalf("publish %d to B: %v", i, err)
		}
	}
}

// TestOverloadThenPaced overloads the link — a burst published far faster than the
// destination accepts it: A is down, so all of it queues in B for the dataflow (its
// session, or its attachment's stored messages and queue) — then, while that backlog
// drains, cuts the dataflow's source (the MQTT connection: the broker redelivers
// everything unacknowledged; attached: the dataflow is restarted and re-attaches, and
// the broker hands over everything not yet acknowledged by A) and publishes a paced stream.
// Every QoS 1 message of both must arrive, and duplicates stay bounded: the early
// benchmark's livelock (the same window forwarded again and again, 150,000+
// duplicates, the paced run starved) must not come back.
func TestOverloadThenPaced(t *testing.T) { eachSourceMode(t, testOverloadThenPaced) }

func testOverloadThenPaced(t *testing.T, attach bool) {
	r := newRigWith(t, attach)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rc := r.receive(ctx)
	const burst, paced = 8000, 400
	r.stopA()
	c := r.publisher(ctx, "site-burst")
	start := time.Now()
	r.publishAsync(ctx, c, 0, burst, 1)
	t.Logf("burst of %d accepted by B in %v while A is down", burst, time.Since(start))
	r.startA()
	r.engine.mu.Lock()
	f := r.engine.flows["site-to-enterprise-cert-auth"]
	r.engine.mu.Unlock()
	for i := range paced {
		if i == paced/4 {
			t.Logf("cutting the dataflow's source with %d of %d received", rc.unique(), burst+i)
			if attach {
				// A changed dataflow is stopped and started again (Engine.Apply).
				d := f.cfg
				d.Window++
				if err := r.engine.Apply(ctx, []Dataflow{d}); err != nil {
					t.Fatal(err)
				}
			} else {
				f.src.TerminateConnectionForTest()
			}
		}
		r.publishAsync(ctx, c, burst+i, 1, 1) // blocking: one at a time, every 2 ms
		time.Sleep(2 * time.Millisecond)
	}
	rc.waitAll(t, burst+paced, 45*time.Second)
	st := r.engine.Status()[0]
	t.Logf("dataflow: in=%d out=%d retries=%d dropped=%d queue=%d last error: %s", st.MessagesIn, st.MessagesOut, st.Retries, st.Dropped, st.QueueDepth, st.LastError)
	t.Logf("B stats: %+v", r.b.Stats())
	rc.report(t, burst+paced, burst+paced)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.dups > burst+paced {
		t.Errorf("%d duplicates for %d messages: redelivery is feeding on itself", rc.dups, burst+paced)
	}
}

// TestAppendPublish: the hand-written PUBLISH encoder produces what paho decodes.
func TestAppendPublish(t *testing.T) {
	exp := uint32(30)
	props := (&packets.Properties{ContentType: "application/json", MessageExpiry: &exp, User: []packets.User{{Key: "k", Value: "v"}}}).Pack(packets.PUBLISH)
	tests := map[string]struct {
		m   outMsg
		id  uint16
		dup bool
	}{
		"qos 1":                 {m: outMsg{topic: "output", payload: []byte("42"), qos: 1}, id: 7},
		"qos 0 retain":          {m: outMsg{topic: "a/b", payload: []byte("x"), retain: true}},
		"dup with properties":   {m: outMsg{topic: "t", payload: bytes.Repeat([]byte("p"), 300), qos: 1, props: props}, id: 65535, dup: true},
		"empty payload, 2-byte": {m: outMsg{topic: strings.Repeat("t", 200), qos: 1}, id: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := appendPublish(nil, tc.id, tc.m, tc.dup)
			cp, err := packets.ReadPacket(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			p, ok := cp.Content.(*packets.Publish)
			if !ok {
				t.Fatalf("decoded %T", cp.Content)
			}
			wantID := tc.id
			if tc.m.qos == 0 {
				wantID = 0
			}
			if p.Topic != tc.m.topic || !bytes.Equal(p.Payload, tc.m.payload) || p.QoS != tc.m.qos || p.Retain != tc.m.retain ||
				p.Duplicate != (tc.dup && tc.m.qos > 0) || p.PacketID != wantID {
				t.Fatalf("decoded %+v, want %+v id %d", p, tc.m, wantID)
			}
			if tc.m.props != nil && (p.Properties.ContentType != "application/json" || len(p.Properties.User) != 1) {
				t.Fatalf("properties %+v", p.Properties)
			}
		})
	}
}

// TestEngineForgetsDeletedDataflows: a dataflow deleted while the agent was down left a
// declared consumer with stored messages in B's broker; the next Apply removes it (the
// broker would otherwise keep storing messages for nobody), and keeps the running one's.
func TestEngineForgetsDeletedDataflows(t *testing.T) {
	r := newRig(t)
	if _, err := r.b.Attach(attachName("deleted-meanwhile"), []string{"input"}, 1, func(broker.Delivery, broker.Publisher) {}); err != nil {
		t.Fatal(err)
	}
	r.b.Detach(attachName("deleted-meanwhile"))
	r.engine.mu.Lock()
	d := r.engine.flows["site-to-enterprise-cert-auth"].cfg
	r.engine.mu.Unlock()
	if err := r.engine.Apply(context.Background(), []Dataflow{d}); err != nil {
		t.Fatal(err)
	}
	got := r.b.Consumers()
	if _, ok := got[attachName("deleted-meanwhile")]; ok {
		t.Errorf("the deleted dataflow's consumer is still declared: %v", got)
	}
	if _, ok := got[attachName(d.Name)]; !ok {
		t.Errorf("the running dataflow's consumer is gone: %v", got)
	}
}

// TestDestinationAckTimeout: a destination that accepts the connection and then never
// answers (a silently cut link looks like this) is given up after the ack timeout
// while messages are in flight — not only after 1.5 keep-alives — and the message is
// sent again on the new connection.
func TestDestinationAckTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	type conn struct{ publishes int }
	conns := make(chan *conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := packets.ReadPacket(br); err != nil { // CONNECT
					return
				}
				ack := packets.NewControlPacket(packets.CONNACK)
				if _, err := ack.WriteTo(c); err != nil {
					return
				}
				st := &conn{}
				for {
					cp, err := packets.ReadPacket(br)
					if err != nil {
						conns <- st
						return
					}
					if cp.Type == packets.PUBLISH {
						st.publishes++ // and never a PUBACK
					}
				}
			}(c)
		}
	}()
	var nd net.Dialer
	dial := func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "tcp", l.Addr().String()) }
	ep := Endpoint{Name: "silent", Host: l.Addr().String()}.withDefaults()
	d := newDestClientWith(dial, ep, "ack-timeout-test", destHooks{
		done: func(item, byte) {}, refused: func(item, string, byte) {}, resent: func(int) {},
		up: func() {}, down: func(error) {}, connectError: func(error) {},
	}, 300*time.Millisecond)
	t.Cleanup(d.close)
	if err := d.publish1(item{}, outMsg{topic: "t", payload: []byte("x"), qos: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-conns:
		if st.publishes != 1 {
			t.Fatalf("first connection saw %d PUBLISHes, want 1", st.publishes)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connection to a destination that never acknowledges was not given up within 5 s (ack timeout 300 ms)")
	}
	select {
	case st := <-conns:
		if st.publishes != 1 {
			t.Fatalf("the next connection saw %d PUBLISHes, want the message sent again", st.publishes)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no second connection (with the message sent again) within 10 s")
	}
}
