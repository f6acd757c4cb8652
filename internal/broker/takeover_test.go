package broker

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pahopackets "github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// orphanHook counts QoS 1 messages queued into a session object that is no longer the
// registered one for its client id (taken over / being taken over).
type orphanHook struct {
	mqtt.HookBase
	s       *mqtt.Server
	orphans atomic.Int64
	first   atomic.Value
}

func (h *orphanHook) ID() string { return "orphan-detect" }
func (h *orphanHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnQosPublish}, []byte{b})
}
func (h *orphanHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if cl.Net.Inline || pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Dup {
		return
	}
	if cur, ok := h.s.Clients.Get(cl.ID); cl.IsTakenOver() || (ok && cur != cl) {
		if h.orphans.Add(1) == 1 {
			h.first.Store(string(pk.Payload))
		}
	}
}

func TestTakeoverDuringTrafficLosesNothing(t *testing.T) {
	b := startBroker(t, Config{DataDir: t.TempDir(), Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}, nil)
	oh := &orphanHook{s: b.server}
	if err := b.server.AddHook(oh, nil); err != nil {
		t.Fatal(err)
	}
	addr := b.Addr("plain")
	const n = 30000
	var mu sync.Mutex
	recv := map[int]int{}
	acked := make([]atomic.Bool, n)
	onPub := func(pr paho.PublishReceived) (bool, error) {
		i, _ := strconv.Atoi(string(pr.Packet.Payload))
		mu.Lock()
		recv[i]++
		mu.Unlock()
		return true, nil
	}
	var subConn atomic.Pointer[net.Conn]
	connectSub := func(first bool) {
		for {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			pc := paho.NewClient(paho.ClientConfig{Conn: pahopackets.NewThreadSafeConn(c),
				OnPublishReceived: []func(paho.PublishReceived) (bool, error){onPub},
				OnClientError:     func(error) {}, OnServerDisconnect: func(*paho.Disconnect) {}})
			exp := uint32(600)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ca, err := pc.Connect(ctx, &paho.Connect{ClientID: "sub", CleanStart: first, KeepAlive: 30,
				Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}})
			if err != nil {
				cancel()
				c.Close()
				continue
			}
			if first || !ca.SessionPresent {
				if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "output", QoS: 1}}}); err != nil {
					t.Fatal(err)
				}
			}
			cancel()
			subConn.Store(&c)
			return
		}
	}
	connectSub(true)

	pc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	pub := paho.NewClient(paho.ClientConfig{Conn: pahopackets.NewThreadSafeConn(pc), OnClientError: func(error) {}})
	if _, err := pub.Connect(context.Background(), &paho.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := pub.Publish(ctx, &paho.Publish{Topic: "output", QoS: 1, Payload: []byte(strconv.Itoa(i))})
				cancel()
				if err == nil {
					acked[i].Store(true)
				}
			}
		}()
	}
	pubDone := make(chan struct{})
	go func() { wg.Wait(); close(pubDone) }()
	reconnects := 0
loop:
	for {
		select {
		case <-pubDone:
			break loop
		case <-time.After(30 * time.Millisecond):
		}
		(*subConn.Load()).Close() // abrupt: the session stays on the broker
		time.Sleep(10 * time.Millisecond)
		connectSub(false)
		reconnects++
	}
	deadline := time.Now().Add(20 * time.Second)
	lost := 0
	for {
		lost = 0
		mu.Lock()
		for i := 0; i < n; i++ {
			if acked[i].Load() && recv[i] == 0 {
				lost++
			}
		}
		mu.Unlock()
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var ranges []string
	mu.Lock()
	for i := 0; i < n && len(ranges) < 10; i++ {
		if acked[i].Load() && recv[i] == 0 {
			j := i
			for j+1 < n && acked[j+1].Load() && recv[j+1] == 0 {
				j++
			}
			ranges = append(ranges, strconv.Itoa(i)+"-"+strconv.Itoa(j))
			i = j
		}
	}
	mu.Unlock()
	real := 0
	for _, c := range b.server.Clients.GetAll() {
		real += c.State.Inflight.Len()
	}
	t.Logf("Info.Inflight %d, sum of session queues %d", atomic.LoadInt64(&b.server.Info.Inflight), real)
	first, _ := oh.first.Load().(string)
	t.Logf("reconnects %d, lost %d %v; messages queued into a replaced session object: %d (first %s); InflightDropped %d MessagesDropped %d",
		reconnects, lost, ranges, oh.orphans.Load(), first, atomic.LoadInt64(&b.server.Info.InflightDropped), atomic.LoadInt64(&b.server.Info.MessagesDropped))
	if lost > 0 {
		t.Errorf("%d acknowledged messages lost", lost)
	}
}

// TestResumeAfterRestartLosesNothing: the lab's path. A broker restarted from its log loads the
// subscriber's session; a publisher replays a backlog; the subscriber resumes mid-burst.
func TestResumeAfterRestartLosesNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Listeners: []Listener{{Name: "plain", Addr: "127.0.0.1:0"}}}
	total := 0
	for round := 0; round < 5; round++ {
		n := 8000
		var mu sync.Mutex
		recv := map[int]int{}
		acked := make([]atomic.Bool, n)
		onPub := func(pr paho.PublishReceived) (bool, error) {
			var r, i int
			if _, err := fmtSscan(string(pr.Packet.Payload), &r, &i); err != nil || r != round {
				return true, nil
			}
			mu.Lock()
			recv[i]++
			mu.Unlock()
			return true, nil
		}
		b := startBroker(t, cfg, nil)
		addr := b.Addr("plain")
		sub := func(clean bool) net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			pc := paho.NewClient(paho.ClientConfig{Conn: pahopackets.NewThreadSafeConn(c),
				OnPublishReceived: []func(paho.PublishReceived) (bool, error){onPub}, OnClientError: func(error) {}})
			exp := uint32(600)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := pc.Connect(ctx, &paho.Connect{ClientID: "sub", CleanStart: clean, KeepAlive: 30,
				Properties: &paho.ConnectProperties{SessionExpiryInterval: &exp}}); err != nil {
				t.Fatal(err)
			}
			if clean {
				if _, err := pc.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "output", QoS: 1}}}); err != nil {
					t.Fatal(err)
				}
			}
			return c
		}
		if round == 0 {
			sub(true).Close()
		}
		time.Sleep(50 * time.Millisecond)
		b.Close() // the session (and its subscription) is in the log, as after a SIGKILL
		b = startBroker(t, cfg, nil)
		addr = b.Addr("plain")
		pc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		pub := paho.NewClient(paho.ClientConfig{Conn: pahopackets.NewThreadSafeConn(pc), OnClientError: func(error) {}})
		if _, err := pub.Connect(context.Background(), &paho.Connect{ClientID: "pub", CleanStart: true, KeepAlive: 30}); err != nil {
			t.Fatal(err)
		}
		var next, ackedN atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 32; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					_, err := pub.Publish(ctx, &paho.Publish{Topic: "output", QoS: 1, Payload: []byte(strconv.Itoa(round) + " " + strconv.Itoa(i))})
					cancel()
					if err == nil {
						acked[i].Store(true)
						ackedN.Add(1)
					}
				}
			}()
		}
		for ackedN.Load() < 3000 { // deterministic point: 3000 messages into the backlog
			time.Sleep(time.Millisecond)
		}
		c := sub(false)
		wg.Wait()
		lost := 0
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			lost = 0
			mu.Lock()
			for i := 0; i < n; i++ {
				if acked[i].Load() && recv[i] == 0 {
					lost++
				}
			}
			mu.Unlock()
			if lost == 0 || time.Now().After(deadline) {
				break
			}
		}
		t.Logf("round %d: %d of %d acknowledged messages lost", round, lost, n)
		total += lost
		c.Close()
		pub.Disconnect(&paho.Disconnect{})
		b.Close()
	}
	if total > 0 {
		t.Errorf("%d acknowledged messages lost in 5 restart+resume rounds", total)
	}
}

func fmtSscan(s string, a ...any) (int, error) { return fmt.Sscan(s, a...) }
