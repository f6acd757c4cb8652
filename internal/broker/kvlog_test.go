package broker

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// reopen replays a copy of the log file as it is now — what a broker restarted after a
// SIGKILL at this instant would find (the kernel has everything written so far).
func reopen(t *testing.T, path string) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.log")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := openKVLog(cp)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.data
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestKVLogBatch: records reach the file at Flush, a key set and deleted within one
// batch never does, and one that was flushed gets its delete record.
func TestKVLogBatch(t *testing.T) {
	cases := []struct {
		name      string
		run       func(l *kvLog)
		want      map[string]string
		wantGrows bool // the file grew after the empty compacted start
	}{
		{"set then delete in one batch: nothing written", func(l *kvLog) {
			_ = l.Set("a", []byte("1"))
			_ = l.Delete("a")
			_ = l.Flush()
		}, map[string]string{}, false},
		{"set, set, delete in one batch: nothing written", func(l *kvLog) {
			_ = l.Set("a", []byte("1"))
			_ = l.Set("a", []byte("2"))
			_ = l.Delete("a")
			_ = l.Flush()
		}, map[string]string{}, false},
		{"set flushed, then set and delete: delete written", func(l *kvLog) {
			_ = l.Set("a", []byte("1"))
			_ = l.Flush()
			_ = l.Set("a", []byte("2"))
			_ = l.Delete("a")
			_ = l.Flush()
		}, map[string]string{}, true},
		{"delete then set again: the newest value", func(l *kvLog) {
			_ = l.Set("a", []byte("1"))
			_ = l.Flush()
			_ = l.Delete("a")
			_ = l.Set("a", []byte("3"))
			_ = l.Flush()
		}, map[string]string{"a": "3"}, true},
		{"unflushed records are not in the file", func(l *kvLog) {
			_ = l.Set("a", []byte("1"))
			_ = l.Flush()
			_ = l.Set("b", []byte("2"))
		}, map[string]string{"a": "1"}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "kv.log")
			l, err := openKVLog(p)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			tc.run(l)
			got := map[string]string{}
			for k, v := range reopen(t, p) {
				got[k] = string(v)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("after a crash the log holds %v, want %v", got, tc.want)
			}
			if grew := fileSize(t, p) > 0; grew != tc.wantGrows {
				t.Errorf("file written: %v, want %v", grew, tc.wantGrows)
			}
		})
	}
}

// TestKVLogMatchesModel: random sets, deletes, flushes and compactions; after every
// flush a crash-time copy of the file replays to exactly the map, and so does the
// file after Close.
func TestKVLogMatchesModel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kv.log")
	l, err := openKVLog(p)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	model := map[string]string{}
	check := func(step int, got map[string][]byte) {
		t.Helper()
		if len(got) != len(model) {
			t.Fatalf("step %d: %d keys on disk, want %d", step, len(got), len(model))
		}
		for k, v := range model {
			if string(got[k]) != v {
				t.Fatalf("step %d: key %s = %q on disk, want %q", step, k, got[k], v)
			}
		}
	}
	for step := range 3000 {
		k := fmt.Sprintf("k%d", r.IntN(40))
		switch n := r.IntN(100); {
		case n < 50:
			v := fmt.Sprint(step)
			model[k] = v
			if err := l.Set(k, []byte(v)); err != nil {
				t.Fatal(err)
			}
		case n < 90:
			delete(model, k)
			if err := l.Delete(k); err != nil {
				t.Fatal(err)
			}
		case n < 98:
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if step%10 == 0 {
				check(step, reopen(t, p))
			}
		default:
			l.mu.Lock()
			err := l.compactLocked()
			l.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		}
		if l.liveBytes != func() (n int64) {
			for k, v := range l.data {
				n += entrySize(k, v)
			}
			return n
		}() {
			t.Fatalf("step %d: liveBytes %d out of step with the map", step, l.liveBytes)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	check(-1, reopen(t, p))
}

// TestKVLogConcurrentFlush: connections queue and flush at once (group commit); every
// record whose Flush returned is in the file, and the groups really share writes.
func TestKVLogConcurrentFlush(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kv.log")
	l, err := openKVLog(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const workers, per = 4, 300
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := range per {
				k := fmt.Sprintf("w%d-%d", w, i)
				if err := l.Set(k, []byte(k)); err != nil {
					errs <- err
					return
				}
				if i%3 == 0 {
					_ = l.Delete(k) // usually cancelled within the batch
				} else if err := l.Flush(); err != nil {
					errs <- err
					return
				}
			}
			errs <- l.Flush()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := reopen(t, p)
	for w := range workers {
		for i := range per {
			k := fmt.Sprintf("w%d-%d", w, i)
			if _, ok := got[k]; ok == (i%3 == 0) {
				t.Fatalf("key %s on disk: %v, want %v", k, ok, i%3 != 0)
			}
		}
	}
}

// BenchmarkStoreQoS1 is the state-log work of one QoS 1 message through a broker
// (pending set, flush before the PUBACK, delivery set, pending delete, delivery delete
// after the subscriber's PUBACK), without the network: the part this package owns.
// backlog-2000 keeps 2,000 deliveries unacknowledged (a consumer behind by that many,
// as B's dataflow session under load), so the log compacts every few thousand
// messages; max-us is the slowest message (a compaction under the mutex shows there).
func BenchmarkStoreQoS1(b *testing.B) {
	for _, bc := range []struct {
		name    string
		size    int
		backlog int
	}{{"64B", 64, 0}, {"1KB-backlog-2000", 1024, 2000}} {
		b.Run(bc.name, func(b *testing.B) {
			db, err := openKVLog(filepath.Join(b.TempDir(), StateFile))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			h := &storeHook{db: db}
			h.SetOpts(nil, nil)
			pub, sub := &mqtt.Client{ID: "publisher"}, &mqtt.Client{ID: "subscriber"}
			payload := make([]byte, bc.size)
			pk := func(i int) packets.Packet {
				return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "input",
					PacketID: uint16(i%60000 + 1), Payload: payload, Created: 1700000000}
			}
			var slowest time.Duration
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				p := pk(i)
				if _, err := h.OnPublish(pub, p); err != nil {
					b.Fatal(err)
				}
				h.OnQosPublish(sub, p, p.Created, 0)
				h.OnPublished(pub, p)
				if i >= bc.backlog {
					h.OnQosComplete(sub, pk(i-bc.backlog))
				}
				slowest = max(slowest, time.Since(start))
			}
			b.ReportMetric(float64(slowest.Microseconds()), "max-us")
		})
	}
}

// TestKVLogBackgroundCompaction: compactions run while connections keep setting,
// deleting and flushing; a crash-time copy taken at any flush and the final file
// both replay to exactly the map.
func TestKVLogBackgroundCompaction(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kv.log")
	l, err := openKVLog(p)
	if err != nil {
		t.Fatal(err)
	}
	l.compactAt = 8 << 10
	const workers, per = 3, 1500
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range per {
				k := fmt.Sprintf("w%d-%d", w, r.IntN(30)) // each worker owns its keys
				var err error
				if r.IntN(3) == 0 {
					err = l.Delete(k)
				} else {
					err = l.Set(k, []byte(fmt.Sprint(i)))
				}
				if err == nil && i%4 == 0 {
					err = l.Flush()
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- l.Flush()
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	for l.compacting {
		l.flushed.Wait()
	}
	want := maps.Clone(l.data)
	compacted := l.compacted
	l.mu.Unlock()
	if compacted == 0 {
		t.Fatal("no background compaction ran; the test proves nothing")
	}
	same := func(what string, got map[string][]byte) {
		t.Helper()
		if !maps.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Fatalf("%s: %d keys replayed, want %d (after %d compactions)", what, len(got), len(want), compacted)
		}
	}
	same("crash-time copy", reopen(t, p))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	same("after Close", reopen(t, p))
}
