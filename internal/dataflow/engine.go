package dataflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Engine runs a set of dataflows and reconciles it with the desired set.
type Engine struct {
	mu     sync.Mutex
	flows  map[string]*flow
	local  Local
	log    *slog.Logger
	m      *metrics
	reg    prometheus.Registerer
	closed bool
}

// NewEngine creates an engine. local reaches the agent's broker in-process (zero when
// there is none: then dataflows with a local endpoint are refused). reg may be nil.
func NewEngine(local Local, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{flows: map[string]*flow{}, local: local, log: log, m: newMetrics(), reg: reg}
	if reg != nil {
		for _, c := range e.m.collectors() {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("register dataflow metrics: %w", err)
			}
		}
	}
	return e, nil
}

// Apply makes the running dataflows equal to desired: removed and changed dataflows
// are stopped, new and changed ones started, unchanged ones keep running untouched.
// Every invalid dataflow is reported; the valid ones are still applied.
func (e *Engine) Apply(ctx context.Context, desired []Dataflow) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("dataflow engine is closed")
	}
	var errs []error
	want := map[string]Dataflow{}
	for _, d := range desired {
		if err := d.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := want[d.Name]; dup {
			errs = append(errs, fmt.Errorf("dataflow %q is defined twice; names must be unique", d.Name))
			continue
		}
		want[d.Name] = d.withDefaults()
	}
	for name, f := range e.flows {
		if d, ok := want[name]; !ok || !reflect.DeepEqual(d, f.cfg) {
			f.stop()
			delete(e.flows, name)
			if !ok {
				e.m.forget(name)
				if f.local != nil {
					// A deleted dataflow: its stored messages go with it, as its
					// session's would when it expires.
					f.local.att.Forget(f.local.name)
				}
			}
		}
	}
	if att := e.local.Attach; att != nil {
		// Dataflows deleted while the agent was down: their stored messages go, as an
		// expired session's would; otherwise the broker would keep capturing for nobody.
		// By name among all desired dataflows, valid or not: a dataflow with a typo being
		// fixed keeps what is stored for it.
		named := map[string]bool{}
		for _, d := range desired {
			named[d.Name] = true
		}
		for name := range att.Consumers() {
			if df, ok := strings.CutPrefix(name, attachPrefix); ok && !named[df] {
				att.Forget(name)
				e.log.Info("forgot the stored messages of a dataflow that no longer exists", "dataflow", df)
			}
		}
	}
	for name, d := range want {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if _, running := e.flows[name]; running {
			continue
		}
		f, err := startFlow(d, e.local, e.m, e.log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.flows[name] = f
	}
	return errors.Join(errs...)
}

// Status lists the running dataflows, sorted by name.
func (e *Engine) Status() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Status, 0, len(e.flows))
	for _, f := range e.flows {
		out = append(out, f.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops every dataflow and unregisters the metrics.
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.closed = true
	var wg sync.WaitGroup
	for _, f := range e.flows {
		wg.Add(1)
		go func() { defer wg.Done(); f.stop() }()
	}
	wg.Wait()
	e.flows = nil
	if e.reg != nil {
		for _, c := range e.m.collectors() {
			e.reg.Unregister(c)
		}
	}
}
