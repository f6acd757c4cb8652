package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/graph"
)

// fakeSource's counters advance on every call, as a running dataflow's would.
type fakeSource struct {
	calls atomic.Int64
	err   error
}

func (f *fakeSource) Snapshot(ctx context.Context) (*Snapshot, error) {
	n := f.calls.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	m := graph.FromConfig(blueprint.QuickStart())
	m.ApplyLive(graph.Live{
		AgentA:   &graph.State{Status: graph.StatusUp},
		AgentB:   &graph.State{Status: graph.StatusUp},
		Dataflow: &graph.State{Status: graph.StatusUp, Counters: []graph.Counter{{Name: "msgs", Value: itoa(n * 10)}}},
	})
	return &Snapshot{
		Deployment: "dp-test",
		Target:     "local",
		Topology:   &m,
		Agents: []Agent{
			{Cluster: "a", Name: "vm-a", Role: "MQTT server", Healthy: true, Status: "running", StartedAt: time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)},
			{Cluster: "b", Name: "vm-b", Role: "MQTT client", Healthy: n%2 == 0, Status: "unreachable", Detail: "dial unix: no such file"},
		},
		Dataflows:    []Dataflow{{Cluster: "b", Name: "site-to-enterprise-cert-auth", Source: "input", Destination: "output", MessagesIn: uint64(n * 10), MessagesOut: uint64(n * 10), Connected: true}},
		Queues:       []Queue{{Cluster: "b", Name: "dataflow in-flight", Depth: n % 7, Capacity: 100}},
		Certificates: []Certificate{{Name: "server leaf", Cluster: "a", Subject: "CN=server", NotAfter: time.Date(2027, 3, 4, 0, 0, 0, 0, time.UTC)}},
		Peerings: []Peering{{Name: "peer-cluster-a-to-cluster-b", From: "a", To: "b", State: "Connected", AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true},
			{Name: "peer-cluster-b-to-cluster-a", From: "b", To: "a", State: "Connected", AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true}},
	}, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func get(t *testing.T, h http.Handler, path, host string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Host = host
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func getView(t *testing.T, h http.Handler) view {
	t.Helper()
	w := get(t, h, "/api/snapshot", "127.0.0.1:8088")
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/snapshot: %d %s", w.Code, w.Body)
	}
	var v view
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode snapshot: %v", err)
	}
	return v
}

func TestSnapshotRatesAndCaching(t *testing.T) {
	t.Parallel()
	src := &fakeSource{}
	clk := &fakeClock{t: time.Date(2026, 11, 24, 1, 0, 0, 0, time.UTC)}
	h := New(src, Options{Now: clk.Now, MinInterval: 500 * time.Millisecond})

	v1 := getView(t, h)
	if len(v1.Dataflows) != 1 || v1.Dataflows[0].RateIn != 0 {
		t.Fatalf("first sample must have no rate yet: %+v", v1.Dataflows)
	}
	// Within MinInterval: the cached view, no second Source call.
	clk.Add(100 * time.Millisecond)
	getView(t, h)
	if c := src.calls.Load(); c != 1 {
		t.Fatalf("Source called %d times within MinInterval, want 1", c)
	}
	clk.Add(1900 * time.Millisecond) // 2s after the first sample, counters +10
	v2 := getView(t, h)
	if got := v2.Dataflows[0].RateIn; got != 5 {
		t.Errorf("rate in = %v msg/s, want 5 (10 messages in 2s)", got)
	}
	if v2.Agents[0].Uptime != "1h0m2s" {
		t.Errorf("agent a uptime = %q, want 1h0m2s", v2.Agents[0].Uptime)
	}
	want := map[string]string{
		"agent":    v2.Agents[1].ID,
		"dataflow": v2.Dataflows[0].ID,
		"queue":    v2.Queues[0].ID,
		"cert":     v2.Certificates[0].ID,
		"peering":  v2.Peerings[1].ID,
	}
	for kind, id := range map[string]string{"agent": "agent-b", "dataflow": "dataflow-b-site-to-enterprise-cert-auth", "queue": "queue-b-dataflow-in-flight", "cert": "cert-a-server-leaf", "peering": "peering-peer-cluster-b-to-cluster-a"} {
		if want[kind] != id {
			t.Errorf("%s id = %q, want %q", kind, want[kind], id)
		}
	}
	if c := v2.Certificates[0]; c.NotAfter != "2027-03-04T00:00:00Z" || c.Level != "ok" || c.DaysLeft != 99 {
		t.Errorf("certificate view = %+v", c)
	}
	if !strings.Contains(v2.TopologySVG, `data-testid="topology-svg"`) {
		t.Error("snapshot has no topology SVG")
	}
}

func TestSourceErrorIsShown(t *testing.T) {
	t.Parallel()
	h := New(&fakeSource{err: errors.New("agent a: dial unix .dualpeer/a.sock: connect: no such file")}, Options{})
	v := getView(t, h)
	if !strings.Contains(v.Error, "dial unix") {
		t.Errorf("error = %q, want the source's error", v.Error)
	}
}

func TestHostHeaderGuard(t *testing.T) {
	t.Parallel()
	h := New(&fakeSource{}, Options{})
	for host, want := range map[string]int{
		"127.0.0.1:8088":     http.StatusOK,
		"localhost:8088":     http.StatusOK,
		"[::1]:8088":         http.StatusOK,
		"evil.example:8088":  http.StatusForbidden,
		"10.1.1.4:8088":      http.StatusForbidden,
		"127.0.0.1.nip.io:1": http.StatusForbidden,
	} {
		if got := get(t, h, "/", host).Code; got != want {
			t.Errorf("Host %q: status %d, want %d", host, got, want)
		}
	}
}

func TestPageAndAssets(t *testing.T) {
	t.Parallel()
	h := New(&fakeSource{}, Options{})
	for path, want := range map[string]string{
		"/":        `data-testid="topology"`,
		"/app.js":  "/api/snapshot",
		"/app.css": ".badge",
	} {
		w := get(t, h, path, "127.0.0.1")
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
			t.Errorf("GET %s: %d, body lacks %q", path, w.Code, want)
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	if w := get(t, h, "/topology.svg", "127.0.0.1"); w.Code != http.StatusOK || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("GET /topology.svg: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if w := get(t, h, "/nope", "127.0.0.1"); w.Code != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404", w.Code)
	}
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	for addr, ok := range map[string]bool{
		"127.0.0.1:8088": true,
		"[::1]:8088":     true,
		"localhost:9000": true,
		"127.0.0.2:8088": true,
		"0.0.0.0:8088":   false,
		":8088":          false,
		"10.1.1.4:8088":  false,
		"[::]:8088":      false,
		"127.0.0.1":      false,
		"example.com:80": false,
	} {
		err := CheckAddr(addr)
		if (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v, want ok=%v", addr, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "127.0.0.1:") {
			t.Errorf("CheckAddr(%q) error does not say what to use instead: %v", addr, err)
		}
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	urls := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, "127.0.0.1:0", New(&fakeSource{}, Options{}), func(u string) { urls <- u }) }()
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not start within 10s")
	}
	resp, err := http.Get(url + "healthz")
	if err != nil {
		t.Fatalf("GET healthz: %v", err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop within 10s of cancel")
	}
	if err := Serve(context.Background(), "0.0.0.0:0", nil, nil); err == nil {
		t.Error("Serve accepted a non-loopback address")
	}
}
