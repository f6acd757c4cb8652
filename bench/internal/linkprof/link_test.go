package linkprof

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/loadgen"
	"github.com/dualpeer/dualpeer/internal/broker"
	"github.com/dualpeer/dualpeer/internal/dataflow"
	"github.com/dualpeer/dualpeer/internal/pki"
)

// link is the two brokers and the dataflow between them.
type link struct {
	pubAddr, subAddr string
	subTLS           loadgen.Target
}

func newLink(tb testing.TB) *link {
	tb.Helper()
	ctx := context.Background()
	m, err := pki.Generate(ctx, pki.Options{ServerIP: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := m.WriteDir(ctx, certs); err != nil {
		tb.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(certs, name))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	quiet := slog.New(slog.DiscardHandler)

	a, err := broker.New(broker.Config{DataDir: filepath.Join(dir, "a"), Listeners: []broker.Listener{{
		Name: "x509", Addr: "127.0.0.1:0", Auth: broker.AuthX509,
		TLS: &broker.TLSConfig{CertPEM: read(pki.FileServerLeafCert), KeyPEM: read(pki.FileServerLeafKey), ClientCAPEM: read(pki.FileClientRootCert)},
	}}}, quiet, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = a.Close() })
	b, err := broker.New(broker.Config{DataDir: filepath.Join(dir, "b"), Listeners: []broker.Listener{{Name: "anon", Addr: "127.0.0.1:0"}}}, quiet, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	eng, err := dataflow.NewEngine(dataflow.Local{Dial: b.DialInProcess, Attach: b}, quiet, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(eng.Close)
	if err := eng.Apply(ctx, []dataflow.Dataflow{{
		Name: "bench", Source: dataflow.Endpoint{Name: "default", Local: true}, SourceTopics: []string{"input"},
		Map: []dataflow.MapRule{{Type: "PassThrough", Inputs: []string{"*"}, Output: "*"}},
		Destination: dataflow.Endpoint{Name: "a", Host: a.Addr("x509"), TLS: true, TrustedCAPEM: read(pki.FileServerRootCert),
			ClientCertPEM: read(pki.FileClientLeafCert), ClientKeyPEM: read(pki.FileClientLeafKey), QoS: 1},
		DestinationTopic: "output",
	}}); err != nil {
		tb.Fatal(err)
	}
	tlsConf, err := loadgen.TLSFromFiles(filepath.Join(certs, pki.FileServerRootCert), filepath.Join(certs, pki.FileClientLeafCert),
		filepath.Join(certs, pki.FileClientLeafKey), "127.0.0.1")
	if err != nil {
		tb.Fatal(err)
	}
	return &link{pubAddr: b.Addr("anon"), subAddr: a.Addr("x509"), subTLS: loadgen.Target{TLS: tlsConf}}
}

// send pushes n messages through the link and returns what the subscriber saw.
func (l *link) send(ctx context.Context, n, size int, qos byte, rate float64) (loadgen.SubResult, error) {
	runID := rand.Uint64()
	ready, pubDone := make(chan struct{}), make(chan struct{})
	type out struct {
		r   loadgen.SubResult
		err error
	}
	subc := make(chan out, 1)
	sub := l.subTLS
	sub.Addr, sub.ClientID = l.subAddr, fmt.Sprintf("sub-%d", runID)
	go func() {
		r, err := loadgen.Subscribe(ctx, loadgen.SubConfig{Target: sub, Topic: "output", N: n, QoS: qos, RunID: runID, Idle: 2 * time.Second},
			func() { close(ready) }, pubDone)
		subc <- out{r, err}
	}()
	select {
	case <-ready:
	case o := <-subc:
		return o.r, fmt.Errorf("subscriber ended before subscribing: %w", o.err)
	}
	_, err := loadgen.Publish(ctx, loadgen.PubConfig{Target: loadgen.Target{Addr: l.pubAddr, ClientID: fmt.Sprintf("pub-%d", runID)},
		Topic: "input", N: n, Size: size, QoS: qos, Rate: rate, RunID: runID})
	close(pubDone)
	o := <-subc
	if err != nil {
		return o.r, err
	}
	return o.r, o.err
}

// waitReady sends single messages until the dataflow carries one (it connects to A
// asynchronously).
func (l *link) waitReady(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if r, err := l.send(ctx, 1, 64, 1, 0); err == nil && r.Unique == 1 {
			return
		}
	}
	tb.Fatal("no message went through the dataflow within 20 s")
}

// TestLink checks the harness itself: every QoS 1 message arrives.
func TestLink(t *testing.T) {
	l := newLink(t)
	l.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := l.send(ctx, 2000, 64, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Unique != 2000 || r.Lost != 0 {
		t.Errorf("subscriber saw %+v; want all 2000 QoS 1 messages", r)
	}
}

// BenchmarkLink measures messages per second end to end; b.N is the message count.
func BenchmarkLink(b *testing.B) {
	for _, w := range []struct {
		qos  byte
		size int
	}{{0, 64}, {1, 64}, {1, 1024}} {
		b.Run(fmt.Sprintf("qos%d-%dB", w.qos, w.size), func(b *testing.B) {
			l := newLink(b)
			l.waitReady(b)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			b.ReportAllocs()
			b.ResetTimer()
			r, err := l.send(ctx, b.N, w.size, w.qos, 0)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(r.Throughput, "msg/s")
			b.ReportMetric(float64(r.Lost), "lost")
			b.ReportMetric(r.Latency.P99/1e3, "p99-ms")
		})
	}
}
