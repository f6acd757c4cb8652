package dataflow

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
)

// The destination side of a dataflow is a small MQTT 5 publisher written for this one
// job instead of paho's general client: paho's Publish costs a context, a channel and
// a goroutine per QoS 1 message and writes each packet as its own TLS record and
// write(2). Here a QoS 1 message takes a packet identifier from a fixed table (at most
// maxInflight in flight, no goroutine), is encoded into a write-combining buffer, and
// the publishing goroutine writes it (flush) unless another goroutine is writing, which
// then writes it too: one TLS record and one syscall for many packets under load, no
// hand-off when idle. PUBACKs complete the table entries on the reader goroutine.

const (
	// maxBuffered bounds the encoded bytes waiting to be written; publishers wait
	// beyond it (back-pressure, also for QoS 0).
	maxBuffered = 256 << 10
	readBufSize = 16 << 10
)

var (
	errDestClosed = errors.New("destination publisher stopped")
	errDestDown   = errors.New("destination not connected")
)

// outMsg is one message for the destination, already transformed.
type outMsg struct {
	topic   string
	payload []byte
	props   []byte // packed MQTT 5 PUBLISH properties; nil = none
	qos     byte
	retain  bool
}

// slot is one packet identifier of the in-flight table.
type slot struct {
	used  bool
	seq   uint64 // publish order, for resending in order after a reconnect
	tries int    // refusals so far (for the retry backoff)
	msg   outMsg
	it    item
}

// destHooks are the flow's callbacks. done runs on the reader goroutine once the
// destination acknowledged (rc < 0x80) or permanently refused a QoS 1 message.
type destHooks struct {
	done         func(it item, rc byte)
	refused      func(it item, topic string, rc byte) // temporary refusal; the message is retried
	resent       func(n int)
	up           func()
	down         func(err error)
	connectError func(err error)
}

type destClient struct {
	dial      func(ctx context.Context) (net.Conn, error)
	connect   *packets.Connect
	keepAlive time.Duration
	hooks     destHooks
	// ackTimeout: see destAckTimeout; stalled records why keepalive closed the connection.
	ackTimeout time.Duration
	stalled    atomic.Bool

	mu      sync.Mutex
	space   *sync.Cond // signalled when a slot frees, the buffer drains or the connection changes
	slots   []slot     // index = packet identifier - 1
	free    []uint16
	inUse   int
	limit   int // min(maxInflight, the server's Receive Maximum)
	seq     uint64
	conn    net.Conn // nil while disconnected
	gen     uint64   // connection generation
	buf     []byte   // encoded packets not yet written
	spare   []byte   // the other write buffer, reused
	writing bool     // a goroutine is writing (the flusher or a publisher, see flush)
	closed  bool
	kick    chan struct{}
	lastOut atomic.Int64 // unix nanos of the last write (keep-alive)
	lastIn  atomic.Int64 // unix nanos of the last packet read

	stop context.CancelFunc
	done chan struct{}
}

// destAckTimeout: with messages in flight and nothing at all read from the destination
// for this long, the connection is given up (and the messages sent again on a new one).
// Keep-alive alone (1.5 × 60 s) let a silently cut link look up for 90 s, during which
// the dataflow kept only its short connected-queue and held publishers.
const destAckTimeout = 20 * time.Second

func newDestClient(dial func(ctx context.Context) (net.Conn, error), ep Endpoint, clientID string, hooks destHooks) *destClient {
	return newDestClientWith(dial, ep, clientID, hooks, destAckTimeout)
}

func newDestClientWith(dial func(ctx context.Context) (net.Conn, error), ep Endpoint, clientID string, hooks destHooks, ackTimeout time.Duration) *destClient {
	n := ep.MaxInflight
	d := &destClient{
		dial: dial, keepAlive: ep.KeepAlive, hooks: hooks, ackTimeout: ackTimeout,
		slots: make([]slot, n), free: make([]uint16, 0, n), limit: n,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	for id := n; id >= 1; id-- {
		d.free = append(d.free, uint16(id))
	}
	d.space = sync.NewCond(&d.mu)
	expiry := uint32(ep.SessionExpiry / time.Second)
	d.connect = &packets.Connect{
		ProtocolName: "MQTT", ProtocolVersion: 5, ClientID: clientID,
		KeepAlive: uint16(ep.KeepAlive / time.Second),
		// Persistent session, as before with autopaho: the server keeps subscriptions
		// of nobody here, but a stable session avoids surprising the broker's operator.
		CleanStart: false,
		Properties: &packets.Properties{SessionExpiryInterval: &expiry},
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.stop = cancel
	go d.run(ctx)
	return d
}

// inflight is the number of QoS 1 messages published and not yet acknowledged.
func (d *destClient) inflight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inUse
}

// publish1 hands a QoS 1 message to the destination. It blocks while maxInflight
// messages are unacknowledged (back-pressure to the source) and returns errDestClosed
// once the publisher stops. While the connection is down the message waits in its
// slot and is sent on reconnect.
func (d *destClient) publish1(it item, m outMsg) error {
	err := d.send1(it, m, true)
	d.flush()
	return err
}

// errWouldBlock: send1 or send0 without wait found no room.
var errWouldBlock = errors.New("destination window full")

// send1 is publish1 without the write: the caller calls flush (after releasing its own
// locks); without wait it returns errWouldBlock instead of waiting.
func (d *destClient) send1(it item, m outMsg, wait bool) error {
	d.mu.Lock()
	for !d.closed && (d.inUse >= d.limit || len(d.free) == 0 || len(d.buf) >= maxBuffered) {
		if !wait {
			d.mu.Unlock()
			return errWouldBlock
		}
		d.waitLocked()
	}
	if d.closed {
		d.mu.Unlock()
		return errDestClosed
	}
	id := d.free[len(d.free)-1]
	d.free = d.free[:len(d.free)-1]
	d.inUse++
	d.seq++
	d.slots[id-1] = slot{used: true, seq: d.seq, msg: m, it: it}
	if d.conn != nil {
		d.buf = appendPublish(d.buf, id, m, false)
	}
	d.mu.Unlock()
	return nil
}

// publish0 sends a QoS 0 message: at most once, so it is not kept anywhere. It blocks
// while the write buffer is full (back-pressure) and returns errDestDown when there is
// no connection to send it on.
func (d *destClient) publish0(m outMsg) error {
	err := d.send0(m, true)
	d.flush()
	return err
}

// send0 is publish0 without the write (see send1).
func (d *destClient) send0(m outMsg, wait bool) error {
	d.mu.Lock()
	for !d.closed && d.conn != nil && len(d.buf) >= maxBuffered {
		if !wait {
			d.mu.Unlock()
			return errWouldBlock
		}
		d.waitLocked()
	}
	switch {
	case d.closed:
		d.mu.Unlock()
		return errDestClosed
	case d.conn == nil:
		d.mu.Unlock()
		return errDestDown
	}
	d.buf = appendPublish(d.buf, 0, m, false)
	d.mu.Unlock()
	return nil
}

// waitLocked waits for room. Publishers may defer their writes (flush after a batch),
// so buffered packets may have no writer yet: write them first — the PUBACKs that free
// slots, and the room in the buffer, come only after they went out.
func (d *destClient) waitLocked() {
	if !d.writing && len(d.buf) > 0 && d.conn != nil {
		d.drainLocked()
		return
	}
	d.space.Wait()
}

// flush writes what is buffered, on the calling goroutine, unless another goroutine is
// writing already (it writes this too before it stops). So a message goes out from the
// goroutine that published it — no hand-off, no wake-up of another thread, which is what
// a message costs at low rates — and under load whatever accumulated during one write
// goes out as the next single write (one TLS record and syscall for many packets).
func (d *destClient) flush() {
	d.mu.Lock()
	if !d.writing {
		d.drainLocked()
	}
	d.mu.Unlock()
}

// drainLocked writes d.buf until it stays empty; d.mu is held on entry and exit and
// released during each write.
func (d *destClient) drainLocked() {
	d.writing = true
	for len(d.buf) > 0 && d.conn != nil {
		conn, gen := d.conn, d.gen
		out := d.buf
		d.buf = d.spare[:0]
		d.spare = nil
		d.space.Broadcast()
		d.mu.Unlock()
		_, err := conn.Write(out)
		if err == nil {
			d.lastOut.Store(time.Now().UnixNano())
		} else {
			_ = conn.Close() // the reader sees it and reconnects
		}
		d.mu.Lock()
		if cap(out) <= 4*maxBuffered {
			d.spare = out[:0] // do not keep a burst's buffer forever
		}
		if err != nil || d.gen != gen {
			break
		}
	}
	d.writing = false
}

func (d *destClient) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// close stops the publisher: a clean DISCONNECT if connected, then the connection is
// closed. Unacknowledged messages are dropped here; they were never acknowledged to
// the source, which redelivers them.
func (d *destClient) close() {
	d.mu.Lock()
	d.closed = true
	conn := d.conn
	d.space.Broadcast()
	d.mu.Unlock()
	if conn != nil {
		_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
		// Best effort; the flusher may be writing at the same time, so this goes
		// through the buffer.
		d.mu.Lock()
		d.buf = append(d.buf, packets.DISCONNECT<<4, 0)
		d.mu.Unlock()
		d.wake()
		time.Sleep(10 * time.Millisecond)
	}
	d.stop()
	<-d.done
}

// run connects, serves the connection until it fails, and reconnects with backoff.
func (d *destClient) run(ctx context.Context) {
	defer close(d.done)
	backoff := Backoff(reconnectMin, reconnectMax)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff(attempt)):
			}
		}
		conn, br, ca, err := d.handshake(ctx)
		if err != nil {
			if ctx.Err() == nil {
				d.hooks.connectError(err)
			}
			continue
		}
		attempt = 0
		err = d.serve(ctx, conn, br, ca)
		if ctx.Err() == nil {
			d.hooks.down(err)
		}
	}
}

// handshake dials and exchanges CONNECT/CONNACK within the connect timeout.
func (d *destClient) handshake(ctx context.Context) (net.Conn, *bufio.Reader, *packets.Connack, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.dial(cctx)
	if err != nil {
		return nil, nil, nil, err
	}
	stopWatch := context.AfterFunc(cctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stopWatch()
	if _, err := d.connect.WriteTo(conn); err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("send CONNECT: %w", err)
	}
	br := bufio.NewReaderSize(conn, readBufSize)
	cp, err := packets.ReadPacket(br)
	if err != nil {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("read CONNACK: %w", err)
	}
	ca, ok := cp.Content.(*packets.Connack)
	if !ok {
		conn.Close()
		return nil, nil, nil, fmt.Errorf("server answered CONNECT with packet type %d, not CONNACK", cp.Type)
	}
	if ca.ReasonCode >= 0x80 {
		conn.Close()
		reason := ""
		if ca.Properties != nil {
			reason = ca.Properties.ReasonString
		}
		return nil, nil, nil, fmt.Errorf("server refused the connection with reason 0x%02x %s", ca.ReasonCode, reason)
	}
	if !stopWatch() {
		conn.Close()
		return nil, nil, nil, cctx.Err()
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, br, ca, nil
}

// serve runs one connection: resends the unacknowledged messages, starts the flusher
// and keep-alive, and reads acknowledgements until the connection fails.
func (d *destClient) serve(ctx context.Context, conn net.Conn, br *bufio.Reader, ca *packets.Connack) error {
	keepAlive := d.keepAlive
	d.mu.Lock()
	d.limit = len(d.slots)
	if p := ca.Properties; p != nil {
		if p.ReceiveMaximum != nil && int(*p.ReceiveMaximum) < d.limit {
			d.limit = max(int(*p.ReceiveMaximum), 1)
		}
		if p.ServerKeepAlive != nil {
			keepAlive = time.Duration(*p.ServerKeepAlive) * time.Second
		}
	}
	d.gen++
	d.conn = conn
	d.buf = d.buf[:0]
	// Resend in the original order; the server treats them as new QoS 1 messages
	// (at least once: some may be duplicates).
	var resend []uint16
	for i := range d.slots {
		if d.slots[i].used {
			resend = append(resend, uint16(i+1))
		}
	}
	slices.SortFunc(resend, func(a, b uint16) int { return int(d.slots[a-1].seq - d.slots[b-1].seq) })
	for _, id := range resend {
		d.buf = appendPublish(d.buf, id, d.slots[id-1].msg, true)
	}
	d.space.Broadcast()
	d.mu.Unlock()
	if len(resend) > 0 {
		d.hooks.resent(len(resend))
	}
	now := time.Now().UnixNano()
	d.lastIn.Store(now)
	d.lastOut.Store(now)
	d.hooks.up()

	d.stalled.Store(false)
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); d.flusher(cctx) }()
	go func() { defer wg.Done(); d.keepalive(cctx, conn, keepAlive) }()
	d.wake()
	stopWatch := context.AfterFunc(cctx, func() { _ = conn.Close() })
	err := d.read(br)
	if d.stalled.Load() {
		err = fmt.Errorf("no acknowledgement or other packet from the destination for %s with messages in flight; reconnecting", d.ackTimeout)
	}
	cancel()
	stopWatch()
	_ = conn.Close()
	wg.Wait()
	d.mu.Lock()
	d.conn = nil
	d.buf = d.buf[:0]
	d.space.Broadcast()
	d.mu.Unlock()
	return err
}

// flusher writes what other goroutines appended without writing (keep-alive pings,
// resends, retries, DISCONNECT): they wake it.
func (d *destClient) flusher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.kick:
		}
		d.flush()
	}
}

// keepalive sends PINGREQ when nothing was written for half the keep-alive and closes
// the connection when nothing was read for one and a half keep-alives.
func (d *destClient) keepalive(ctx context.Context, conn net.Conn, ka time.Duration) {
	tick := ka / 4
	if d.ackTimeout > 0 && (tick <= 0 || d.ackTimeout/4 < tick) {
		tick = d.ackTimeout / 4
	}
	if tick <= 0 {
		return
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			quiet := now.Sub(time.Unix(0, d.lastIn.Load()))
			if ka > 0 && quiet > ka*3/2 {
				_ = conn.Close()
				return
			}
			if d.ackTimeout > 0 && quiet > d.ackTimeout && d.inflight() > 0 {
				d.stalled.Store(true)
				_ = conn.Close()
				return
			}
			if ka > 0 && now.Sub(time.Unix(0, d.lastOut.Load())) >= ka/2 {
				d.mu.Lock()
				d.buf = append(d.buf, packets.PINGREQ<<4, 0)
				d.mu.Unlock()
				d.wake()
			}
		}
	}
}

// read parses the server's packets: PUBACK completes a slot; PINGRESP only proves
// liveness; DISCONNECT ends the connection.
func (d *destClient) read(br *bufio.Reader) error {
	var body []byte
	for {
		h, err := br.ReadByte()
		if err != nil {
			return err
		}
		n, err := readVarint(br)
		if err != nil {
			return err
		}
		if n > cap(body) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		d.lastIn.Store(time.Now().UnixNano())
		switch h >> 4 {
		case packets.PUBACK:
			if n < 2 {
				return errors.New("malformed PUBACK from the destination")
			}
			var rc byte
			if n > 2 {
				rc = body[2]
			}
			d.acked(binary.BigEndian.Uint16(body), rc)
		case packets.DISCONNECT:
			var rc byte
			if n > 0 {
				rc = body[0]
			}
			return fmt.Errorf("destination disconnected us with reason 0x%02x", rc)
		case packets.PINGRESP:
		default:
			// Nothing else is expected: we neither subscribe nor use QoS 2.
		}
	}
}

// acked completes packet identifier id.
func (d *destClient) acked(id uint16, rc byte) {
	d.mu.Lock()
	if id == 0 || int(id) > len(d.slots) || !d.slots[id-1].used {
		d.mu.Unlock()
		return // a late PUBACK for a message already completed on an earlier connection
	}
	s := &d.slots[id-1]
	if rc >= 0x80 && !permanent(rc) {
		s.tries++
		it, topic, tries, gen := s.it, s.msg.topic, s.tries, d.gen
		d.mu.Unlock()
		d.hooks.refused(it, topic, rc)
		time.AfterFunc(Backoff(reconnectMin, reconnectMax)(tries), func() { d.retry(id, gen) })
		return
	}
	it := s.it
	*s = slot{}
	d.free = append(d.free, id)
	d.inUse--
	d.space.Signal()
	d.mu.Unlock()
	d.hooks.done(it, rc)
}

// retry resends a refused message on the same connection (a reconnect resends it
// anyway).
func (d *destClient) retry(id uint16, gen uint64) {
	d.mu.Lock()
	if d.gen != gen || d.conn == nil || !d.slots[id-1].used {
		d.mu.Unlock()
		return
	}
	d.buf = appendPublish(d.buf, id, d.slots[id-1].msg, true)
	d.mu.Unlock()
	d.hooks.resent(1)
	d.wake()
}

func readVarint(r io.ByteReader) (int, error) {
	var v, shift int
	for i := 0; i < 4; i++ {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		v |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
		shift += 7
	}
	return 0, errors.New("malformed remaining length from the destination")
}

func appendVarint(b []byte, v int) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

// appendPublish encodes an MQTT 5 PUBLISH (id is ignored at QoS 0).
func appendPublish(b []byte, id uint16, m outMsg, dup bool) []byte {
	h := byte(packets.PUBLISH<<4) | m.qos<<1
	if dup && m.qos > 0 {
		h |= 1 << 3
	}
	if m.retain {
		h |= 1
	}
	n := 2 + len(m.topic) + len(m.props) + len(m.payload)
	if m.qos > 0 {
		n += 2
	}
	n += varintLen(len(m.props))
	b = append(b, h)
	b = appendVarint(b, n)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.topic)))
	b = append(b, m.topic...)
	if m.qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	b = appendVarint(b, len(m.props))
	b = append(b, m.props...)
	return append(b, m.payload...)
}

func varintLen(v int) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// dialer returns how the destination is reached.
func destDialer(ep Endpoint, local Dialer) (func(ctx context.Context) (net.Conn, error), error) {
	switch {
	case ep.Local:
		if local == nil {
			return nil, errors.New("the endpoint is the local broker, but no local broker is running")
		}
		return local, nil
	case ep.TLS:
		tc, err := ep.tlsConfig()
		if err != nil {
			return nil, err
		}
		d := &tls.Dialer{Config: tc}
		return func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", ep.Host) }, nil
	default:
		var nd net.Dialer
		return func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "tcp", ep.Host) }, nil
	}
}
