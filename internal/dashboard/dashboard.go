package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dualpeer/dualpeer/internal/graph"
)

// Source provides the live state. Snapshot is called at most about once per MinInterval however
// many browsers poll.
type Source interface {
	Snapshot(ctx context.Context) (*Snapshot, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context) (*Snapshot, error)

// Snapshot implements Source.
func (f SourceFunc) Snapshot(ctx context.Context) (*Snapshot, error) { return f(ctx) }

// Snapshot is the state of a deployment at one moment.
type Snapshot struct {
	Deployment string // shown in the header, e.g. the deployment id
	Target     string // "local" or "azure"
	// Topology is drawn with graph.SVG; set live state on it with ApplyLive. Nil hides the picture.
	Topology     *graph.Model
	Agents       []Agent
	Dataflows    []Dataflow
	Queues       []Queue
	Certificates []Certificate
	Peerings     []Peering
}

// Agent is one cluster's dualpeer agent (locally a process in the VM namespace).
type Agent struct {
	Cluster   string    // "a" or "b"; also its stable id on the page
	Name      string    // e.g. the VM name
	Role      string    // "MQTT server" / "MQTT client"
	Healthy   bool      //
	Status    string    // e.g. "running", "unreachable"
	Detail    string    // the reason when unhealthy
	StartedAt time.Time // zero when unknown
}

// Dataflow is one dataflow's message counters; the dashboard turns them into rates.
type Dataflow struct {
	Cluster     string
	Name        string
	Source      string // e.g. "input"
	Destination string // e.g. "output"
	MessagesIn  uint64 // total received from the source since the agent started
	MessagesOut uint64 // total delivered to the destination
	Errors      uint64
	Connected   bool // the endpoint is connected to the remote broker
}

// Queue is a queue whose depth matters (the dataflow's in-flight buffer, a broker's sessions).
type Queue struct {
	Cluster  string
	Name     string
	Depth    int64
	Capacity int64 // 0 when unbounded or unknown
}

// Certificate is one certificate whose expiry matters. No key material ever comes here.
type Certificate struct {
	Name     string // e.g. "server leaf"
	Cluster  string // "a", "b" or "" for the shared CAs
	Subject  string
	NotAfter time.Time
}

// Peering is one half of the VNet peering.
type Peering struct {
	Name                      string
	From, To                  string // VNet names or cluster letters
	State                     string // Azure's peeringState: "Connected", "Initiated", "Disconnected"
	AllowVirtualNetworkAccess bool
	AllowForwardedTraffic     bool
	AllowGatewayTransit       bool
	UseRemoteGateways         bool
}

// Options tune the handler. The zero value is fine.
type Options struct {
	// MinInterval is the shortest time between two calls to the Source (default 500ms): polls in
	// between get the last sample, so many tabs cannot overload the agents.
	MinInterval time.Duration
	// Timeout bounds one Source call (default 5s).
	Timeout time.Duration
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

//go:embed assets
var assets embed.FS

// Handler serves the page and its JSON endpoint.
type Handler struct {
	src  Source
	opts Options
	mux  *http.ServeMux

	mu       sync.Mutex
	last     *view     // last view served
	lastAt   time.Time // when the Source was last sampled
	prev     map[string]counterSample
	inflight chan struct{} // non-nil while a sample is being taken
}

type counterSample struct {
	at      time.Time
	in, out uint64
	rateIn  float64
	rateOut float64
}

// New returns the dashboard handler for src.
func New(src Source, opts Options) *Handler {
	if opts.MinInterval <= 0 {
		opts.MinInterval = 500 * time.Millisecond
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{src: src, opts: opts, mux: http.NewServeMux(), prev: map[string]counterSample{}}
	static, _ := fs.Sub(assets, "assets") // the embedded directory always exists
	files := http.FileServerFS(static)
	h.mux.Handle("GET /{$}", files)
	h.mux.Handle("GET /app.js", files)
	h.mux.Handle("GET /app.css", files)
	h.mux.HandleFunc("GET /api/snapshot", h.serveSnapshot)
	h.mux.HandleFunc("GET /topology.svg", h.serveTopology)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	return h
}

var _ http.Handler = (*Handler)(nil)

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackHost(r.Host) {
		// A page on another site can point a DNS name at 127.0.0.1 (DNS rebinding); refusing
		// foreign Host headers keeps it from reading the deployment's state.
		http.Error(w, "the dashboard answers only to loopback host names (127.0.0.1, ::1, localhost)", http.StatusForbidden)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	h.mux.ServeHTTP(w, r)
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckAddr accepts only listen addresses on a loopback interface, because the dashboard has no
// authentication and shows the deployment's internals.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q is not host:port (%v); use for example --addr 127.0.0.1:8088", addr, err)
	}
	if port == "" {
		return fmt.Errorf("--addr %q has no port; use for example --addr 127.0.0.1:8088", addr)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		shown := host
		if shown == "" {
			shown = "every interface"
		}
		return fmt.Errorf("--addr %q would listen on %s: the dashboard has no authentication, so it listens only on a loopback address (127.0.0.1 or ::1); use --addr 127.0.0.1:%s and, to view it from another machine, an SSH tunnel (ssh -L %s:127.0.0.1:%s host)", addr, shown, port, port, port)
	}
	return nil
}

// Serve listens on addr (checked with CheckAddr) and serves h until ctx is done. ready is called
// with the page's URL once the listener is open.
func Serve(ctx context.Context, addr string, h http.Handler, ready func(url string)) error {
	if err := CheckAddr(addr); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another dashboard running? pick another port with --addr)", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready("http://" + ln.Addr().String() + "/")
	}
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard server: %w", err)
	case <-ctx.Done():
	}
	// A fresh context: the caller's is already cancelled, but open requests deserve a moment.
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stop dashboard server: %w", err)
	}
	return nil
}

// view is what the page receives: the snapshot with derived values (rates, days left, ids).
type view struct {
	Time         string      `json:"time"`
	Deployment   string      `json:"deployment"`
	Target       string      `json:"target"`
	Error        string      `json:"error,omitempty"`
	TopologySVG  string      `json:"topology_svg,omitempty"`
	Agents       []agentView `json:"agents"`
	Dataflows    []flowView  `json:"dataflows"`
	Queues       []queueView `json:"queues"`
	Certificates []certView  `json:"certificates"`
	Peerings     []peerView  `json:"peerings"`
}

type agentView struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	Healthy bool   `json:"healthy"`
	Status  string `json:"status"`
	Detail  string `json:"detail,omitempty"`
	Uptime  string `json:"uptime,omitempty"`
}

type flowView struct {
	ID          string  `json:"id"`
	Cluster     string  `json:"cluster"`
	Name        string  `json:"name"`
	Source      string  `json:"source"`
	Destination string  `json:"destination"`
	MessagesIn  uint64  `json:"messages_in"`
	MessagesOut uint64  `json:"messages_out"`
	Errors      uint64  `json:"errors"`
	RateIn      float64 `json:"rate_in"`  // messages/s over the last sample interval
	RateOut     float64 `json:"rate_out"` //
	Connected   bool    `json:"connected"`
}

type queueView struct {
	ID       string `json:"id"`
	Cluster  string `json:"cluster"`
	Name     string `json:"name"`
	Depth    int64  `json:"depth"`
	Capacity int64  `json:"capacity,omitempty"`
}

type certView struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Cluster  string `json:"cluster,omitempty"`
	Subject  string `json:"subject"`
	NotAfter string `json:"not_after"` // RFC 3339, UTC
	DaysLeft int    `json:"days_left"`
	Level    string `json:"level"` // "ok", "warn" (< 30 days), "expired"
}

type peerView struct {
	ID                        string `json:"id"`
	Name                      string `json:"name"`
	From                      string `json:"from"`
	To                        string `json:"to"`
	State                     string `json:"state"`
	AllowVirtualNetworkAccess bool   `json:"allow_virtual_network_access"`
	AllowForwardedTraffic     bool   `json:"allow_forwarded_traffic"`
	AllowGatewayTransit       bool   `json:"allow_gateway_transit"`
	UseRemoteGateways         bool   `json:"use_remote_gateways"`
}

func (h *Handler) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	v := h.sample(r.Context())
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	if err := enc.Encode(v); err != nil {
		return // the browser went away
	}
}

func (h *Handler) serveTopology(w http.ResponseWriter, r *http.Request) {
	v := h.sample(r.Context())
	if v.TopologySVG == "" {
		http.Error(w, "no topology: the source gave none", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	fmt.Fprint(w, v.TopologySVG)
}

// sample returns a view no older than MinInterval, calling the Source at most once at a time.
func (h *Handler) sample(ctx context.Context) *view {
	for {
		h.mu.Lock()
		now := h.opts.Now()
		if h.last != nil && now.Sub(h.lastAt) < h.opts.MinInterval {
			v := h.last
			h.mu.Unlock()
			return v
		}
		if wait := h.inflight; wait != nil {
			// Another request is sampling: share its result rather than call the Source twice.
			h.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return &view{Time: now.UTC().Format(time.RFC3339), Error: "request cancelled"}
			}
		}
		done := make(chan struct{})
		h.inflight = done
		h.mu.Unlock()

		v := h.take(ctx)

		h.mu.Lock()
		h.last, h.lastAt, h.inflight = v, h.opts.Now(), nil
		h.mu.Unlock()
		close(done)
		return v
	}
}

// take calls the Source and derives the view. Only one take runs at a time (see sample), so
// h.prev needs no lock of its own.
func (h *Handler) take(ctx context.Context) *view {
	ctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	now := h.opts.Now()
	v := &view{Time: now.UTC().Format(time.RFC3339)}
	s, err := h.src.Snapshot(ctx)
	if err != nil {
		v.Error = err.Error()
		return v
	}
	if s == nil {
		v.Error = "the status source returned nothing"
		return v
	}
	v.Deployment, v.Target = s.Deployment, s.Target
	if s.Topology != nil {
		var b bytes.Buffer
		if err := graph.SVG(&b, *s.Topology); err != nil {
			v.Error = "draw topology: " + err.Error()
		} else {
			v.TopologySVG = b.String()
		}
	}
	ids := newIDs()
	for _, a := range s.Agents {
		av := agentView{ID: ids.make("agent", a.Cluster), Cluster: a.Cluster, Name: a.Name, Role: a.Role, Healthy: a.Healthy, Status: a.Status, Detail: a.Detail}
		if !a.StartedAt.IsZero() {
			av.Uptime = now.Sub(a.StartedAt).Truncate(time.Second).String()
		}
		v.Agents = append(v.Agents, av)
	}
	seen := map[string]bool{}
	for _, d := range s.Dataflows {
		key := d.Cluster + "/" + d.Name
		fv := flowView{ID: ids.make("dataflow", d.Cluster+"-"+d.Name), Cluster: d.Cluster, Name: d.Name, Source: d.Source, Destination: d.Destination,
			MessagesIn: d.MessagesIn, MessagesOut: d.MessagesOut, Errors: d.Errors, Connected: d.Connected}
		cur := counterSample{at: now, in: d.MessagesIn, out: d.MessagesOut}
		if p, ok := h.prev[key]; ok {
			if dt := now.Sub(p.at).Seconds(); dt > 0 {
				cur.rateIn = rate(p.in, d.MessagesIn, dt)
				cur.rateOut = rate(p.out, d.MessagesOut, dt)
			}
		}
		fv.RateIn, fv.RateOut = cur.rateIn, cur.rateOut
		h.prev[key] = cur
		seen[key] = true
		v.Dataflows = append(v.Dataflows, fv)
	}
	for k := range h.prev {
		if !seen[k] {
			delete(h.prev, k)
		}
	}
	for _, q := range s.Queues {
		v.Queues = append(v.Queues, queueView{ID: ids.make("queue", q.Cluster+"-"+q.Name), Cluster: q.Cluster, Name: q.Name, Depth: q.Depth, Capacity: q.Capacity})
	}
	for _, c := range s.Certificates {
		left := c.NotAfter.Sub(now)
		cv := certView{ID: ids.make("cert", c.Cluster+"-"+c.Name), Name: c.Name, Cluster: c.Cluster, Subject: c.Subject,
			NotAfter: c.NotAfter.UTC().Format(time.RFC3339), DaysLeft: int(left.Hours() / 24), Level: "ok"}
		switch {
		case left <= 0:
			cv.Level = "expired"
		case left < 30*24*time.Hour:
			cv.Level = "warn"
		}
		v.Certificates = append(v.Certificates, cv)
	}
	for _, p := range s.Peerings {
		v.Peerings = append(v.Peerings, peerView{ID: ids.make("peering", p.Name), Name: p.Name, From: p.From, To: p.To, State: p.State,
			AllowVirtualNetworkAccess: p.AllowVirtualNetworkAccess, AllowForwardedTraffic: p.AllowForwardedTraffic,
			AllowGatewayTransit: p.AllowGatewayTransit, UseRemoteGateways: p.UseRemoteGateways})
	}
	return v
}

// rate is messages per second; a counter that went backwards (the agent restarted) gives 0
// rather than a huge negative figure.
func rate(prev, cur uint64, dt float64) float64 {
	if cur < prev {
		return 0
	}
	return float64(cur-prev) / dt
}

// ids makes stable, unique, attribute-safe element ids ("agent-a", "dataflow-b-site-to-…").
type idSet map[string]int

func newIDs() idSet { return idSet{} }

func (s idSet) make(kind, name string) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte('-')
	dash := false
	for _, r := range strings.ToLower(strings.Trim(name, "-/ ")) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	id := strings.TrimRight(b.String(), "-")
	s[id]++
	if n := s[id]; n > 1 {
		id = fmt.Sprintf("%s-%d", id, n)
	}
	return id
}
