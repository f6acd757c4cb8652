package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// kvLog is a tiny durable key/value map: an in-memory map mirrored by an append-only
// log of set/delete records, compacted into a fresh file when it grows. We write our
// own because mochi's bolt/badger hooks pull in modules that are not in our module
// set, and the broker's access pattern (small records, set then delete soon after)
// suits a log well.
//
// Record: op(1) | uvarint keyLen | uvarint valLen | key | val | crc32(all before).
// A torn record at the tail (a crash during write) fails its CRC and ends the replay.
//
// Group commit: Set and Delete only change the map and queue a record; Flush writes
// every queued record with one write(2), and the caller that must not acknowledge
// before its record is in the kernel (a PUBACK) calls Flush first. Records queued by
// several connections while a write runs share the next write, and a key set and
// deleted again before its record was written (a message delivered and acknowledged
// within one batch) never reaches the file at all. Durability is unchanged: what a
// Flush returned for survives a process crash (SIGKILL); an fsync every SyncInterval
// and on Close bounds what a power loss takes.
type kvLog struct {
	mu       sync.Mutex
	flushed  sync.Cond // signalled when a write finishes
	path     string
	f        *os.File
	data     map[string][]byte
	logBytes int64
	// liveBytes approximates the size of a compacted log (sum of entrySize over data),
	// kept up to date on every change: recomputing it walked the whole map on every
	// append once the log passed compactMin (28 % of the broker's CPU under load).
	liveBytes int64
	closed    bool
	dirty     bool // written since the last fsync

	batch      []batchRec     // records queued since the last write was taken
	inBatch    map[string]int // key → index in batch of its newest record
	batchBytes int            // encoded size of batch (roughly)
	seq        uint64         // records queued so far
	written    uint64         // seq covered by completed writes
	writing    bool           // a write(2) runs without mu held
	syncing    bool           // an fsync runs without mu held
	compacting bool           // compactInBackground runs
	delta      []byte         // bytes written to the old file since the compaction's snapshot
	compactErr time.Time      // when the last background compaction failed (retry later)
	compactAt  int64          // compactMin; smaller in tests
	compacted  int            // background compactions done (tests)
	buf        []byte         // encoded records a failed write left behind; reused
}

// batchRec is a queued record. dead records are skipped when the batch is written.
type batchRec struct {
	op   byte
	key  string
	val  []byte
	dead bool
	// onDisk: the key may have a live record in the file (or in a write under way),
	// so deleting it must be written; otherwise a Set+Delete pair cancels out.
	onDisk bool
}

// batchMax: a batch this large is written by the caller that fills it, so memory stays
// bounded when nothing asks for a flush (only deliveries and their acknowledgements).
const batchMax = 256 << 10

const (
	opSet byte = 'S'
	opDel byte = 'D'
	// compactMin: never rewrite a log smaller than this; rewriting costs a full copy.
	compactMin = 4 << 20
)

// openKVLog replays path (if it exists) and starts a compacted log.
// An empty path keeps everything in memory.
func openKVLog(path string) (*kvLog, error) {
	l := &kvLog{path: path, data: map[string][]byte{}, inBatch: map[string]int{}, compactAt: compactMin}
	l.flushed.L = &l.mu
	if path == "" {
		return l, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create broker data directory %s: %w", filepath.Dir(path), err)
	}
	f, err := os.Open(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("open broker state %s: %w", path, err)
	default:
		replay(bufio.NewReader(f), l.data)
		f.Close()
	}
	for k, v := range l.data {
		l.liveBytes += entrySize(k, v)
	}
	if err := l.compactLocked(); err != nil {
		return nil, err
	}
	return l, nil
}

func replay(r *bufio.Reader, m map[string][]byte) {
	for {
		op, key, val, err := readRecord(r)
		if err != nil {
			return // EOF or a torn tail: everything before it is intact
		}
		switch op {
		case opSet:
			m[key] = val
		case opDel:
			delete(m, key)
		}
	}
}

func readRecord(r *bufio.Reader) (byte, string, []byte, error) {
	h := crc32.NewIEEE()
	op, err := r.ReadByte()
	if err != nil {
		return 0, "", nil, err
	}
	h.Write([]byte{op})
	kl, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, "", nil, err
	}
	vl, err := binary.ReadUvarint(r)
	if err != nil {
		return 0, "", nil, err
	}
	if kl > 1<<20 || vl > 1<<30 {
		return 0, "", nil, errors.New("corrupt record length")
	}
	var tmp [binary.MaxVarintLen64]byte
	h.Write(tmp[:binary.PutUvarint(tmp[:], kl)])
	h.Write(tmp[:binary.PutUvarint(tmp[:], vl)])
	buf := make([]byte, kl+vl+4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, "", nil, err
	}
	h.Write(buf[:kl+vl])
	if binary.BigEndian.Uint32(buf[kl+vl:]) != h.Sum32() {
		return 0, "", nil, errors.New("checksum mismatch")
	}
	return op, string(buf[:kl]), buf[kl : kl+vl], nil
}

func encodeRecord(op byte, key string, val []byte) []byte {
	return appendRecord(nil, op, key, val)
}

// appendRecord appends one encoded record to b.
func appendRecord(b []byte, op byte, key string, val []byte) []byte {
	start := len(b)
	b = slices.Grow(b, 1+2*binary.MaxVarintLen64+len(key)+len(val)+4)
	b = append(b, op)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = binary.AppendUvarint(b, uint64(len(val)))
	b = append(b, key...)
	b = append(b, val...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// Set stores key=val; its record reaches the kernel at the next Flush (or sooner).
func (l *kvLog) Set(key string, val []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errStoreClosed
	}
	_, existed := l.data[key]
	l.putLocked(key, val)
	if l.f == nil {
		return nil // memory only
	}
	onDisk := existed
	if i, ok := l.inBatch[key]; ok {
		// The queued record (a set, or a delete of a key on disk) is superseded.
		l.batch[i].dead = true
		onDisk = l.batch[i].onDisk
	}
	return l.queueLocked(batchRec{op: opSet, key: key, val: val, onDisk: onDisk})
}

// Delete removes key; deleting a missing key writes nothing, and deleting a key whose
// only record is still queued drops that record instead of writing two.
func (l *kvLog) Delete(key string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errStoreClosed
	}
	old, ok := l.data[key]
	if !ok {
		return nil
	}
	delete(l.data, key)
	l.liveBytes -= entrySize(key, old)
	if l.f == nil {
		return nil
	}
	if i, ok := l.inBatch[key]; ok {
		l.batch[i].dead = true
		if !l.batch[i].onDisk {
			delete(l.inBatch, key)
			return nil
		}
	}
	return l.queueLocked(batchRec{op: opDel, key: key, onDisk: true})
}

func (l *kvLog) queueLocked(r batchRec) error {
	l.inBatch[r.key] = len(l.batch)
	l.batch = append(l.batch, r)
	l.batchBytes += len(r.key) + len(r.val) + 16
	l.seq++
	if l.batchBytes >= batchMax && !l.writing {
		return l.writeLocked()
	}
	return nil
}

// Flush returns once every record queued before the call is in the kernel (written
// with write(2), not necessarily fsynced): what must hold before an acknowledgement.
func (l *kvLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *kvLog) flushLocked() error {
	target := l.seq
	for l.written < target {
		if l.f == nil {
			if l.closed {
				return errStoreClosed
			}
			return nil // memory only
		}
		if !l.writing {
			if err := l.writeLocked(); err != nil {
				return err
			}
			continue
		}
		l.flushed.Wait() // the write under way may not hold our records: wait, then write the rest
	}
	return nil
}

// writeLocked writes the queued batch with one write(2), with mu released meanwhile
// so that other connections keep queueing (their records form the next batch).
func (l *kvLog) writeLocked() error {
	buf := l.buf
	l.buf = nil
	for _, r := range l.batch {
		if !r.dead {
			buf = appendRecord(buf, r.op, r.key, r.val)
		}
	}
	clear(l.batch) // drop the references to keys and values
	l.batch = l.batch[:0]
	clear(l.inBatch)
	l.batchBytes = 0
	upto := l.seq
	if len(buf) == 0 {
		l.buf = buf
		l.written = upto
		return nil
	}
	f := l.f
	l.writing = true
	l.mu.Unlock()
	n, err := f.Write(buf)
	l.mu.Lock()
	l.writing = false
	l.flushed.Broadcast()
	l.logBytes += int64(n)
	if n > 0 {
		l.dirty = true
	}
	if err != nil {
		// Keep what did not reach the file and try again at the next flush; whoever
		// waited for these records gets the error and acknowledges nothing.
		l.buf = append(buf[:0:0], buf[n:]...)
		return fmt.Errorf("write broker state %s: %w; is the disk full?", l.path, err)
	}
	if l.compacting {
		l.delta = append(l.delta, buf...) // the new file gets these too (compactInBackground)
	}
	l.buf = buf[:0]
	if l.written < upto {
		l.written = upto
	}
	if l.logBytes > l.compactAt && l.logBytes > 4*l.liveBytes && !l.compacting &&
		time.Since(l.compactErr) > compactRetry {
		l.compacting = true
		go l.compactInBackground(l.snapshotLocked())
	}
	return nil
}

// compactRetry: after a failed background compaction, keep appending for this long.
const compactRetry = 10 * time.Second

// kv is one live entry; values are never modified once stored, so a snapshot can
// share them and be encoded without mu.
type kv struct {
	key string
	val []byte
}

// snapshotLocked lists the live map (queued changes included).
func (l *kvLog) snapshotLocked() []kv {
	out := make([]kv, 0, len(l.data))
	for k, v := range l.data {
		out = append(out, kv{k, v})
	}
	return out
}

// compactInBackground writes and fsyncs snapshot to a temporary file while the
// connections keep appending to the old log (writing a multi-megabyte file and
// fsyncing it under mu stalled every connection for tens of milliseconds, several
// times a second under load). Then, under mu, it appends to the new file what was
// written to the old one meanwhile and renames it over the old one. Records queued
// when the snapshot was taken are both in the snapshot and written later; replaying a
// set or delete again over a state that already has it changes nothing.
func (l *kvLog) compactInBackground(entries []kv) {
	n := 0
	for _, e := range entries {
		n += len(e.key) + len(e.val) + 16
	}
	snapshot := make([]byte, 0, n)
	for _, e := range entries {
		snapshot = appendRecord(snapshot, opSet, e.key, e.val)
	}
	tmp := l.path + ".tmp"
	fail := func(f *os.File) {
		if f != nil {
			f.Close()
			os.Remove(tmp)
		}
		l.mu.Lock()
		l.compacting, l.delta, l.compactErr = false, nil, time.Now()
		l.flushed.Broadcast()
		l.mu.Unlock()
	}
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		fail(nil)
		return
	}
	if _, err := f.Write(snapshot); err != nil {
		fail(f)
		return
	}
	if err := f.Sync(); err != nil {
		fail(f)
		return
	}
	l.mu.Lock()
	for l.writing || l.syncing {
		l.flushed.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		fail(f)
		return
	}
	// Not fsynced: these records were not fsynced in the old file either (SyncInterval).
	if _, err := f.Write(l.delta); err != nil {
		l.mu.Unlock()
		fail(f)
		return
	}
	if err := os.Rename(tmp, l.path); err != nil {
		l.mu.Unlock()
		fail(f)
		return
	}
	old := l.f
	l.f = f
	l.logBytes = int64(len(snapshot) + len(l.delta))
	l.dirty = true // the delta
	l.compacting, l.delta = false, nil
	l.compacted++
	l.flushed.Broadcast()
	l.mu.Unlock()
	old.Close()
	if d, err := os.Open(filepath.Dir(l.path)); err == nil {
		_ = d.Sync() // make the rename itself durable
		d.Close()
	}
}

// Prefix returns the values whose key starts with prefix, in key order.
func (l *kvLog) Prefix(prefix string) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, 0)
	for k := range l.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = l.data[k]
	}
	return out
}

// Len is the number of live keys.
func (l *kvLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.data)
}

var errStoreClosed = errors.New("broker state store is closed")

// entrySize is what one live entry costs in a compacted log (record overhead included).
func entrySize(key string, val []byte) int64 { return int64(len(key) + len(val) + 16) }

// putLocked sets key=val in the map and keeps liveBytes in step.
func (l *kvLog) putLocked(key string, val []byte) {
	if old, ok := l.data[key]; ok {
		l.liveBytes -= entrySize(key, old)
	}
	l.data[key] = val
	l.liveBytes += entrySize(key, val)
}

// compactLocked writes the live map to a temporary file, fsyncs it and renames it over
// the log, so a crash at any point leaves either the old or the new log.
func (l *kvLog) compactLocked() error {
	if l.path == "" {
		return nil
	}
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("compact broker state %s: %w", l.path, err)
	}
	w := bufio.NewWriter(f)
	var n int64
	for k, v := range l.data {
		rec := encodeRecord(opSet, k, v)
		n += int64(len(rec))
		if _, err := w.Write(rec); err != nil {
			f.Close()
			return fmt.Errorf("compact broker state %s: %w", l.path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("compact broker state %s: %w", l.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync broker state %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		f.Close()
		return fmt.Errorf("replace broker state %s: %w", l.path, err)
	}
	if d, err := os.Open(filepath.Dir(l.path)); err == nil {
		_ = d.Sync() // make the rename itself durable
		d.Close()
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f = f // the renamed file, positioned at its end: keep appending to it
	l.logBytes = n
	l.dirty = false
	// The new file holds the whole map, queued changes included.
	clear(l.batch)
	l.batch = l.batch[:0]
	clear(l.inBatch)
	l.batchBytes = 0
	l.buf = l.buf[:0]
	l.written = l.seq
	return nil
}

// Sync writes the queued records and flushes the log to stable storage. The fsync
// runs without mu held: connections keep queueing and writing meanwhile.
func (l *kvLog) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.flushLocked(); err != nil {
		return err
	}
	if l.f == nil || !l.dirty || l.syncing {
		return nil
	}
	l.dirty = false
	f := l.f
	l.syncing = true
	l.mu.Unlock()
	err := f.Sync()
	l.mu.Lock()
	l.syncing = false
	l.flushed.Broadcast()
	if err != nil {
		l.dirty = true
		return fmt.Errorf("sync broker state %s: %w", l.path, err)
	}
	return nil
}

// Close writes the queued records, syncs and closes the log; later writes fail with
// errStoreClosed.
func (l *kvLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	err := l.flushLocked()
	for l.writing || l.syncing || l.compacting {
		l.flushed.Wait()
	}
	l.closed = true
	if l.f == nil {
		return err
	}
	if serr := l.f.Sync(); err == nil {
		err = serr
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// keysWithPrefix lists the live keys starting with prefix, in key order.
func (l *kvLog) keysWithPrefix(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k := range l.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Get returns key's value (nil when absent); the caller must not modify it.
func (l *kvLog) Get(key string) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.data[key]
}
