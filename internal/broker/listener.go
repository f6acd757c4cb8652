package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// tcpListener replaces mochi's TCP listener so that (1) the TLS handshake runs with a
// deadline in the connection's own goroutine — a slow or silent client can neither
// block the accept loop nor hold a goroutine forever — and (2) handshake failures are
// counted and logged per listener.
type tcpListener struct {
	id, addr  string
	tlsConfig *tls.Config
	timeout   time.Duration
	log       *slog.Logger
	metrics   *metrics
	db        *kvLog // acknowledgements wait for it (ackConn)

	mu     sync.Mutex
	ln     net.Listener
	closed atomic.Bool
	wg     sync.WaitGroup
}

var _ listeners.Listener = (*tcpListener)(nil)

func (l *tcpListener) ID() string { return l.id }

func (l *tcpListener) Protocol() string {
	if l.tlsConfig != nil {
		return "mqtts"
	}
	return "mqtt"
}

func (l *tcpListener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

func (l *tcpListener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	return nil
}

func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("accept failed", "listener", l.id, "error", err)
			time.Sleep(50 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.handle(conn, establish)
		}()
	}
}

func (l *tcpListener) handle(conn net.Conn, establish listeners.EstablishFn) {
	// The deadline covers the TLS handshake and the CONNECT packet; mochi replaces
	// it with the keep-alive deadline once CONNECT is accepted.
	_ = conn.SetDeadline(time.Now().Add(l.timeout))
	conn = newAckConn(conn, l.db)
	if l.tlsConfig != nil {
		tc := tls.Server(conn, l.tlsConfig)
		ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			l.metrics.handshakeFailures.WithLabelValues(l.id).Inc()
			l.log.Info("TLS handshake refused", "listener", l.id, "remote", conn.RemoteAddr().String(), "error", err)
			_ = conn.Close()
			return
		}
		conn = tc
	}
	if err := establish(l.id, conn); err != nil && !isBenignClose(err) {
		l.log.Debug("client connection ended", "listener", l.id, "remote", conn.RemoteAddr().String(), "error", err)
	}
}

func isBenignClose(err error) bool {
	return errors.Is(err, net.ErrClosed)
}

// Close stops accepting first — a client must not reconnect to a broker that is
// shutting down and have messages acknowledged that the next instance never sees —
// and then disconnects the listener's clients.
func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	if !l.closed.CompareAndSwap(false, true) {
		return
	}
	l.mu.Lock()
	if l.ln != nil {
		_ = l.ln.Close()
	}
	l.mu.Unlock()
	closeClients(l.id)
}

// inprocListener gives in-process MQTT clients (the dataflow engine) a full MQTT
// connection over a socketpair: no address, no TLS, no authentication, but the same session,
// persistence and flow-control rules as a network client — which is exactly what
// at-least-once delivery needs (a message stays in the broker's persistent queue until
// the in-process client acknowledges it).
type inprocListener struct {
	id        string
	db        *kvLog
	mu        sync.Mutex
	establish listeners.EstablishFn
	ready     chan struct{}
	closed    bool
}

const inprocListenerID = "in-process"

var _ listeners.Listener = (*inprocListener)(nil)

func newInprocListener(db *kvLog) *inprocListener {
	return &inprocListener{id: inprocListenerID, db: db, ready: make(chan struct{})}
}

func (l *inprocListener) ID() string              { return l.id }
func (l *inprocListener) Address() string         { return "in-process" }
func (l *inprocListener) Protocol() string        { return "pipe" }
func (l *inprocListener) Init(*slog.Logger) error { return nil }

func (l *inprocListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	l.establish = establish
	l.mu.Unlock()
	close(l.ready)
}

func (l *inprocListener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	closeClients(l.id)
}

var errBrokerClosed = errors.New("broker is closed")

func (l *inprocListener) dial(ctx context.Context) (net.Conn, error) {
	select {
	case <-l.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errBrokerClosed
	}
	server, client, err := socketPair()
	if err != nil {
		return nil, err
	}
	go func() { _ = l.establish(l.id, newAckConn(server, l.db)) }()
	return client, nil
}

// socketPair returns two connected AF_UNIX stream sockets. Unlike net.Pipe they are
// buffered by the kernel, so the broker and the client can both write at once without
// deadlocking (each side's reader may itself be blocked writing an acknowledgement),
// and unlike a loopback TCP connection they need no address, so they work in a
// network namespace whose loopback interface is down.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("in-process connection: socketpair: %w", err)
	}
	conns := make([]net.Conn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "mqtt-in-process")
		c, err := net.FileConn(f) // dups the descriptor
		f.Close()
		if err != nil {
			if i == 1 {
				conns[0].Close()
			} else {
				syscall.Close(fds[1])
			}
			return nil, nil, fmt.Errorf("in-process connection: %w", err)
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}
