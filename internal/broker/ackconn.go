package broker

import (
	"crypto/tls"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// ackConn sits under every client connection (under TLS where there is TLS) and
// coalesces what the broker writes while it works through packets that arrived
// together. mochi handles one packet at a time and writes each acknowledgement at
// once: a burst of 30 QoS 1 PUBLISHes cost 30 state-log write(2)s (each PUBACK needs
// its message in the kernel first) and 30 socket write(2)s. Instead, from the moment
// a Read returns until the connection's goroutine comes back for more input (the
// next Read), writes are held in memory; before that Read blocks, the state log is
// flushed once if a held acknowledgement needs it, then the held bytes go out with
// one write(2). No acknowledgement leaves before its record is in the kernel, and
// none waits longer than the processing of the input already received.
//
// Writes from other goroutines (mochi's write loop, or a publisher delivering inline: see
// acceptsInline) are held the same way while the reader is busy, and go straight out while
// it waits for input: with one non-blocking write(2) on the caller's goroutine, the rest
// (a peer that does not read fast enough) left to a drain goroutine. So a Write blocks only
// while ackHoldMax bytes wait for such a peer — mochi's write loop then stops, its queue
// fills, and the flow hook holds the publishers (flow.go) — and never blocks a publisher
// writing inline, which only happens while nothing waits (acceptsInline).
type ackConn struct {
	net.Conn
	db  *kvLog
	raw syscall.RawConn // for the non-blocking first attempt; nil: every write blocks

	// mu is never held during a socket write, so the connection's goroutine can always
	// come back to Read while a delivery to a slow client is being written.
	mu      sync.Mutex
	drained sync.Cond // broadcast when held shrinks or err is set (Writes waiting for room)
	reading bool      // the connection's goroutine is between a Read and the next
	writing bool      // a goroutine is draining held to the socket (mu released)
	owe     bool      // held acknowledgements need the state log flushed first
	held    []byte    // bytes to write, in order
	spare   []byte    // the other buffer, reused
	err     error     // a failed flush or write: the connection is finished
	// unrecorded: QoS 1 messages whose PUBACK is held while the broker routes them, not
	// yet in the state log (see holdRecord); written before any flush the PUBACK waits for.
	unrecorded []unrecorded
	// deadline is the deadline last set through SetDeadline, in Unix nanoseconds (0: none).
	deadline atomic.Int64
	// lastRead is what the last Read returned: a packet about that size came alone (lone).
	lastRead int
	// corkedBy: deliveries to this connection are held until that publisher's connection
	// has worked through the batch it read, then go out with one write(2) (corkFor).
	corkedBy *ackConn
	// after runs, once, when the connection's goroutine is done with the input read
	// together (before its next Read): attached consumers' writes (see attach.go).
	after     []func()
	afterKeys []any
}

// afterBatch registers fn (once per key) to run before the connection's goroutine
// reads again; it reports false when that goroutine is not between reads (the caller
// runs fn itself).
func (c *ackConn) afterBatch(key any, fn func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reading || c.err != nil {
		return false
	}
	for _, k := range c.afterKeys {
		if k == key {
			return true
		}
	}
	c.after = append(c.after, fn)
	c.afterKeys = append(c.afterKeys, key)
	return true
}

// deadlineSlack: how much later than asked SetDeadline may let a deadline pass.
const deadlineSlack = time.Second

// SetDeadline sets the connection's deadline up to deadlineSlack later than t, and skips
// a t that the deadline already set covers within that slack. mochi moves the keep-alive
// deadline (1.5 × keep-alive) for every packet it reads; each move was a runtime timer
// update, ~2 % of an agent's CPU per message at 1,000 msg/s (perf). Now it is at most one
// a second, and a silent client is cut off at most a second late. An earlier deadline
// (more than the slack before the one set) and no deadline (zero t) take effect at once.
func (c *ackConn) SetDeadline(t time.Time) error {
	if t.IsZero() {
		c.deadline.Store(0)
		return c.Conn.SetDeadline(t)
	}
	n := t.UnixNano()
	if d := c.deadline.Load(); d != 0 && n <= d && n >= d-int64(deadlineSlack) {
		return nil
	}
	t = t.Add(deadlineSlack)
	c.deadline.Store(t.UnixNano())
	return c.Conn.SetDeadline(t)
}

// ackHoldMax: hold at most this much before writing anyway (one large burst must not
// buffer without bound).
const ackHoldMax = 64 << 10

func newAckConn(c net.Conn, db *kvLog) *ackConn {
	a := &ackConn{Conn: c, db: db}
	a.drained.L = &a.mu
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			a.raw = raw
		}
	}
	return a
}

// acceptsInline reports whether a delivery can be written on the publisher's goroutine
// (mochi's WriteInline option, a patch in third_party/mochi-mqtt-server): nothing is
// waiting to go out, so the write is one non-blocking write(2) and cannot block the
// publisher on a slow subscriber.
func (c *ackConn) acceptsInline() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writableLocked() && len(c.held) == 0
}

// writableLocked: a write now goes out with one non-blocking write(2) or joins a hold — no
// failure, no drain goroutine busy with a slow peer, no acknowledgement waiting for the log.
func (c *ackConn) writableLocked() bool {
	return c.raw != nil && c.err == nil && !c.writing && !c.owe
}

// writeInline is mochi's WriteInline option for server: a delivery of pk to cl is
// written on the publisher's goroutine, not handed to cl's write goroutine (a goroutine
// wake-up, often another thread's, per delivery), when cl's connection can take it
// without blocking and
//   - pk came alone (its publisher's last read held nothing else): written at once;
//   - pk came in a small batch (a few packets: a publisher that caught up after a pause,
//     B's dataflow after a stall on the host): held on cl's connection until the
//     publisher's goroutine is done with the batch, then written with one write(2)
//     (corkFor). Handing these to the write goroutine woke another thread for most of
//     them, and on a shared 2-core VM each such wake-up at a bad moment costs
//     milliseconds (docs/benchmarks.md, Findings);
//   - otherwise (a large read: under load) mochi's write goroutine coalesces the
//     deliveries into one TLS record and one write(2), on the other core; writing each
//     inline there cost A half its QoS 0 throughput.
func writeInline(server *mqtt.Server) func(cl *mqtt.Client, pk packets.Packet) bool {
	return func(cl *mqtt.Client, pk packets.Packet) bool {
		a := ackConnOf(cl)
		if a == nil {
			return false
		}
		pub, ok := server.Clients.Get(pk.Origin)
		if !ok {
			return false
		}
		pa := ackConnOf(pub)
		if pa == nil {
			return false
		}
		switch pa.batch(wireSize(&pk)) {
		case batchLone:
			return a.acceptsInline()
		case batchSmall:
			return a.corkFor(pa)
		}
		return false
	}
}

// corkFor holds what is written to c (deliveries: see writeInline) until pa's goroutine is
// done with the batch it read, and reports whether c can take a delivery on those terms:
// it could be written without blocking (as acceptsInline) and is held for pa already or
// for nobody. Called on pa's goroutine, between its reads.
func (c *ackConn) corkFor(pa *ackConn) bool {
	c.mu.Lock()
	ok := c.writableLocked() && (c.corkedBy == pa || (c.corkedBy == nil && len(c.held) == 0))
	first := ok && c.corkedBy == nil
	if first {
		c.corkedBy = pa
	}
	c.mu.Unlock()
	if first && !pa.afterBatch(c, c.uncork) {
		c.uncork()
		return false
	}
	return ok
}

// uncork ends corkFor's hold: what is held goes out now, with one non-blocking write(2)
// (the rest from a drain goroutine), unless c's own goroutine is between reads and sends
// it at its next Read, or a goroutine is writing and takes it along.
func (c *ackConn) uncork() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corkedBy = nil
	if c.writing || c.reading || c.err != nil || len(c.held) == 0 {
		return
	}
	if c.owe || c.raw == nil {
		_ = c.drainLocked()
		return
	}
	_ = c.writeOnceLocked()
}

// ackConnOf finds the ackConn under a mochi client's connection, or nil.
func ackConnOf(cl *mqtt.Client) *ackConn {
	c := cl.Net.Conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	a, _ := c.(*ackConn)
	return a
}

// unrecorded is a message acknowledged by a held PUBACK whose pending record was not
// written (holdRecord); pk is a copy, its payload shared read-only with the broker.
type unrecorded struct {
	client string
	pk     packets.Packet
}

// holdRecord is storeHook.OnPublish's way to skip a QoS 1 message's pending record, which
// exists only so that an acknowledged message survives a crash before the broker has
// copied it to its subscribers' sessions. When the PUBACK is held (the connection's
// goroutine is between reads: it goes out after the log flush at the next Read, or
// earlier only through drainLocked), the record is written only if a flush comes while
// the message is still being routed — which happens only when a drain goroutine sends
// held bytes mid-batch. Normally the message is routed first (OnPublished: dropRecord)
// and nothing is written: at 1,000 msg/s the record was ~350 bytes of garbage and a
// set-then-delete in the log per message on each agent. It reports false when the PUBACK
// will not be held (the caller records and flushes itself).
func (c *ackConn) holdRecord(client string, pk *packets.Packet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reading || c.err != nil {
		return false
	}
	c.owe = true
	c.unrecorded = append(c.unrecorded, unrecorded{client: client, pk: *pk})
	return true
}

// dropRecord forgets a message holdRecord kept and reports whether it was still there
// (false: it was never held, or its record was written meanwhile; the caller deletes it).
func (c *ackConn) dropRecord(client string, id uint16) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.unrecorded {
		if u := &c.unrecorded[i]; u.pk.PacketID == id && u.client == client {
			c.unrecorded = slices.Delete(c.unrecorded, i, i+1)
			return true
		}
	}
	return false
}

// recordLocked writes the pending records of the messages still being routed (before a
// flush that a held PUBACK of theirs may wait for).
func (c *ackConn) recordLocked() error {
	for i := range c.unrecorded {
		u := &c.unrecorded[i]
		if err := c.db.Set(pendingRecord(u.client, &u.pk)); err != nil {
			return err
		}
		u.pk = packets.Packet{}
	}
	c.unrecorded = c.unrecorded[:0]
	return nil
}

// deferFlush is called before an acknowledgement is written: if the acknowledgement
// will be held, the state log is flushed before it is released and true is returned;
// otherwise the caller must flush itself.
func (c *ackConn) deferFlush() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reading && c.err == nil {
		c.owe = true
		return true
	}
	return false
}

func (c *ackConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	for len(c.after) > 0 {
		// Messages forwarded by attached consumers first (the dataflow's write to the
		// other cluster): one write for the whole batch just read, right now.
		after := c.after
		c.after, c.afterKeys = nil, nil
		c.mu.Unlock()
		for _, fn := range after {
			fn()
		}
		c.mu.Lock()
	}
	var err error
	if !c.writing { // otherwise the goroutine writing sends what is held, too
		err = c.drainLocked()
	}
	c.reading = false
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.reading = true
	c.lastRead = n
	c.mu.Unlock()
	return n, err
}

// loneSlack covers a TLS record's framing (22-29 bytes) and a small packet that came
// along (a PINGREQ, an acknowledgement).
const loneSlack = 64

// lone reports whether a packet of wire bytes is all the connection's goroutine read
// last: nothing else is waiting to be processed after it, so what it causes (a
// delivery, a forward to the other cluster) may go out at once instead of with the
// rest of a batch. Under load a Read returns many packets and the answer is false.
func (c *ackConn) lone(wire int) bool { return c.batch(wire) == batchLone }

// What the connection's goroutine is working through, as batch tells.
const (
	batchNone  = iota // not between reads (not on the connection's goroutine)
	batchLone         // the packet came alone (lone)
	batchSmall        // a few packets: at most smallBatch packets of this size
	batchLarge        // more: under load
)

// smallBatch is the most packets of a size that writeInline still delivers from the
// publisher's goroutine (corked); the read buffer holds 16 KiB.
const smallBatch = 8

// batch tells how much the connection's goroutine read together with a packet of wire
// bytes (see lone and writeInline).
func (c *ackConn) batch(wire int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.reading:
		return batchNone
	case c.lastRead <= wire+loneSlack:
		return batchLone
	case c.lastRead <= smallBatch*(wire+loneSlack):
		return batchSmall
	}
	return batchLarge
}

// wireSize is the size of pk as it was received: fixed header and remaining length.
func wireSize(pk *packets.Packet) int {
	n := 2
	for r := pk.FixedHeader.Remaining; r >= 128; r >>= 7 {
		n++
	}
	return n + pk.FixedHeader.Remaining
}

func (c *ackConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// While another goroutine writes, it takes these bytes too; wait only while a full
	// ackHoldMax is already waiting for the peer.
	for c.writing && c.err == nil && len(c.held) >= ackHoldMax {
		c.drained.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	c.held = append(c.held, p...)
	if c.writing || ((c.reading || c.corkedBy != nil) && len(c.held) < ackHoldMax) {
		return len(p), nil
	}
	if c.owe || c.raw == nil {
		if err := c.drainLocked(); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if err := c.writeOnceLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeOnceLocked writes what is held with one non-blocking write(2) and leaves what the
// kernel did not take to a drain goroutine. Called with mu held, !writing and !owe.
func (c *ackConn) writeOnceLocked() error {
	for {
		buf, n, err := c.sendLocked(c.tryWrite)
		if err != nil {
			c.err = err
			return err
		}
		if n < len(buf) {
			// The peer's socket buffer is full: the rest goes first, before what other
			// goroutines added meanwhile; a goroutine of its own waits for the peer.
			c.held = append(append(make([]byte, 0, len(buf)-n+len(c.held)), buf[n:]...), c.held...)
			c.writing = true
			go c.drainAsync()
			return nil
		}
		switch {
		case len(c.held) == 0:
			return nil
		case c.reading:
			// Added while we wrote by the connection's goroutine, now in a batch: it sends
			// them at its next Read, after the log flush its acknowledgements may need.
			return nil
		case c.owe:
			return c.drainLocked()
		}
		// Added while we wrote, with nobody left to send them: another round.
	}
}

// tryWrite is one non-blocking write(2): the bytes the kernel took, no waiting.
func (c *ackConn) tryWrite(buf []byte) (int, error) {
	var n int
	var werr error
	err := c.raw.Write(func(fd uintptr) bool {
		for {
			n, werr = syscall.Write(int(fd), buf)
			if werr != syscall.EINTR {
				return true // done either way: EAGAIN is not waited for here
			}
		}
	})
	if werr == syscall.EAGAIN {
		n, werr = 0, nil
	}
	if err == nil {
		err = werr
	}
	if n < 0 {
		n = 0
	}
	return n, err
}

// drainAsync writes what is held, blocking, until nothing is (see writeOnceLocked).
func (c *ackConn) drainAsync() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writing = false
	_ = c.drainLocked()
}

// release writes what is held now; the flow hook calls it before holding a publisher.
func (c *ackConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing {
		return nil
	}
	return c.drainLocked()
}

// drainLocked flushes the state log if a held acknowledgement needs it, then writes
// the held bytes, until nothing is held. Called with mu held and !writing; mu is
// released during each socket write (Writes meanwhile append to held).
func (c *ackConn) drainLocked() error {
	for c.err == nil && (c.owe || len(c.held) > 0) {
		if c.owe {
			c.owe = false
			err := c.recordLocked()
			if err == nil {
				err = c.db.Flush()
			}
			if err != nil && err != errStoreClosed {
				// The held PUBACKs are for messages that are not recorded: never send
				// them. The connection ends; the client sends the messages again.
				c.err = err
				c.held = c.held[:0]
				c.drained.Broadcast()
				_ = c.Conn.Close()
				return err
			}
		}
		if len(c.held) == 0 {
			break
		}
		if _, _, err := c.sendLocked(c.Conn.Write); err != nil {
			c.err = err
		}
	}
	return c.err
}

// sendLocked hands what is held to write with mu released (writing set meanwhile, so
// Writes append behind it) and returns the buffer and what write returned. The buffer is
// reused for the next batch when it was written whole. Called with mu held and !writing.
func (c *ackConn) sendLocked(write func([]byte) (int, error)) ([]byte, int, error) {
	buf := c.held
	c.held, c.spare = c.spare[:0], nil
	c.writing = true
	c.mu.Unlock()
	n, err := write(buf)
	c.mu.Lock()
	c.writing = false
	c.drained.Broadcast()
	if n == len(buf) && cap(buf) <= 4*ackHoldMax { // a one-off giant buffer is not kept
		c.spare = buf[:0]
	}
	return buf, n, err
}

// Close sends what is held (a DISCONNECT with a reason, the last acknowledgements)
// before closing.
func (c *ackConn) Close() error {
	c.mu.Lock()
	c.reading = false // no more afterBatch registrations: callers run fn themselves
	after := c.after
	c.after, c.afterKeys = nil, nil
	c.mu.Unlock()
	for _, fn := range after {
		fn() // forwarded messages still go out; they do not depend on this connection
	}
	c.mu.Lock()
	if !c.writing && (len(c.held) > 0 || c.owe) {
		// A peer that stopped reading must not hold up the close (session takeover,
		// shutdown): what does not go out within a second is dropped with the connection.
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = c.drainLocked()
	}
	c.reading = false
	c.mu.Unlock()
	return c.Conn.Close()
}
