package broker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/broker/testpki"
	pahopackets "github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// startBroker starts a broker and closes it when the test ends.
func startBroker(t testing.TB, cfg Config, reg prometheus.Registerer) *Broker {
	t.Helper()
	b, err := New(cfg, testLogger(t), reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := b.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { cancel(); b.Close() })
	return b
}

func x509Config(set *testpki.Set, dataDir string) Config {
	return Config{
		DataDir: dataDir,
		Listeners: []Listener{{
			Name: "default-loadbalancer", Addr: "127.0.0.1:0", Auth: AuthX509,
			TLS: &TLSConfig{CertPEM: set.ServerCert, KeyPEM: set.ServerKey, ClientCAPEM: set.ClientRoot.PEM},
		}},
	}
}

func TestConfigValidate(t *testing.T) {
	set := testpki.NewSet(t)
	good := TLSConfig{CertPEM: set.ServerCert, KeyPEM: set.ServerKey, ClientCAPEM: set.ClientRoot.PEM}
	tests := map[string]struct {
		cfg  Config
		want []string // substrings of the error; nil = valid
	}{
		"anonymous plain": {cfg: Config{Listeners: []Listener{{Name: "a", Addr: "127.0.0.1:1883"}}}},
		"x509":            {cfg: Config{Listeners: []Listener{{Name: "a", Addr: "127.0.0.1:0", Auth: AuthX509, TLS: &good}}}},
		"no listeners":    {cfg: Config{}, want: []string{"no listeners"}},
		"x509 without tls": {
			cfg:  Config{Listeners: []Listener{{Name: "a", Addr: "127.0.0.1:0", Auth: AuthX509}}},
			want: []string{"needs TLS"},
		},
		"x509 without ca": {
			cfg:  Config{Listeners: []Listener{{Name: "a", Addr: "127.0.0.1:0", Auth: AuthX509, TLS: &TLSConfig{CertPEM: set.ServerCert, KeyPEM: set.ServerKey}}}},
			want: []string{"trusted client CA"},
		},
		"all at once": {
			cfg: Config{Listeners: []Listener{
				{Name: "a", Addr: "nonsense", Auth: "Kerberos"},
				{Name: "a", Addr: "127.0.0.1:0", TLS: &TLSConfig{CertPEM: []byte("x"), KeyPEM: []byte("y")}},
			}},
			want: []string{"not host:port", "Kerberos", "duplicate name", "do not load as a PEM pair"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want error containing %q, got nil", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error leaks key material: %q", err)
			}
		})
	}
}

func needMosquitto(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (apt-get install -y mosquitto-clients): %v", bin, err)
		}
	}
}

// TestMosquittoInterop drives the real Debian mosquitto clients against an X509
// listener: the client leaf is accepted (publish and subscribe, MQTT 3.1.1 and 5);
// no certificate, another CA's certificate, an expired certificate and a certificate
// without the clientAuth usage are each refused at the TLS handshake.
func TestMosquittoInterop(t *testing.T) {
	needMosquitto(t)
	set := testpki.NewSet(t)
	reg := prometheus.NewRegistry()
	b := startBroker(t, x509Config(set, t.TempDir()), reg)
	host, port, _ := net.SplitHostPort(b.Addr("default-loadbalancer"))

	dir := t.TempDir()
	ca := testpki.WriteFile(t, dir, "server-root.pem", set.ServerRoot.PEM, 0o644)
	cert := testpki.WriteFile(t, dir, "client.pem", set.ClientCert, 0o644)
	key := testpki.WriteFile(t, dir, "client.key", set.ClientKey, 0o600)

	other := testpki.NewRoot(t, "Client Root CA").Intermediate(t, "Client Intermediate CA 1")
	otherCert, otherKey := other.Issue(t, testpki.Leaf{CN: "client"})
	realInt := set.ClientRoot.Intermediate(t, "Client Intermediate CA 1")
	expCert, expKey := realInt.Issue(t, testpki.Leaf{CN: "client", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	noEKUCert, noEKUKey := realInt.Issue(t, testpki.Leaf{CN: "client", Server: true})

	base := []string{"-h", host, "-p", port, "--cafile", ca}
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		return string(out), err
	}

	for _, ver := range []string{"mqttv311", "mqttv5"} {
		t.Run("publish with client leaf "+ver, func(t *testing.T) {
			got := make(chan Message, 1)
			unsub, err := b.Subscribe("interop/"+ver, func(m Message) {
				select {
				case got <- m:
				default:
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer unsub()
			args := append([]string{"mosquitto_pub"}, base...)
			args = append(args, "--cert", cert, "--key", key, "-V", ver, "-q", "1", "-t", "interop/"+ver, "-m", "hello "+ver)
			if out, err := run(args...); err != nil {
				t.Fatalf("mosquitto_pub with the client leaf failed: %v\n%s", err, out)
			}
			select {
			case m := <-got:
				if string(m.Payload) != "hello "+ver {
					t.Fatalf("payload = %q", m.Payload)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("message from mosquitto_pub never reached the broker")
			}
		})
	}

	t.Run("subscribe with client leaf", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		args := append(append([]string{}, base...), "--cert", cert, "--key", key, "-V", "mqttv5", "-q", "1", "-t", "interop/sub", "-C", "1", "-W", "15")
		cmd := exec.CommandContext(ctx, "mosquitto_sub", args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait (bounded) until the subscriber is connected and subscribed, then publish.
		deadline := time.Now().Add(10 * time.Second)
		for b.server.Topics.Subscribers("interop/sub").Subscriptions == nil || len(b.server.Topics.Subscribers("interop/sub").Subscriptions) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto_sub never subscribed: %s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The certificate's CN became the client identity.
		found := false
		for _, cl := range b.server.Clients.GetAll() {
			if string(cl.Properties.Username) == "client" && !cl.Closed() {
				found = true
			}
		}
		if !found {
			t.Error("no connected session has the username \"client\" taken from the certificate CN")
		}
		if err := b.Publish("interop/sub", []byte("to mosquitto"), false, 1); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("mosquitto_sub: %v\n%s", err, out.String())
		}
		if strings.TrimSpace(out.String()) != "to mosquitto" {
			t.Fatalf("mosquitto_sub printed %q", out.String())
		}
	})

	refused := map[string][]string{
		"no certificate":                 nil,
		"certificate of other CA":        {"--cert", testpki.WriteFile(t, dir, "other.pem", otherCert, 0o644), "--key", testpki.WriteFile(t, dir, "other.key", otherKey, 0o600)},
		"expired certificate":            {"--cert", testpki.WriteFile(t, dir, "exp.pem", expCert, 0o644), "--key", testpki.WriteFile(t, dir, "exp.key", expKey, 0o600)},
		"certificate without clientAuth": {"--cert", testpki.WriteFile(t, dir, "noeku.pem", noEKUCert, 0o644), "--key", testpki.WriteFile(t, dir, "noeku.key", noEKUKey, 0o600)},
	}
	for name, extra := range refused {
		t.Run("refused: "+name, func(t *testing.T) {
			before := testutil.ToFloat64(b.metrics.handshakeFailures.WithLabelValues("default-loadbalancer"))
			got := make(chan struct{}, 1)
			topic := "refused/" + strings.ReplaceAll(name, " ", "-")
			unsub, _ := b.Subscribe(topic, func(Message) { got <- struct{}{} })
			defer unsub()
			args := append(append([]string{"mosquitto_pub"}, base...), extra...)
			args = append(args, "-q", "1", "-t", topic, "-m", "must not arrive")
			out, err := run(args...)
			if err == nil {
				t.Fatalf("mosquitto_pub succeeded, want refusal:\n%s", out)
			}
			// With TLS 1.3 the client may see the refusal (and exit) before the server's handshake
			// goroutine has counted it: wait for the count, bounded.
			after := before
			for i := 0; i < 100 && after < before+1; i++ {
				time.Sleep(20 * time.Millisecond)
				after = testutil.ToFloat64(b.metrics.handshakeFailures.WithLabelValues("default-loadbalancer"))
			}
			if after != before+1 {
				t.Errorf("handshake failures %v → %v, want one refusal at the TLS layer (mosquitto said: %s)", before, after, out)
			}
			select {
			case <-got:
				t.Fatal("a message from a refused client reached the broker")
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

func TestSlowHandshakeDoesNotBlockOthers(t *testing.T) {
	set := testpki.NewSet(t)
	cfg := x509Config(set, "")
	cfg.Limits.HandshakeTimeout = 500 * time.Millisecond
	b := startBroker(t, cfg, nil)
	addr := b.Addr("default-loadbalancer")

	// Ten silent connections: they never start a TLS handshake.
	var silent []net.Conn
	for range 10 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
		defer c.Close()
	}
	// A real client still connects at once.
	start := time.Now()
	c := dialTLS(t, addr, set, "fast")
	c.Disconnect(&paho.Disconnect{})
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Errorf("a real client took %v while silent connections were pending", d)
	}
	// And the silent ones are cut after the handshake timeout.
	for i, sc := range silent {
		_ = sc.SetReadDeadline(time.Now().Add(3 * time.Second))
		if _, err := sc.Read(make([]byte, 1)); err == nil {
			t.Errorf("silent connection %d was not closed", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("silent connection %d still open after 3s (handshake timeout 500ms)", i)
		}
	}
}

// dialTLS connects a paho v5 client with the client leaf.
func dialTLS(t testing.TB, addr string, set *testpki.Set, id string) *paho.Client {
	t.Helper()
	conn, err := tlsDial(addr, set)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return c
}

// inprocClient connects a paho client over DialInProcess with a persistent session.
func inprocClient(t testing.TB, b *Broker, id string, clean bool, recv func(paho.PublishReceived) (bool, error)) *paho.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := b.DialInProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := paho.ClientConfig{Conn: conn}
	if recv != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){recv}
	}
	c := paho.NewClient(cfg)
	exp := uint32(3600)
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: clean, Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}}); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

// TestRestartKeepsQueuedMessages: a persistent session's queued QoS 1 messages
// survive a broker restart (state on disk) and are delivered after it.
func TestRestartKeepsQueuedMessages(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}
	const n = 50

	b1, err := New(cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := inprocClient(t, b1, "durable-sub", true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "q/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	_ = sub.Disconnect(&paho.Disconnect{})
	pub := inprocClient(t, b1, "pub", true, nil)
	for i := range n {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "q/x", QoS: 1, Payload: []byte(fmt.Sprint(i))}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	_ = pub.Disconnect(&paho.Disconnect{})
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := startBroker(t, cfg, nil)
	var mu sync.Mutex
	seen := map[string]bool{}
	all := make(chan struct{})
	inprocClient(t, b2, "durable-sub", false, func(pr paho.PublishReceived) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		seen[string(pr.Packet.Payload)] = true
		if len(seen) == n {
			close(all)
		}
		return true, nil
	})
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		mu.Lock()
		t.Fatalf("after restart got %d of %d queued messages", len(seen), n)
	}
}

// TestPendingReplay: a message acknowledged to its publisher but not yet routed when
// the process died is routed at the next start.
func TestPendingReplay(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listeners: []Listener{{Name: "p", Addr: "127.0.0.1:0"}}}
	// A persisted subscriber session, created before the "crash".
	b0, err := New(cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b0.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := inprocClient(t, b0, "s", true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "p", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	_ = sub.Disconnect(&paho.Disconnect{})
	if err := b0.Close(); err != nil {
		t.Fatal(err)
	}
	// The crash: OnPublish ran (so the PUBACK went out) but routing never happened.
	db, err := openKVLog(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	h := &storeHook{db: db}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "p", PacketID: 7, Payload: []byte("acked but unrouted")}
	if _, err := h.OnPublish(&mqtt.Client{ID: "publisher"}, pk); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b := startBroker(t, cfg, nil)
	got := make(chan string, 1)
	inprocClient(t, b, "s", false, func(pr paho.PublishReceived) (bool, error) {
		got <- string(pr.Packet.Payload)
		return true, nil
	})
	select {
	case p := <-got:
		if p != "acked but unrouted" {
			t.Fatalf("got %q", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pending message was not re-routed after restart")
	}
	if n := len(b.store.db.Prefix(pendingKey + "_")); n != 0 {
		t.Errorf("%d pending records left after replay", n)
	}
}

func tlsDial(addr string, set *testpki.Set) (net.Conn, error) {
	cert, err := tls.X509KeyPair(set.ClientCert, set.ClientKey)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(set.ServerRoot.PEM)
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, err
	}
	return pahopackets.NewThreadSafeConn(c), nil
}

func TestKVLogTornTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kv.log")
	l, err := openKVLog(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := l.Set(fmt.Sprintf("k%03d", i), []byte(strings.Repeat("v", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		if err := l.Delete(fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	// Simulate a crash in the middle of the last record.
	f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	rec := encodeRecord(opSet, "torn", []byte("half written"))
	f.Write(rec[:len(rec)-3])
	f.Close()

	l2, err := openKVLog(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if l2.Len() != 50 {
		t.Fatalf("after replay %d keys, want 50", l2.Len())
	}
	if got := l2.Prefix("torn"); len(got) != 0 {
		t.Fatal("torn record was applied")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("state log mode %v, want 0600", fi.Mode().Perm())
	}
}

// BenchmarkBrokerQoS1 measures QoS 1 publish round trips (PUBLISH → routed to a
// persistent session → PUBACK) over the in-process connection with the state log on.
func BenchmarkBrokerQoS1(b *testing.B) {
	br := startBroker(b, Config{DataDir: b.TempDir(), Listeners: []Listener{{Name: "p", Addr: "127.0.0.1:0"}}}, nil)
	var recv sync.WaitGroup
	sub := inprocClient(b, br, "bench-sub", true, func(paho.PublishReceived) (bool, error) { recv.Done(); return true, nil })
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "bench", QoS: 1}}}); err != nil {
		b.Fatal(err)
	}
	pub := inprocClient(b, br, "bench-pub", true, nil)
	payload := bytes.Repeat([]byte("x"), 256)
	b.ResetTimer()
	recv.Add(b.N)
	for i := 0; i < b.N; i++ {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "bench", QoS: 1, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	recv.Wait()
}

// TestInflightRecordedOnlyForPersistentSessions: unacknowledged QoS 1 deliveries are in
// the state log for a session that outlives its connection, and not for a clean one (it
// ends with the connection, so a restart could not deliver them to it anyway). A clean
// connection taken over by a persistent one has its inherited queue recorded.
func TestInflightRecordedOnlyForPersistentSessions(t *testing.T) {
	b := startBroker(t, Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "p", Addr: "127.0.0.1:0"}}}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// An offline persistent session: its queue is what a restart must keep.
	durable := inprocClient(t, b, "durable-sub", false, nil)
	if _, err := durable.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "t", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	_ = durable.Disconnect(&paho.Disconnect{})
	clean := newManualSub(t, b, "clean-sub", "t", false) // clean start, no session expiry; acknowledges nothing
	const n = 5
	if err := <-publishAll(t, b, "pub", "t", n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the clean subscriber to receive", 5*time.Second, func() bool { return clean.count() == n })
	records := func(id string) int { return len(b.db.keysWithPrefix(inflightKey(id, 0)[:len(inflightKey(id, 0))-1])) }
	waitFor(t, "the durable session's queue in the log", 5*time.Second, func() bool { return records("durable-sub") == n })
	if got := records("clean-sub"); got != 0 {
		t.Errorf("clean session has %d in-flight records in the state log, want 0", got)
	}

	// The same client ID reconnects with a persistent session and takes the clean one's
	// unacknowledged messages over: now they must be recorded.
	conn, err := b.DialInProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again := paho.NewClient(paho.ClientConfig{Conn: conn, EnableManualAcknowledgment: true})
	exp := uint32(3600)
	if _, err := again.Connect(ctx, &paho.Connect{ClientID: "clean-sub", KeepAlive: 30, CleanStart: false,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Disconnect(&paho.Disconnect{}) })
	waitFor(t, "the taken-over queue in the log", 5*time.Second, func() bool { return records("clean-sub") == n })
}

// TestClientPacketIDsDoNotClobberDeliveries: packet identifiers are per direction (MQTT
// 2.2.1). A persistent subscriber that publishes QoS 1 with identifier 1 while the
// broker's delivery 1 to it is unacknowledged must still get that delivery again after
// it reconnects (mochi 2.7.9 overwrote and deleted it: patch 4 in third_party).
func TestClientPacketIDsDoNotClobberDeliveries(t *testing.T) {
	b := startBroker(t, Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "p", Addr: "127.0.0.1:0"}}}, nil)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", b.Addr("p"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		connect := append(mqttString("MQTT"), 4, 0x00, 0, 60) // clean session off
		if _, err := c.Write(mqttPacket(0x10, append(connect, mqttString("both")...))); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		if first, body := readRawPacket(t, r); first != 0x20 || body[1] != 0 {
			t.Fatalf("CONNACK %x %x", first, body)
		}
		return c, r
	}
	c, r := dial()
	if _, err := c.Write(mqttPacket(0x82, append(append([]byte{0, 9}, mqttString("x")...), 1))); err != nil {
		t.Fatal(err)
	}
	if first, _ := readRawPacket(t, r); first != 0x90 {
		t.Fatalf("want SUBACK, got %x", first)
	}
	if err := <-publishAll(t, b, "other", "x", 1); err != nil {
		t.Fatal(err)
	}
	first, body := readRawPacket(t, r)
	if first>>4 != 3 {
		t.Fatalf("want the delivery, got %x", first)
	}
	id := body[3:5] // topic "x" (2+1 bytes), then the packet identifier
	// Not acknowledged. The client publishes QoS 1 itself, with the same identifier.
	if _, err := c.Write(mqttPacket(0x32, append(append(mqttString("y"), id...), "mine"...))); err != nil {
		t.Fatal(err)
	}
	if first, body := readRawPacket(t, r); first != 0x40 || !bytes.Equal(body[:2], id) {
		t.Fatalf("want PUBACK %x, got %x %x", id, first, body)
	}
	c.Close()
	// Reconnect: the unacknowledged delivery comes again.
	_, r = dial()
	first, body = readRawPacket(t, r)
	if first>>4 != 3 || !bytes.Equal(body[3:5], id) || string(body[5:]) != "0" {
		t.Fatalf("after reconnecting: got %x %q, want the delivery %x again", first, body, id)
	}
}

// readRawPacket reads one MQTT packet: its first byte and its body.
func readRawPacket(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	first, err := r.ReadByte()
	if err != nil {
		t.Fatal(err)
	}
	size, mult := 0, 1
	for {
		d, err := r.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		size += int(d&0x7f) * mult
		mult *= 128
		if d&0x80 == 0 {
			break
		}
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	return first, body
}
