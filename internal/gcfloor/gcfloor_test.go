package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		floor, live uint64
		want        int
	}{
		{"before the first collection: the runtime's minimum goal becomes the floor", 32 * mib, 0, 800},
		{"tiny live heap: capped by the runtime's minimum", 32 * mib, 1 * mib, 800},
		{"live 4 MiB: goal 4 + 4 × 7 = 32 MiB", 32 * mib, 4 * mib, 700},
		{"live 8 MiB: goal 8 + 8 × 3 = 32 MiB", 32 * mib, 8 * mib, 300},
		{"live at half the floor: default", 32 * mib, 16 * mib, 100},
		{"live above the floor: default", 32 * mib, 40 * mib, 100},
		{"floor below the runtime's minimum: default", 2 * mib, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.floor, tc.live); got != tc.want {
				t.Errorf("Percent(%d MiB, %d MiB) = %d, want %d", tc.floor/mib, tc.live/mib, got, tc.want)
			}
		})
	}
}

// garbage allocates n bytes in 1 KiB pieces that die at once, and returns how many
// collections ran meanwhile.
func garbage(n int) uint32 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var keep []byte
	for i := 0; i < n/1024; i++ {
		keep = make([]byte, 1024)
		keep[0] = byte(i)
	}
	runtime.KeepAlive(keep)
	runtime.ReadMemStats(&after)
	return after.NumGC - before.NumGC
}

// TestFloorSpacesCollections runs the garbage collector for real: the same garbage with a
// small live heap costs many collections at GOGC=100 and few with a 64 MiB floor.
func TestFloorSpacesCollections(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	debug.SetMemoryLimit(1 << 62) // no limit: the test is about GOGC
	const total = 512 << 20
	runtime.GC()
	plain := garbage(total)

	tu := Start(64 << 20)
	runtime.GC() // the tuner now knows the live heap
	floored := garbage(total)
	tu.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC after Stop = %d, want the 100 found at Start", got)
	}

	// 512 MiB of garbage: at GOGC=100 with a few MiB live, a collection per ~4 MiB (~128);
	// with the floor, one per ~64 MiB (~8). Wide margins: the race detector and the test
	// binary's own live heap move both a little.
	t.Logf("collections for 512 MiB of garbage: %d at GOGC=100, %d with a 64 MiB floor", plain, floored)
	if plain < 40 {
		t.Fatalf("only %d collections at GOGC=100: the test's premise (a small live heap) does not hold", plain)
	}
	if floored > 16 {
		t.Errorf("%d collections with a 64 MiB floor, want at most 16 (%d without)", floored, plain)
	}
}

// TestFollowsLiveHeap: the tuner re-derives GOGC after each collection, so a live heap
// that grows past half the floor brings GOGC back to 100, and one that shrinks again
// brings the floor back.
func TestFollowsLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	// gogc collects until GOGC satisfies ok (the finalizer that re-derives it runs on its
	// own goroutine after a cycle) or two seconds passed, and returns the last GOGC.
	gogc := func(ok func(int) bool) int {
		var p int
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			runtime.GC()
			p = debug.SetGCPercent(-1)
			debug.SetGCPercent(p)
			if ok(p) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		return p
	}
	above100 := func(p int) bool { return p > 100 }
	is100 := func(p int) bool { return p == 100 }
	tu := Start(32 << 20)
	defer tu.Stop()
	if got := gogc(above100); got <= 100 {
		t.Fatalf("GOGC with a small live heap and a 32 MiB floor = %d, want above 100", got)
	}
	live := make([][]byte, 0, 40)
	for range 40 {
		live = append(live, make([]byte, 1<<20))
	}
	if got := gogc(is100); got != 100 {
		t.Errorf("GOGC with 40 MiB live and a 32 MiB floor = %d, want 100", got)
	}
	runtime.KeepAlive(live)
	live = nil
	if got := gogc(above100); got <= 100 {
		t.Errorf("GOGC after the live heap shrank again = %d, want above 100", got)
	}
}
