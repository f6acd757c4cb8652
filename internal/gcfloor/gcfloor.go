// Package gcfloor gives the Go garbage collector a heap floor: below it the heap may grow
// to the floor before a collection runs, above it the collector behaves as with GOGC=100.
//
// Why: an agent relaying a steady light load (1,000 QoS 1 messages a second) keeps only a
// few MiB live and makes ~3 KB of garbage per message, so with GOGC=100 its 4-8 MiB heap
// goal was reached every second or two, and every collection's mark phase (a dedicated
// worker on one of the VM's two cores, plus assists) delayed the messages relayed meanwhile:
// on the benchmark lab that was ~100 µs of the end-to-end p99 at 1,000 msg/s
// (docs/benchmarks.md, Findings). With a 32 MiB floor the same load collects every ~10 s.
// Memory stays bounded: the goal is max(floor, 2 × live heap), the agent's soft memory
// limit (GOMEMLIMIT) still applies on top, and an idle agent allocates nothing.
//
// The runtime has no setting for a minimum heap (GOGC scales with the live heap, GOMEMLIMIT
// is a ceiling; golang/go#44309 proposed one), and no library for it is served here, so the
// few lines below re-derive GOGC after every collection: the technique of Uber's and
// ByteDance's "GC tuners".
package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// runtimeHeapMinimum is the runtime's smallest heap goal at GOGC=100 (defaultHeapMinimum in
// runtime/mgcpacer.go); it scales with GOGC, which caps the GOGC a floor may use.
const runtimeHeapMinimum = 4 << 20

// Percent is the GOGC that makes the next heap goal max(floor, 2 × live): the runtime's
// goal is live × (1 + GOGC/100) but at least runtimeHeapMinimum × GOGC/100, so GOGC is
// the smaller of what each of those needs to reach the floor, and 100 (the default) once
// twice the live heap is above the floor. live is 0 before the first collection.
func Percent(floor, live uint64) int {
	p := floor * 100 / runtimeHeapMinimum
	if live > 0 && live < floor {
		p = min(p, (floor-live)*100/live)
	}
	if live >= floor || p < 100 {
		return 100
	}
	return int(p)
}

// Tuner re-derives GOGC after every garbage collection; Stop ends that and restores the
// GOGC it found.
type Tuner struct {
	floor   uint64
	prev    int
	stopped atomic.Bool
	mu      sync.Mutex // adjust runs on the finalizer goroutine; Stop may run anywhere
	sample  []metrics.Sample
}

// Start applies the floor now and after every collection.
func Start(floor uint64) *Tuner {
	t := &Tuner{floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.prev = debug.SetGCPercent(Percent(floor, t.live()))
	t.arm()
	return t
}

// Stop ends the tuning and restores the GOGC in effect before Start.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Swap(true) {
		return
	}
	debug.SetGCPercent(t.prev)
}

// sentinel is what each collection finds unreachable, so that its finalizer tells us a
// cycle ended (runtime.AddCleanup would do as well; a finalizer re-arms more simply). 32
// bytes and a pointer keep it out of the tiny allocator, whose objects may never be
// finalized.
type sentinel struct {
	t *Tuner
	_ [24]byte
}

func (t *Tuner) arm() {
	runtime.SetFinalizer(&sentinel{t: t}, func(s *sentinel) { s.t.collected() })
}

func (t *Tuner) collected() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return
	}
	debug.SetGCPercent(Percent(t.floor, t.live()))
	t.arm()
}

// live is the heap marked live by the last completed collection (0 before the first).
func (t *Tuner) live() uint64 {
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return t.sample[0].Value.Uint64()
}
