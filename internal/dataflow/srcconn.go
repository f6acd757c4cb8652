package dataflow

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// srcConn wraps the source connection for two reasons:
//
//   - it knows when the connection is gone (dead), so the engine can skip the messages
//     paho still delivers from its buffer after the connection died: their PUBACKs can
//     never reach the broker, which redelivers them on the next connection anyway;
//   - it buffers reads: paho reads each packet with three or four small reads (type,
//     length, body) straight from the connection, one syscall each; a bufio.Reader
//     makes that one syscall per burst of packets. B's broker drops QoS 0 messages for
//     a subscriber that reads too slowly, so this is what carries QoS 0 throughput;
//   - it coalesces writes: paho writes every PUBACK as two writes (header, body), and
//     flushes acknowledgements in batches every ackInterval, so one flusher goroutine
//     turns a batch into one write(2).
type srcConn struct {
	net.Conn
	dead atomic.Bool
	br   *bufio.Reader // only paho's reader goroutine reads

	wmu   sync.Mutex // held while writing to Conn
	mu    sync.Mutex
	space *sync.Cond
	buf   []byte
	err   error
	kick  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// maxSrcBuffered bounds the bytes waiting for the flusher (acks are 4-byte packets).
const maxSrcBuffered = 64 << 10

func newSrcConn(c net.Conn) *srcConn {
	s := &srcConn{Conn: c, br: bufio.NewReaderSize(c, 64<<10), kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.space = sync.NewCond(&s.mu)
	go s.flusher()
	return s
}

func (s *srcConn) Read(p []byte) (int, error) { return s.br.Read(p) }

func (s *srcConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	for s.err == nil && len(s.buf) >= maxSrcBuffered {
		s.space.Wait()
	}
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return 0, err
	}
	s.buf = append(s.buf, p...)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (s *srcConn) flusher() {
	var out []byte
	for {
		select {
		case <-s.done:
			return
		case <-s.kick:
		}
		for {
			s.mu.Lock()
			if len(s.buf) == 0 || s.err != nil {
				s.mu.Unlock()
				break
			}
			out, s.buf = s.buf, out[:0]
			s.space.Broadcast()
			s.mu.Unlock()
			s.wmu.Lock()
			_, err := s.Conn.Write(out)
			s.wmu.Unlock()
			if err != nil {
				s.fail(err)
				_ = s.Conn.Close()
				return
			}
		}
	}
}

func (s *srcConn) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.space.Broadcast()
	s.mu.Unlock()
}

// Close writes what is still buffered (paho's DISCONNECT, last PUBACKs; bounded in
// time by a write deadline) and closes the connection.
func (s *srcConn) Close() error {
	s.dead.Store(true)
	s.once.Do(func() { close(s.done) })
	_ = s.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	s.mu.Lock()
	rest := s.buf
	s.buf = nil
	pending := s.err == nil
	s.mu.Unlock()
	s.fail(net.ErrClosed)
	if pending && len(rest) > 0 {
		s.wmu.Lock()
		_, _ = s.Conn.Write(rest)
		s.wmu.Unlock()
	}
	return s.Conn.Close()
}
