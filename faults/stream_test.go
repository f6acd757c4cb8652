package faults

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/netlab"
	pahopackets "github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// Where the stream enters and leaves (the blueprint's link: B's `input` → A's `output`).
const (
	bAnonymousAddr = "127.0.0.1:18884" // inside B's VM namespace
	aServerPort    = "28883"
	sourceTopic    = "input"
	destTopic      = "output"
)

// counts are the figures every stream reports.
type counts struct {
	sent     int64 // PUBLISH packets written by the publisher, retries included
	acked    int64 // distinct sequence numbers whose PUBLISH got a PUBACK from B's broker
	received int64 // distinct sequence numbers the subscriber on A received
	lost     int64 // acknowledged but never received
	dups     int64 // receipts beyond the first of a sequence number
}

// stream is a QoS 1 stream of numbered messages from a publisher in B's VM namespace (B's
// anonymous listener) to a subscriber in A's VM namespace (A's X.509 listener, persistent session).
type stream struct {
	d      *deployment
	o      outputs
	runID  string
	n      int           // messages
	every  time.Duration // pause between publishes (pacing keeps B's queue within its limit during a cut)
	subTLS *tls.Config

	sent       atomic.Int64
	acked      []atomic.Bool
	mu         sync.Mutex
	recv       map[int]int
	pubConns   atomic.Int64
	subConns   atomic.Int64
	lastPubErr atomic.Value
}

func newStream(t *testing.T, d *deployment, o outputs, n int, rate int) *stream {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(o.Files.ClientCert, o.Files.ClientKey)
	if err != nil {
		t.Fatalf("load the client certificate from `output -json`: %v", err)
	}
	caPEM, err := os.ReadFile(o.Files.ServerRootCA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no PEM certificate", o.Files.ServerRootCA)
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	return &stream{
		d: d, o: o, runID: hex.EncodeToString(id), n: n, every: time.Second / time.Duration(rate),
		subTLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: o.AIP, MinVersion: tls.VersionTLS12},
		acked:  make([]atomic.Bool, n),
		recv:   map[int]int{},
	}
}

// dialIn opens a TCP connection from inside namespace ns (the socket stays in it for its life).
func dialIn(ns, addr string) (net.Conn, error) {
	var c net.Conn
	err := netlab.Do(ns, func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 3 * time.Second}).Dial("tcp", addr)
		return err
	})
	return c, err
}

func (s *stream) onPublish(pr paho.PublishReceived) (bool, error) {
	p := string(pr.Packet.Payload)
	run, seq, ok := strings.Cut(p, ":")
	if !ok || run != s.runID {
		return true, nil // another stream's or the connectivity test's message
	}
	n, err := strconv.Atoi(seq)
	if err != nil || n < 0 || n >= s.n {
		return true, nil
	}
	s.mu.Lock()
	s.recv[n]++
	s.mu.Unlock()
	return true, nil
}

// connectSub connects the subscriber to A's X.509 listener from A's VM namespace. The first
// connection starts a clean persistent session; later ones resume it.
func (s *stream) connectSub(ctx context.Context, first bool) (*paho.Client, error) {
	raw, err := dialIn(s.o.ANS, net.JoinHostPort(s.o.AIP, aServerPort))
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, s.subTLS)
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("TLS handshake with A's listener: %w", err)
	}
	c := paho.NewClient(paho.ClientConfig{
		Conn:               pahopackets.NewThreadSafeConn(tc),
		OnPublishReceived:  []func(paho.PublishReceived) (bool, error){s.onPublish},
		OnClientError:      func(error) {},
		OnServerDisconnect: func(*paho.Disconnect) {},
	})
	expiry := uint32(600)
	ca, err := c.Connect(hctx, &paho.Connect{ClientID: "faults-sub-" + s.runID, KeepAlive: 10, CleanStart: first,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}})
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("MQTT CONNECT to A: %w", err)
	}
	if ca.ReasonCode != 0 {
		tc.Close()
		return nil, fmt.Errorf("A refused the subscriber: reason %d", ca.ReasonCode)
	}
	if first || !ca.SessionPresent {
		if _, err := c.Subscribe(hctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: destTopic, QoS: 1}}}); err != nil {
			tc.Close()
			return nil, fmt.Errorf("subscribe to %s on A: %w", destTopic, err)
		}
	}
	s.subConns.Add(1)
	return c, nil
}

// subscribe keeps the subscriber connected until ctx ends, reconnecting after A's agent dies.
// It returns once the first subscription is in place.
func (s *stream) subscribe(ctx context.Context, t *testing.T) (stop func()) {
	t.Helper()
	c, err := s.connectSub(ctx, true)
	if err != nil {
		t.Fatalf("subscriber: %v", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var cur atomic.Pointer[paho.Client]
	cur.Store(c)
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-cur.Load().Done():
			}
			for ctx.Err() == nil {
				nc, err := s.connectSub(ctx, false)
				if err == nil {
					cur.Store(nc)
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}()
	return func() {
		cancel()
		<-done
		// End the session so A stops queueing for it.
		zero := uint32(0)
		_ = cur.Load().Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: &zero}})
	}
}

// connectPub connects the publisher to B's anonymous listener from B's VM namespace.
func (s *stream) connectPub(ctx context.Context, w int) (*paho.Client, error) {
	raw, err := dialIn(s.o.BNS, bAnonymousAddr)
	if err != nil {
		return nil, err
	}
	c := paho.NewClient(paho.ClientConfig{Conn: pahopackets.NewThreadSafeConn(raw),
		OnClientError: func(error) {}, OnServerDisconnect: func(*paho.Disconnect) {}})
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Connect(cctx, &paho.Connect{ClientID: fmt.Sprintf("faults-pub-%s-%d", s.runID, w), KeepAlive: 10, CleanStart: true}); err != nil {
		raw.Close()
		return nil, fmt.Errorf("MQTT CONNECT to B: %w", err)
	}
	s.pubConns.Add(1)
	return c, nil
}

// publishers is how many publisher connections share the stream: one synchronous publisher
// spends most of its time waiting for PUBACKs and cannot keep the rate under the race detector.
const publishers = 4

// publish sends every sequence number until B's broker acknowledges it, retrying a number whose
// PUBLISH failed (B's agent down) on a new connection. Message i goes out no earlier than
// start + i*every (publisher i%publishers sends it). fault runs once message faultAt is out.
func (s *stream) publish(ctx context.Context, faultAt int, fault func()) error {
	start := time.Now()
	var once sync.Once
	errs := make(chan error, publishers)
	var trigger func()
	if fault != nil {
		trigger = func() { once.Do(func() { go fault() }) }
	}
	for w := 0; w < publishers; w++ {
		go func() { errs <- s.publisher(ctx, w, start, faultAt, trigger) }()
	}
	var first error
	for w := 0; w < publishers; w++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *stream) publisher(ctx context.Context, w int, start time.Time, faultAt int, fault func()) error {
	var c *paho.Client
	defer func() {
		if c != nil {
			_ = c.Disconnect(&paho.Disconnect{})
		}
	}()
	for i := w; i < s.n; i += publishers {
		if d := time.Until(start.Add(time.Duration(i) * s.every)); d > 0 {
			time.Sleep(d)
		}
		for !s.acked[i].Load() {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("publisher %d stopped at message %d: %w (last error: %v)", w, i, err, s.lastPubErr.Load())
			}
			if c == nil {
				var err error
				if c, err = s.connectPub(ctx, w); err != nil {
					s.lastPubErr.Store(err.Error())
					time.Sleep(100 * time.Millisecond)
					continue
				}
			}
			s.sent.Add(1)
			pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := c.Publish(pctx, &paho.Publish{Topic: sourceTopic, QoS: 1, Payload: []byte(s.runID + ":" + strconv.Itoa(i))})
			cancel()
			if err != nil {
				s.lastPubErr.Store(err.Error())
				_ = c.Disconnect(&paho.Disconnect{})
				c = nil
				continue
			}
			s.acked[i].Store(true)
		}
		if i >= faultAt && fault != nil {
			fault()
		}
	}
	return nil
}

func (s *stream) counts() counts {
	var c counts
	c.sent = s.sent.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < s.n; i++ {
		r := s.recv[i]
		if s.acked[i].Load() {
			c.acked++
			if r == 0 {
				c.lost++
			}
		}
		if r > 0 {
			c.received++
			c.dups += int64(r - 1)
		}
	}
	return c
}

// lostRanges renders up to max ranges of acknowledged but missing sequence numbers.
func (s *stream) lostRanges(max int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for i := 0; i < s.n && len(parts) < max; i++ {
		if !s.acked[i].Load() || s.recv[i] > 0 {
			continue
		}
		j := i
		for j+1 < s.n && s.acked[j+1].Load() && s.recv[j+1] == 0 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(i))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", i, j))
		}
		i = j
	}
	return strings.Join(parts, ", ")
}

// waitDelivered waits (bounded) until every acknowledged message has arrived.
func (s *stream) waitDelivered(ctx context.Context) {
	for ctx.Err() == nil && s.counts().lost > 0 {
		time.Sleep(100 * time.Millisecond)
	}
}

// Stream parameters: 10,000 messages at 800/s. Pacing matters: while the link is cut B's broker
// queues for the dataflow's session, and a session holds at most Limits.MaxQueuedMessages (10,000)
// unacknowledged messages; a 10 s cut at 800/s queues 8,000.
const (
	streamMessages = 10000
	streamRate     = 800
	faultAt        = 1500 // the fault starts after this many messages
)

// runStream runs one stream with fault injected at faultAt and checks that no acknowledged
// message is lost.
func runStream(t *testing.T, d *deployment, o outputs, name string, fault func(context.Context, *testing.T, *stream)) counts {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	s := newStream(t, d, o, streamMessages, streamRate)
	stopSub := s.subscribe(ctx, t)
	defer stopSub()
	faultDone := make(chan struct{})
	var injected func()
	if fault != nil {
		injected = func() { defer close(faultDone); fault(ctx, t, s) }
	} else {
		close(faultDone)
	}
	start := time.Now()
	if err := s.publish(ctx, faultAt, injected); err != nil {
		t.Error(err)
	}
	pubTook := time.Since(start)
	select {
	case <-faultDone:
	case <-ctx.Done():
		t.Error("the fault did not finish in time")
	}
	dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
	s.waitDelivered(dctx)
	dcancel()
	c := s.counts()
	report(t, name, c)
	t.Logf("%s: published in %v; publisher connections %d, subscriber connections %d", name, pubTook.Round(time.Millisecond), s.pubConns.Load(), s.subConns.Load())
	if c.lost != 0 {
		t.Errorf("%s: %d of %d acknowledged messages never reached A: sequence numbers %s (the fault started at %d)",
			name, c.lost, c.acked, s.lostRanges(10), faultAt)
		d.logAgentTrouble(t)
	}
	if c.acked != int64(s.n) {
		t.Errorf("%s: only %d of %d messages were acknowledged by B's broker", name, c.acked, s.n)
	}
	return c
}

// TestStreamUnderFaults builds one deployment and runs a 10,000-message QoS 1 stream B → A
// through each fault in turn. Every stream must lose no message that B's broker acknowledged.
func TestStreamUnderFaults(t *testing.T) {
	d := newDeployment(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	d.up(ctx)
	o := d.outputs(ctx)
	topo := d.topology()
	t.Cleanup(func() {
		// Never leave the link down for the next test of this deployment (down removes it anyway).
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		_ = netlab.SetPeeringLink(cctx, topo, true)
	})
	restart := func(ctx context.Context, t *testing.T) {
		r := d.cmd(ctx, "up")
		if r.code != 0 {
			t.Errorf("%s after an agent was killed exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
		}
	}
	cases := []struct {
		name  string
		fault func(context.Context, *testing.T, *stream)
	}{
		{"no fault", nil},
		{"peering link cut for 10s", func(ctx context.Context, t *testing.T, s *stream) {
			if err := netlab.SetPeeringLink(ctx, topo, false); err != nil {
				t.Errorf("cut the peering link: %v", err)
				return
			}
			// Nothing may cross a cut link: after the in-flight messages settle, A receives nothing.
			time.Sleep(2 * time.Second)
			before := s.counts().received
			time.Sleep(8 * time.Second)
			during := s.counts().received - before
			if err := netlab.SetPeeringLink(ctx, topo, true); err != nil {
				t.Errorf("restore the peering link: %v", err)
			}
			t.Logf("messages received by A during the last 8 s of the cut: %d", during)
			if during != 0 {
				t.Errorf("%d messages reached A while the peering link was down: the cut did not cut", during)
			}
		}},
		{"A's agent SIGKILLed and restarted", func(ctx context.Context, t *testing.T, _ *stream) {
			if err := d.killAgent("a"); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(2 * time.Second)
			restart(ctx, t)
		}},
		{"B's agent SIGKILLed and restarted", func(ctx context.Context, t *testing.T, _ *stream) {
			if err := d.killAgent("b"); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(2 * time.Second)
			restart(ctx, t)
		}},
		{"remote endpoint unreachable when B starts", func(ctx context.Context, t *testing.T, _ *stream) {
			if err := netlab.SetPeeringLink(ctx, topo, false); err != nil {
				t.Errorf("cut the peering link: %v", err)
				return
			}
			if err := d.killAgent("b"); err != nil {
				t.Error(err)
				return
			}
			// `up` restarts B while A cannot be reached; the link comes back 5 s later.
			c, out := d.start("up")
			time.Sleep(5 * time.Second)
			if err := netlab.SetPeeringLink(ctx, topo, true); err != nil {
				t.Errorf("restore the peering link: %v", err)
			}
			err := c.Wait()
			r := d.record(c, out)
			if err != nil {
				t.Logf("%s while the link was cut exited %d (B's agent must run anyway):\n%s", r, r.code, lastLines(r.output(), 10))
			}
			// Whatever up said, B's agent must be running now.
			if _, err := d.agentPID("b"); err != nil {
				t.Errorf("B's agent after up with A unreachable: %v", err)
			}
		}},
	}
	t.Run("only X.509 clients reach A", func(t *testing.T) { checkListenerSecurity(t, o, true) })
	for _, tc := range cases {
		if !t.Run(tc.name, func(t *testing.T) { runStream(t, d, o, tc.name, tc.fault) }) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			break
		}
	}
	// Both agents run again and the deployment reports healthy.
	r := d.cmd(ctx, "status")
	if r.code != 0 {
		t.Errorf("%s after the faults exited %d:\n%s", r, r.code, lastLines(r.output(), 20))
	}
	d.scanSecrets()
}
