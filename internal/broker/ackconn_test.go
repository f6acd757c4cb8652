package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
)

// mqttPacket encodes one MQTT 3.1.1 packet: type/flags byte, remaining length, body.
func mqttPacket(first byte, body []byte) []byte {
	b := []byte{first}
	n := len(body)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			break
		}
	}
	return append(b, body...)
}

func mqttString(s string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(s))), s...)
}

// recordedPayloads replays a copy of the state log as a restarted broker would after a
// SIGKILL now, and returns the payloads it would still deliver.
func recordedPayloads(t *testing.T, dir string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.log")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := openKVLog(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := &storeHook{db: db}
	out := map[string]bool{}
	inflight, err := h.StoredInflightMessages()
	if err != nil {
		t.Fatal(err)
	}
	pending, err := h.pending()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range append(inflight, pending...) {
		out[string(m.Payload)] = true
	}
	return out
}

// TestPubackOnlyAfterRecord: a burst of QoS 1 PUBLISHes in one write (their PUBACKs
// are held and sent together, ackconn.go); at the moment each PUBACK arrives, the
// state log in the kernel already holds its message — a SIGKILL then loses nothing
// acknowledged.
func TestPubackOnlyAfterRecord(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, Config{DataDir: dir, Listeners: []Listener{{Name: "p", Addr: "127.0.0.1:0"}}}, nil)
	// An offline persistent subscriber: its queue keeps every routed message on disk.
	sub := inprocClient(t, b, "offline-sub", true, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "burst", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	_ = sub.Disconnect(&paho.Disconnect{})

	conn, err := b.DialInProcess(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	connect := append(mqttString("MQTT"), 4, 0x02, 0, 30)
	if _, err := conn.Write(mqttPacket(0x10, append(connect, mqttString("raw-pub")...))); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	connack := make([]byte, 4)
	if _, err := io.ReadFull(r, connack); err != nil || connack[0] != 0x20 || connack[3] != 0 {
		t.Fatalf("CONNACK %x, %v", connack, err)
	}
	const n = 100
	var burst []byte
	for i := 1; i <= n; i++ {
		body := append(mqttString("burst"), byte(i>>8), byte(i))
		burst = append(burst, mqttPacket(0x32, append(body, fmt.Sprint(i)...))...)
	}
	if _, err := conn.Write(burst); err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	for len(acked) < n {
		ack := make([]byte, 4)
		if _, err := io.ReadFull(r, ack); err != nil {
			t.Fatalf("after %d PUBACKs: %v", len(acked), err)
		}
		if ack[0] != 0x40 {
			t.Fatalf("got packet %x, want PUBACK", ack)
		}
		id := int(binary.BigEndian.Uint16(ack[2:]))
		acked[id] = true
		rec := recordedPayloads(t, dir)
		for a := range acked {
			if !rec[fmt.Sprint(a)] {
				t.Fatalf("message %d was acknowledged but a crash now would lose it (%d of %d acknowledged)", a, len(acked), n)
			}
		}
	}
}

// ackConnPair is an ackConn over one end of a socket pair (server) and the other end
// (client), both closed when the test ends.
func ackConnPair(t *testing.T, db *kvLog) (*ackConn, net.Conn, net.Conn) {
	t.Helper()
	server, client, err := socketPair()
	if err != nil {
		t.Fatal(err)
	}
	a := newAckConn(server, db)
	t.Cleanup(func() {
		a.Close()
		client.Close()
	})
	return a, server, client
}

// readBatch has the peer send a PINGREQ and a's goroutine read it: a batch begins (and the
// one before ends, running what waited for its end).
func readBatch(t *testing.T, a *ackConn, server, client net.Conn) {
	t.Helper()
	if _, err := client.Write([]byte{0xc0, 0}); err != nil {
		t.Fatal(err)
	}
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Read(make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
}

// TestAckConnWriteDoesNotWaitForPeer: with the peer not reading, Writes return at once
// until ackHoldMax bytes wait beyond the kernel's buffer (a drain goroutine takes them);
// then the next Write waits, and acceptsInline is false while anything waits. Once the
// peer reads, every byte arrives, in order.
func TestAckConnWriteDoesNotWaitForPeer(t *testing.T) {
	a, server, client := ackConnPair(t, nil)
	// A small kernel buffer, so what the test sees waiting is the ackConn's, not the kernel's.
	_ = server.(*net.UnixConn).SetWriteBuffer(4096)
	_ = client.(*net.UnixConn).SetReadBuffer(4096)
	if a.raw == nil || !a.acceptsInline() {
		t.Fatal("a fresh connection should take inline writes")
	}
	chunk := make([]byte, 1024)
	var sent []byte
	wrote := make(chan int, 1)
	stop := make(chan struct{})
	go func() {
		defer close(wrote)
		for i := 0; ; i++ {
			for j := range chunk {
				chunk[j] = byte(i + j)
			}
			sent = append(sent, chunk...)
			if _, err := a.Write(chunk); err != nil {
				return
			}
			select {
			case wrote <- i:
			case <-stop:
				return
			}
		}
	}()
	// Collect Writes until one has not returned for 200 ms: it waits for room.
	n := 0
	for blocked := false; !blocked; {
		select {
		case _, ok := <-wrote:
			if !ok {
				t.Fatal("Write failed")
			}
			n++
		case <-time.After(200 * time.Millisecond):
			blocked = true
		}
	}
	if n*len(chunk) < ackHoldMax {
		t.Fatalf("only %d KiB written before a Write waited; want at least ackHoldMax (%d KiB) held for the peer", n, ackHoldMax>>10)
	}
	if a.acceptsInline() {
		t.Fatal("acceptsInline is true while bytes wait for the peer")
	}
	close(stop)
	// The peer reads: the waiting Write completes, the writer stops, and everything
	// arrives in order.
	var got []byte
	buf := make([]byte, 64<<10)
	writerDone := false
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	for !writerDone || len(got) < len(sent) {
		m, err := client.Read(buf)
		got = append(got, buf[:m]...)
		if err != nil {
			t.Fatalf("read %d bytes: %v", len(got), err)
		}
		if !writerDone {
			select {
			case _, open := <-wrote:
				writerDone = !open
			default:
			}
		}
	}
	if !bytes.Equal(got, sent) {
		t.Fatalf("peer got %d bytes, sent %d; not the same bytes in the same order", len(got), len(sent))
	}
	waitFor(t, "the drain goroutine to finish", 5*time.Second, a.acceptsInline)
}

// TestBatch: a packet is lone when the connection's last read returned it alone (give or
// take TLS framing), in a small batch when it came with a few others, and in a large one
// (under load) beyond smallBatch packets of its size.
func TestBatch(t *testing.T) {
	a, server, client := ackConnPair(t, nil)
	pub := mqttPacket(0x30, append(mqttString("t"), make([]byte, 200)...)) // remaining length 203: two bytes
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Remaining: len(pub) - 3}}
	if got := wireSize(&pk); got != len(pub) {
		t.Fatalf("wireSize = %d, want %d", got, len(pub))
	}
	if got := a.batch(wireSize(&pk)); got != batchNone {
		t.Fatalf("before any read: batch = %d, want batchNone", got)
	}
	buf := make([]byte, 64<<10)
	for _, tc := range []struct {
		name  string
		burst []byte
		want  int
	}{
		{"one packet", pub, batchLone},
		{"one packet and a PINGREQ", append(append([]byte{}, pub...), 0xc0, 0), batchLone},
		{"three packets", bytes.Repeat(pub, 3), batchSmall},
		{"smallBatch packets", bytes.Repeat(pub, smallBatch), batchSmall},
		{"a read full of packets", bytes.Repeat(pub, 40), batchLarge},
	} {
		if _, err := client.Write(tc.burst); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the bytes to arrive", 5*time.Second, func() bool {
			_ = server.SetReadDeadline(time.Now().Add(time.Second))
			n, err := a.Read(buf)
			return err == nil && n == len(tc.burst)
		})
		if got := a.batch(wireSize(&pk)); got != tc.want {
			t.Errorf("%s: batch = %d, want %d", tc.name, got, tc.want)
		}
		if got, want := a.lone(wireSize(&pk)), tc.want == batchLone; got != want {
			t.Errorf("%s: lone = %v, want %v", tc.name, got, want)
		}
	}
}

// TestCorkFor: deliveries corked for a publisher's batch are held until that publisher's
// goroutine comes back to read, then arrive in order; meanwhile no other publisher can cork
// the connection, and afterwards one can.
func TestCorkFor(t *testing.T) {
	pa, paServer, paClient := ackConnPair(t, nil)
	pb, pbServer, pbClient := ackConnPair(t, nil)
	sub, _, subClient := ackConnPair(t, nil)
	subReads := func(d time.Duration) string {
		t.Helper()
		_ = subClient.SetReadDeadline(time.Now().Add(d))
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(subClient, b, 1)
		return string(b[:n])
	}
	readBatch(t, pa, paServer, paClient)
	readBatch(t, pb, pbServer, pbClient)
	if !sub.corkFor(pa) {
		t.Fatal("corkFor(pa) on an idle connection = false")
	}
	for _, w := range []string{"one,", "two,"} {
		if !sub.corkFor(pa) {
			t.Fatalf("corkFor(pa) again before %q = false: the same batch may add more", w)
		}
		if _, err := sub.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if sub.corkFor(pb) {
		t.Error("corkFor(pb) = true while the connection is held for pa's batch")
	}
	if got := subReads(100 * time.Millisecond); got != "" {
		t.Fatalf("the subscriber got %q before pa's batch ended", got)
	}
	readBatch(t, pa, paServer, paClient) // pa's next read ends its batch: the held deliveries go out
	if got := subReads(5 * time.Second); got != "one,two," {
		t.Errorf("after pa's batch the subscriber got %q, want %q", got, "one,two,")
	}
	if !sub.corkFor(pb) {
		t.Error("corkFor(pb) = false after pa's batch ended")
	}
	if _, err := sub.Write([]byte("three")); err != nil {
		t.Fatal(err)
	}
	readBatch(t, pb, pbServer, pbClient)
	if got := subReads(5 * time.Second); got != "three" {
		t.Errorf("after pb's batch the subscriber got %q, want %q", got, "three")
	}
}

// TestHeldRecordWrittenOnlyWhenNeeded: a QoS 1 message whose PUBACK is held (holdRecord)
// gets no pending record when it is routed before the batch ends (the usual case), and
// gets one before the PUBACK leaves when something sends the held bytes mid-batch (here
// release, as the flow hook does; a drain goroutine does the same).
func TestHeldRecordWrittenOnlyWhenNeeded(t *testing.T) {
	dir := t.TempDir()
	db, err := openKVLog(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after the connection's Close, which may flush
	a, server, client := ackConnPair(t, db)
	batch := func() { // the connection's goroutine reads a batch (and ends the one before)
		t.Helper()
		readBatch(t, a, server, client)
	}
	publish := func(id uint16, payload string) *packets.Packet {
		return &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: id,
			TopicName: "t", Payload: []byte(payload), Origin: "pub"}
	}
	puback := func(id uint16) []byte { return []byte{0x40, 2, byte(id >> 8), byte(id)} }
	logSize := func() int64 {
		fi, err := os.Stat(filepath.Join(dir, StateFile))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}

	// Routed within the batch: nothing written.
	batch()
	before := logSize()
	if !a.holdRecord("pub", publish(1, "routed")) {
		t.Fatal("holdRecord = false while the connection's goroutine is between reads")
	}
	if _, err := a.Write(puback(1)); err != nil {
		t.Fatal(err)
	}
	if !a.dropRecord("pub", 1) {
		t.Fatal("dropRecord = false for a message held and not written")
	}
	batch() // ends the batch: the PUBACK goes out
	if got := logSize(); got != before {
		t.Errorf("the state log grew by %d bytes for a message routed before its PUBACK left", got-before)
	}

	// The held PUBACK leaves mid-batch: its record first.
	if !a.holdRecord("pub", publish(2, "in flight")) {
		t.Fatal("holdRecord = false while the connection's goroutine is between reads")
	}
	if _, err := a.Write(puback(2)); err != nil {
		t.Fatal(err)
	}
	if err := a.release(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 8) // PUBACK 1 and 2
	if _, err := io.ReadFull(client, got); err != nil || got[7] != 2 {
		t.Fatalf("PUBACKs %x, %v", got, err)
	}
	if !recordedPayloads(t, dir)["in flight"] {
		t.Fatal("PUBACK 2 left before its message's record reached the state log")
	}
	if a.dropRecord("pub", 2) {
		t.Error("dropRecord = true for a message whose record was written: the caller would not delete it")
	}
}

// TestSetDeadlineSlack: refreshes within a second of the deadline set are skipped (one
// timer update a second instead of one per packet), the deadline is never earlier than
// asked and at most deadlineSlack later, and an earlier deadline or none applies at once.
func TestSetDeadlineSlack(t *testing.T) {
	a, server, _ := ackConnPair(t, nil)
	set := func() time.Time { return time.Unix(0, a.deadline.Load()) }
	now := time.Now()
	for _, tc := range []struct {
		name string
		t    time.Time
		want time.Time
	}{
		{"first deadline: slack added", now.Add(45 * time.Second), now.Add(46 * time.Second)},
		{"refresh within the slack: skipped", now.Add(45*time.Second + 500*time.Millisecond), now.Add(46 * time.Second)},
		{"refresh past the deadline set: applied", now.Add(46*time.Second + time.Millisecond), now.Add(47*time.Second + time.Millisecond)},
		{"much earlier deadline: applied", now.Add(time.Second), now.Add(2 * time.Second)},
		{"none", time.Time{}, time.Unix(0, 0)},
	} {
		if err := a.SetDeadline(tc.t); err != nil {
			t.Fatal(err)
		}
		if got := set(); !got.Equal(tc.want) {
			t.Errorf("%s: deadline %v after now, want %v", tc.name, got.Sub(now), tc.want.Sub(now))
		}
		if !tc.t.IsZero() && (set().Before(tc.t) || set().Sub(tc.t) > deadlineSlack) {
			t.Errorf("%s: deadline %v for %v asked: earlier, or later by more than %v", tc.name, set().Sub(now), tc.t.Sub(now), deadlineSlack)
		}
	}
	// The deadline set is the one the socket has: a read past it fails.
	if err := a.SetDeadline(time.Now().Add(-deadlineSlack - 50*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 1)); err == nil {
		t.Error("read after the deadline passed did not fail")
	}
}
