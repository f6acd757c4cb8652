package mosquitto

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/bench/internal/loadgen"
	"github.com/dualpeer/dualpeer/internal/pki"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRenderGolden(t *testing.T) {
	tests := map[string]func() ([]byte, error){
		"a.conf": func() ([]byte, error) {
			return RenderServer(ServerConfig{Addr: "10.1.1.4", Port: 38883, ClientCAFile: "/s/client-ca.crt",
				CertFile: "/s/tls.crt", KeyFile: "/s/tls.key", DataDir: "/d/a", LogFile: "/d/a/mosquitto.log", MaxQueued: 1000000})
		},
		"b.conf": func() ([]byte, error) {
			return RenderBridge(BridgeConfig{LocalPort: 11883, BridgeName: "bench-bridge", RemoteAddr: "10.1.1.4", RemotePort: 38883,
				ServerCAFile: "/s/server-root.crt", ClientCertFile: "/s/client.crt", ClientKeyFile: "/s/client.key",
				LocalTopic: "input", RemoteTopic: "output", DataDir: "/d/b", LogFile: "/d/b/mosquitto.log", MaxQueued: 1000000})
		},
	}
	for name, render := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := render()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./bench/mosquitto -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update if the change is intended):\n%s", name, golden, got)
			}
		})
	}
}

func TestRenderRejectsUnsafeValues(t *testing.T) {
	tests := map[string]ServerConfig{
		"space in path":   {Addr: "10.1.1.4", ClientCAFile: "/a b", CertFile: "/c", KeyFile: "/k", DataDir: "/d", LogFile: "/l"},
		"newline in addr": {Addr: "10.1.1.4\nlistener 1", ClientCAFile: "/a", CertFile: "/c", KeyFile: "/k", DataDir: "/d", LogFile: "/l"},
		"empty key file":  {Addr: "10.1.1.4", ClientCAFile: "/a", CertFile: "/c", KeyFile: "", DataDir: "/d", LogFile: "/l"},
	}
	for name, c := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := RenderServer(c); err == nil {
				t.Errorf("RenderServer accepted %+v", c)
			}
		})
	}
}

// hostCommand runs in the test's own namespace: the test only uses 127.0.0.1.
func hostCommand(ctx context.Context, _ string, name string, arg ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, arg...)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBridgeOnLoopback runs the two rendered configurations for real on 127.0.0.1 with
// certificates from internal/pki and sends messages through the bridge with the load generator.
func TestBridgeOnLoopback(t *testing.T) {
	if _, err := Version(context.Background()); err != nil {
		t.Skip(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: the configurations keep `user root` as the benchmark runs them")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	m, err := pki.Generate(ctx, pki.Options{ServerIP: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	if err := m.WriteDir(ctx, certs); err != nil {
		t.Fatal(err)
	}
	f := func(n string) string { return filepath.Join(certs, n) }
	aPort, bPort := freePort(t), freePort(t)
	for _, d := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	aConf, err := RenderServer(ServerConfig{Addr: "127.0.0.1", Port: aPort, ClientCAFile: f(pki.FileClientRootCert),
		CertFile: f(pki.FileServerLeafCert), KeyFile: f(pki.FileServerLeafKey), DataDir: filepath.Join(dir, "a"),
		LogFile: filepath.Join(dir, "a", "mosquitto.log"), MaxQueued: 100000})
	if err != nil {
		t.Fatal(err)
	}
	bConf, err := RenderBridge(BridgeConfig{LocalPort: bPort, BridgeName: "test-bridge", RemoteAddr: "127.0.0.1", RemotePort: aPort,
		ServerCAFile: f(pki.FileServerRootCert), ClientCertFile: f(pki.FileClientLeafCert), ClientKeyFile: f(pki.FileClientLeafKey),
		LocalTopic: "input", RemoteTopic: "output", DataDir: filepath.Join(dir, "b"), LogFile: filepath.Join(dir, "b", "mosquitto.log"), MaxQueued: 100000})
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(ctx, hostCommand, "host", "a", dir, aConf, filepath.Join(dir, "a", "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Stop(context.Background()) })
	b, err := Start(ctx, hostCommand, "host", "b", dir, bConf, filepath.Join(dir, "b", "mosquitto.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop(context.Background()) })

	tlsConf, err := loadgen.TLSFromFiles(f(pki.FileServerRootCert), f(pki.FileClientLeafCert), f(pki.FileClientLeafKey), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for _, qos := range []byte{1, 0} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			runID := uint64(time.Now().UnixNano())
			ready := make(chan struct{})
			pubDone := make(chan struct{})
			type subOut struct {
				r   loadgen.SubResult
				err error
			}
			subc := make(chan subOut, 1)
			go func() {
				r, err := loadgen.Subscribe(ctx, loadgen.SubConfig{
					Target: loadgen.Target{Addr: fmt.Sprintf("127.0.0.1:%d", aPort), TLS: tlsConf, ClientID: "test-sub"},
					Topic:  "output", N: n, QoS: qos, RunID: runID, Idle: 2 * time.Second,
				}, func() { close(ready) }, pubDone)
				subc <- subOut{r, err}
			}()
			select {
			case <-ready:
			case s := <-subc:
				t.Fatalf("subscriber ended before subscribing: %v", s.err)
			}
			pr, err := loadgen.Publish(ctx, loadgen.PubConfig{
				Target: loadgen.Target{Addr: fmt.Sprintf("127.0.0.1:%d", bPort), ClientID: "test-pub"},
				Topic:  "input", N: n, Size: 64, QoS: qos, Rate: 5000, RunID: runID,
			})
			close(pubDone)
			if err != nil {
				t.Fatal(err)
			}
			s := <-subc
			if s.err != nil {
				t.Fatal(s.err)
			}
			if pr.Sent != n || s.r.Unique != n || s.r.Lost != 0 || s.r.Latency.Count != n {
				t.Errorf("sent %d, subscriber got %+v; want all %d through the bridge (A log:\n%s\nB log:\n%s)", pr.Sent, s.r, n, a.LogTail(10), b.LogTail(10))
			}
		})
	}
}
