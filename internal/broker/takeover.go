package broker

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// takeoverGate makes mochi 2.7.9's session resumption atomic for routing. mochi hands a
// persistent session to a reconnecting client in steps (attachClient:
// inheritClientSession copies the old session's queue and clears it, then Clients.Add
// registers the new one); a QoS 1 message routed in between still finds the old session
// object and is queued there after the copy, so it is cleared or orphaned although its
// publisher already has the PUBACK. A restarted broker hits this whenever its subscriber
// resumes while a bridge replays its backlog. A resume therefore waits until no publish
// is being routed, and publishes wait until the new session is registered.
type takeoverGate struct {
	mqtt.HookBase
	server *mqtt.Server

	mu       sync.Mutex
	routing  map[*mqtt.Client]int  // publisher → publishes between OnPublish and OnPublished
	resuming map[*mqtt.Client]bool // resuming sessions not yet registered
}

// gateWait bounds either wait, so a stuck peer can delay the broker but never stall it.
const gateWait = 2 * time.Second

func newTakeoverGate(server *mqtt.Server) *takeoverGate {
	return &takeoverGate{server: server, routing: map[*mqtt.Client]int{}, resuming: map[*mqtt.Client]bool{}}
}

func (g *takeoverGate) ID() string { return "dualpeer-takeover-gate" }

func (g *takeoverGate) Provides(b byte) bool {
	return b == mqtt.OnSessionEstablish || b == mqtt.OnPublish || b == mqtt.OnPublished || b == mqtt.OnDisconnect
}

// OnSessionEstablish runs just before mochi hands an existing session to cl.
func (g *takeoverGate) OnSessionEstablish(cl *mqtt.Client, _ packets.Packet) {
	if _, ok := g.server.Clients.Get(cl.ID); !ok {
		return // a new session: nothing changes hands
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.resuming[cl] = true
	g.waitLocked(func() bool { return len(g.routing) == 0 })
}

// OnPublish must be the last OnPublish hook: a message an earlier hook rejects is never
// routed, and mochi calls no OnPublished for it.
func (g *takeoverGate) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.waitLocked(func() bool {
		for c := range g.resuming {
			if cur, _ := g.server.Clients.Get(c.ID); cur == c {
				delete(g.resuming, c) // registered: routing finds the new session now
			}
		}
		return len(g.resuming) == 0
	})
	g.routing[cl]++
	return pk, nil
}

func (g *takeoverGate) OnPublished(cl *mqtt.Client, _ packets.Packet) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.routing[cl]--; g.routing[cl] <= 0 {
		delete(g.routing, cl)
	}
}

// OnDisconnect also ends a publish whose PUBACK could not be written (no OnPublished follows).
func (g *takeoverGate) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.routing, cl)
	delete(g.resuming, cl)
}

// waitLocked polls done, with g.mu held while done runs, for at most gateWait.
func (g *takeoverGate) waitLocked(done func() bool) {
	for deadline := time.Now().Add(gateWait); !done() && time.Now().Before(deadline); {
		g.mu.Unlock()
		time.Sleep(50 * time.Microsecond)
		g.mu.Lock()
	}
}
