package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// captured collects what an attached handler received.
type captured struct {
	mu  sync.Mutex
	got []Delivery
}

func (c *captured) handler(d Delivery, _ Publisher) {
	c.mu.Lock()
	c.got = append(c.got, d)
	c.mu.Unlock()
}

func (c *captured) list() []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Delivery(nil), c.got...)
}

func publishQoS(t *testing.T, c *paho.Client, topic, payload string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload), Properties: &paho.PublishProperties{ContentType: "text/plain"}}); err != nil {
		t.Fatalf("publish %q: %v", payload, err)
	}
}

// TestAttachDurable: an attached consumer gets QoS 0 and QoS 1 messages with the
// publisher's properties; what it did not mark Done survives a restart, messages
// published while it is detached (even before it attaches again after the restart)
// are stored, QoS 0 ones are not, and Attach hands them over oldest first.
func TestAttachDurable(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}
	b1, err := New(cfg, testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var c1 captured
	pending, err := b1.Attach("flow", []string{"in/#"}, 1, c1.handler)
	if err != nil || len(pending) != 0 {
		t.Fatalf("first Attach: %v, pending %v", err, pending)
	}
	pub := inprocClient(t, b1, "sensor", true, nil)
	publishQoS(t, pub, "in/a", "one", 1)
	publishQoS(t, pub, "in/b", "two", 1)
	publishQoS(t, pub, "in/c", "zero", 0)
	publishQoS(t, pub, "other", "not matched", 1)
	deadline := time.Now().Add(5 * time.Second)
	for len(c1.list()) < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := c1.list()
	if len(got) != 3 {
		t.Fatalf("handler got %d deliveries, want 3: %+v", len(got), got)
	}
	if got[0].Seq == 0 || got[1].Seq <= got[0].Seq || got[2].Seq != 0 || got[2].QoS != 0 {
		t.Fatalf("sequence numbers / QoS: %+v", got)
	}
	if string(got[0].Payload) != "one" || got[0].Topic != "in/a" || got[0].Props.ContentType != "text/plain" {
		t.Fatalf("first delivery %+v", got[0])
	}
	b1.Done("flow", got[1].Seq) // "two" passed on; "one" not
	_ = pub.Disconnect(&paho.Disconnect{})
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := startBroker(t, cfg, nil)
	if n := b2.Consumers()["flow"]; n != 1 {
		t.Fatalf("after restart the consumer has %d stored messages, want 1 (%v)", n, b2.Consumers())
	}
	pub2 := inprocClient(t, b2, "sensor2", true, nil)
	publishQoS(t, pub2, "in/d", "while detached", 1)
	publishQoS(t, pub2, "in/e", "qos0 while detached", 0)
	var c2 captured
	pending, err = b2.Attach("flow", []string{"in/#"}, 1, c2.handler)
	if err != nil {
		t.Fatal(err)
	}
	var payloads []string
	for _, d := range pending {
		payloads = append(payloads, string(d.Payload))
	}
	if strings.Join(payloads, ",") != "one,while detached" {
		t.Fatalf("pending after restart = %q, want one,while detached", payloads)
	}
	if _, err := b2.Attach("flow", []string{"in/#"}, 1, c2.handler); err == nil {
		t.Fatal("a second Attach of the same consumer was accepted")
	}
	b2.Forget("flow")
	if _, ok := b2.Consumers()["flow"]; ok || len(b2.db.keysWithPrefix(attachRecPrefix)) != 0 {
		t.Fatalf("Forget left the consumer or its records: %v", b2.Consumers())
	}
}

// TestAttachHoldsPublisher: a handler that blocks holds that publisher before its
// PUBACK (back-pressure, nothing dropped); the PUBACK follows once the handler returns.
func TestAttachHoldsPublisher(t *testing.T) {
	b := startBroker(t, Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}, nil)
	release := make(chan struct{})
	var holds int
	var mu sync.Mutex
	if _, err := b.Attach("slow", []string{"in"}, 1, func(_ Delivery, p Publisher) {
		mu.Lock()
		holds++
		mu.Unlock()
		p.Hold()
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	pub := inprocClient(t, b, "sensor", true, nil)
	acked := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := pub.Publish(ctx, &paho.Publish{Topic: "in", QoS: 1, Payload: []byte("x")})
		acked <- err
	}()
	select {
	case err := <-acked:
		t.Fatalf("PUBACK (err %v) arrived while the consumer held the message", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-acked:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no PUBACK after the consumer let go")
	}
	mu.Lock()
	defer mu.Unlock()
	if holds != 1 {
		t.Fatalf("handler called %d times, want 1", holds)
	}
}

// TestAttachDetachedBound: a detached consumer stores at most MaxQueuedMessages; the
// rest are dropped and counted, and the publishers are not held.
func TestAttachDetachedBound(t *testing.T) {
	b := startBroker(t, Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}},
		Limits: Limits{MaxQueuedMessages: 5}}, nil)
	if _, err := b.Attach("c", []string{"in"}, 1, func(Delivery, Publisher) {}); err != nil {
		t.Fatal(err)
	}
	b.Detach("c")
	pub := inprocClient(t, b, "sensor", true, nil)
	for i := 0; i < 8; i++ {
		publishQoS(t, pub, "in", "m", 1)
	}
	if n := b.Consumers()["c"]; n != 5 {
		t.Fatalf("detached consumer stored %d, want 5", n)
	}
	if d := b.attach.dropped.Load(); d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
	if st := b.Stats(); st.QueueFullDrops != 3 || st.QueueDepth != 5 {
		t.Fatalf("Stats: queue-full drops %d (want 3), queue depth %d (want 5)", st.QueueFullDrops, st.QueueDepth)
	}
}

func TestAttachInvalid(t *testing.T) {
	b := startBroker(t, Config{Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}, nil)
	h := func(Delivery, Publisher) {}
	tests := map[string]struct {
		name    string
		filters []string
		h       Handler
		want    string
	}{
		"empty name":   {name: "", filters: []string{"a"}, h: h, want: "name"},
		"slash":        {name: "a/b", filters: []string{"a"}, h: h, want: "name"},
		"no filters":   {name: "x", h: h, want: "no topic filters"},
		"bad filter":   {name: "x", filters: []string{"a/#/b"}, h: h, want: "not a valid topic filter"},
		"no handler":   {name: "x", filters: []string{"a"}, want: "no handler"},
		"newline name": {name: "a\nb", filters: []string{"a"}, h: h, want: "name"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := b.Attach(tc.name, tc.filters, 1, tc.h)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestAttachRecKey(t *testing.T) {
	for _, seq := range []uint64{0, 1, 0xabc, 1 << 40, ^uint64(0)} {
		want := attachRecPrefix + "flow/" + fmt.Sprintf("%016x", seq)
		if got := attachRecKey("flow", seq); got != want {
			t.Errorf("attachRecKey(%d) = %q, want %q", seq, got, want)
		}
		if got, err := attachRecSeq(attachRecKey("flow", seq)); err != nil || got != seq {
			t.Errorf("attachRecSeq(attachRecKey(%d)) = %d, %v", seq, got, err)
		}
	}
}

// TestAdoptSession: the backlog of a disconnected MQTT session (a dataflow that read the
// broker as an MQTT client before attached consumers) moves to the consumer, and the
// session is gone, so nothing is queued for it any more.
func TestAdoptSession(t *testing.T) {
	b := startBroker(t, Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}, nil)
	old := inprocClient(t, b, "dualpeer-flow-source", false, func(paho.PublishReceived) (bool, error) { return true, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := old.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "in", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	_ = old.Disconnect(&paho.Disconnect{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cl, ok := b.server.Clients.Get("dualpeer-flow-source"); ok && cl.Closed() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the old session never disconnected")
		}
		time.Sleep(5 * time.Millisecond)
	}
	pub := inprocClient(t, b, "sensor", true, nil)
	for _, p := range []string{"a", "b", "c"} {
		publishQoS(t, pub, "in", p, 1) // queued in the disconnected session
	}
	n, err := b.AdoptSession("dualpeer-flow-source", "flow", []string{"in"}, 1)
	if err != nil || n != 3 {
		t.Fatalf("AdoptSession = %d, %v; want 3 messages", n, err)
	}
	if _, ok := b.server.Clients.Get("dualpeer-flow-source"); ok {
		t.Fatal("the adopted session still exists")
	}
	var c captured
	pending, err := b.Attach("flow", []string{"in"}, 1, c.handler)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range pending {
		got = append(got, string(d.Payload))
	}
	slices.Sort(got)
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("handed over %q, want a,b,c", got)
	}
	if n, err := b.AdoptSession("no-such-session", "flow", []string{"in"}, 1); n != 0 || err != nil {
		t.Fatalf("adopting a missing session: %d, %v", n, err)
	}
}

// TestAttachFiltersChange: a consumer attached again with other filters, and one forgotten,
// match by what they are now, not by what an earlier message on the same topic matched
// (matching is cached per topic).
func TestAttachFiltersChange(t *testing.T) {
	b := startBroker(t, Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}, nil)
	var c captured
	if _, err := b.Attach("flow", []string{"a"}, 1, c.handler); err != nil {
		t.Fatal(err)
	}
	// QoS 1 publishes: each is handled by the broker before publishQoS returns.
	pub := inprocClient(t, b, "p", true, nil)
	publishQoS(t, pub, "a", "1", 1) // matched, and cached for topic a
	publishQoS(t, pub, "b", "2", 1) // not matched, cached as such
	b.Detach("flow")
	if _, err := b.Attach("flow", []string{"b"}, 1, c.handler); err != nil {
		t.Fatal(err)
	}
	publishQoS(t, pub, "a", "3", 1) // no longer matched
	publishQoS(t, pub, "b", "4", 1) // matched now
	b.Forget("flow")
	publishQoS(t, pub, "b", "5", 1) // nobody
	for deadline := time.Now().Add(5 * time.Second); len(c.list()) < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	var got []string
	for _, d := range c.list() {
		got = append(got, d.Topic+"="+string(d.Payload))
	}
	if want := []string{"a=1", "b=4"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
}
