package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dualpeer/dualpeer/internal/broker"
	"github.com/dualpeer/dualpeer/internal/dataflow"
)

// Options configure an agent.
type Options struct {
	ClusterDir string
	// ListenHost is the address LoadBalancer / NodePort listeners bind; "" = every address.
	ListenHost string
	// MetricsAddr additionally serves the API on TCP (inside the VM namespace); "" = socket only.
	MetricsAddr string
	// Reload is how often the cluster directory is re-read; 0 = 1s.
	Reload time.Duration
	Log    *slog.Logger
}

// Agent hosts one cluster's broker and dataflows.
type Agent struct {
	o     Options
	dir   clusterDir
	log   *slog.Logger
	reg   *prometheus.Registry
	start time.Time

	mu          sync.Mutex
	brk         *broker.Broker
	brkCfg      broker.Config
	engine      *dataflow.Engine
	fingerprint string
	lastErr     string
	applied     time.Time
	ready       bool
}

// New prepares an agent; Run starts it.
func New(o Options) (*Agent, error) {
	if o.ClusterDir == "" {
		return nil, errors.New("--cluster-dir is required: the cluster directory the deployer wrote (e.g. .dualpeer/clusters/a)")
	}
	abs, err := filepath.Abs(o.ClusterDir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("cluster directory %s does not exist: start the agent through `dualpeer up`", abs)
	}
	if o.Reload == 0 {
		o.Reload = time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Agent{o: o, dir: clusterDir{root: abs, listenHost: o.ListenHost}, log: o.Log, reg: reg, start: time.Now()}, nil
}

// Run serves until ctx ends, then stops the dataflows and the broker (the broker's state is
// on disk, so a SIGKILL instead loses nothing acknowledged either).
func (a *Agent) Run(ctx context.Context) error {
	sock := a.dir.path("agent.sock")
	_ = os.Remove(sock) // a previous agent's socket (it was killed)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	_ = os.Chmod(sock, 0o600)
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	if a.o.MetricsAddr != "" {
		tl, err := net.Listen("tcp", a.o.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on --metrics-addr %s: %w", a.o.MetricsAddr, err)
		}
		go func() { _ = srv.Serve(tl) }()
	}
	if err := os.WriteFile(a.dir.path("agent.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	a.log.Info("agent started", "cluster_dir", a.dir.root, "pid", os.Getpid())

	a.reconcile(ctx)
	t := time.NewTicker(a.o.Reload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.log.Info("agent stopping")
			sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = srv.Shutdown(sctx)
			cancel()
			a.stop()
			_ = os.Remove(sock)
			return nil
		case <-t.C:
			a.reconcile(ctx)
		}
	}
}

func (a *Agent) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopLocked()
}

// stopLocked stops the dataflows, then the broker they read from.
func (a *Agent) stopLocked() {
	if a.engine != nil {
		a.engine.Close()
		a.engine = nil
	}
	if a.brk != nil {
		_ = a.brk.Close()
		a.brk = nil
	}
}

// reconcile re-reads the cluster directory when it changed and applies the difference: the
// broker is restarted only when its listeners changed; dataflows are applied one by one by
// the engine (unchanged ones keep running).
func (a *Agent) reconcile(ctx context.Context) {
	fp, err := a.dir.fingerprint()
	if err != nil {
		a.setErr(fmt.Errorf("read cluster directory: %w", err))
		return
	}
	a.mu.Lock()
	same := fp == a.fingerprint && a.ready
	a.mu.Unlock()
	if same {
		return
	}
	d, derr := a.dir.desired()
	if d == nil {
		a.setErr(derr)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.brk == nil || !reflect.DeepEqual(a.brkCfg, d.Broker) {
		a.stopLocked()
		// A fresh registry per broker generation: the broker registers its collectors anew.
		b, err := broker.New(d.Broker, a.log.With("component", "broker"), prometheus.WrapRegistererWith(prometheus.Labels{"generation": strconv.FormatInt(time.Now().UnixNano(), 36)}, a.reg))
		if err != nil {
			a.lastErr = err.Error()
			a.log.Error("broker configuration refused", "error", err)
			return
		}
		if err := b.Start(ctx); err != nil {
			a.lastErr = err.Error()
			a.log.Error("broker did not start", "error", err)
			_ = b.Close()
			return
		}
		a.brk, a.brkCfg = b, d.Broker
		for _, l := range d.Broker.Listeners {
			a.log.Info("listener up", "name", l.Name, "address", b.Addr(l.Name), "tls", l.TLS != nil, "auth", string(l.Auth))
		}
	}
	if a.engine == nil {
		e, err := dataflow.NewEngine(dataflow.Local{Dial: a.brk.DialInProcess, Attach: a.brk}, a.log.With("component", "dataflow"), prometheus.WrapRegistererWith(prometheus.Labels{"generation": strconv.FormatInt(time.Now().UnixNano(), 36)}, a.reg))
		if err != nil {
			a.lastErr = err.Error()
			return
		}
		a.engine = e
	}
	err = a.engine.Apply(ctx, d.Dataflows)
	err = errors.Join(derr, err)
	if err != nil {
		a.lastErr = err.Error()
		a.log.Error("configuration applied with problems", "error", err)
	} else {
		a.lastErr = ""
	}
	a.fingerprint, a.applied, a.ready = fp, time.Now(), true
	a.log.Info("configuration applied", "listeners", len(d.Broker.Listeners), "dataflows", len(d.Dataflows))
}

func (a *Agent) setErr(err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.lastErr = err.Error()
		a.log.Error("configuration not applied", "error", err)
	}
}

// Status is what /status returns.
type Status struct {
	PID       int               `json:"pid"`
	Uptime    string            `json:"uptime"`
	Ready     bool              `json:"ready"`
	Applied   time.Time         `json:"applied"`
	LastError string            `json:"lastError,omitempty"`
	Broker    *broker.Stats     `json:"broker,omitempty"`
	Dataflows []dataflow.Status `json:"dataflows"`
}

// Snapshot returns the current status.
func (a *Agent) Snapshot() *Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &Status{PID: os.Getpid(), Uptime: time.Since(a.start).Round(time.Second).String(), Ready: a.ready && a.brk != nil,
		Applied: a.applied, LastError: a.lastErr, Dataflows: []dataflow.Status{}}
	if a.brk != nil {
		s := a.brk.Stats()
		st.Broker = &s
	}
	if a.engine != nil {
		st.Dataflows = a.engine.Status()
	}
	// Ready means a message published now is kept: every dataflow's source session holds its
	// subscription. The destination may still be unreachable (the messages wait in the source
	// session until it is back), so it does not count.
	for _, d := range st.Dataflows {
		if !d.SourceSubscribed {
			st.Ready = false
			if st.LastError == "" {
				st.LastError = "dataflow " + d.Name + " has not subscribed to its source yet"
			}
		}
	}
	return st
}

func (a *Agent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		st := a.Snapshot()
		if !st.Ready {
			http.Error(w, "not ready: "+st.LastError, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.Snapshot())
	})
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	// Profiles for performance work (`curl --unix-socket DIR/agent.sock http://a/debug/pprof/profile`).
	// The socket is 0600 in the state directory, so only its owner can read them.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
