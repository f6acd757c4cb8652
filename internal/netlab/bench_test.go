package netlab

import (
	"context"
	"testing"
	"time"
)

// BenchmarkApplyDestroy measures building the whole lab from nothing and removing it again; it
// also reports the two halves (target: Apply well under 300 ms).
func BenchmarkApplyDestroy(b *testing.B) {
	requireRoot(b)
	ctx := context.Background()
	top := defaultTopology(testID(b))
	cleanupLab(b, top.ID)
	var apply, destroy time.Duration
	for b.Loop() {
		start := time.Now()
		if err := Apply(ctx, top); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if err := Destroy(ctx, top); err != nil {
			b.Fatal(err)
		}
		apply += mid.Sub(start)
		destroy += time.Since(mid)
	}
	b.ReportMetric(float64(apply.Milliseconds())/float64(b.N), "apply-ms/op")
	b.ReportMetric(float64(destroy.Milliseconds())/float64(b.N), "destroy-ms/op")
}

// BenchmarkApplyNoop measures re-applying an unchanged lab: the cost of `dualpeer up` twice.
func BenchmarkApplyNoop(b *testing.B) {
	requireRoot(b)
	ctx := context.Background()
	top := defaultTopology(testID(b))
	cleanupLab(b, top.ID)
	if err := Apply(ctx, top); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := Apply(ctx, top); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInspect measures a status read.
func BenchmarkInspect(b *testing.B) {
	requireRoot(b)
	ctx := context.Background()
	top := defaultTopology(testID(b))
	cleanupLab(b, top.ID)
	if err := Apply(ctx, top); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Inspect(ctx, top); err != nil {
			b.Fatal(err)
		}
	}
}
