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
	"sort"
	"strings"
	"sync"
)

// kvLog is a tiny durable key/value map: an in-memory map mirrored by an append-only
// log of set/delete records, compacted into a fresh file when it grows. We write our
// own because mochi's bolt/badger hooks pull in modules that are not in our module
// set, and the broker's access pattern (small records, set then delete soon after)
// suits a log well.
//
// Record: op(1) | uvarint keyLen | uvarint valLen | key | val | crc32(all before).
// A torn record at the tail (a crash during write) fails its CRC and ends the replay.
type kvLog struct {
	mu       sync.Mutex
	path     string
	f        *os.File
	data     map[string][]byte
	logBytes int64
	// liveBytes approximates the size of a compacted log (sum of entrySize over data),
	// kept up to date on every change: recomputing it walked the whole map on every
	// append once the log passed compactMin (28 % of the broker's CPU under load).
	liveBytes int64
	closed    bool
	dirty     bool
}

const (
	opSet byte = 'S'
	opDel byte = 'D'
	// compactMin: never rewrite a log smaller than this; rewriting costs a full copy.
	compactMin = 4 << 20
)

// openKVLog replays path (if it exists) and starts a compacted log.
// An empty path keeps everything in memory.
func openKVLog(path string) (*kvLog, error) {
	l := &kvLog{path: path, data: map[string][]byte{}}
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
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(key)+len(val)+4)
	b = append(b, op)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = binary.AppendUvarint(b, uint64(len(val)))
	b = append(b, key...)
	b = append(b, val...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

// Set stores key=val durably (against a process crash) before returning.
func (l *kvLog) Set(key string, val []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errStoreClosed
	}
	l.putLocked(key, val)
	return l.appendLocked(encodeRecord(opSet, key, val))
}

// Delete removes key; deleting a missing key writes nothing.
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
	return l.appendLocked(encodeRecord(opDel, key, nil))
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

func (l *kvLog) appendLocked(rec []byte) error {
	if l.f == nil {
		return nil // memory only
	}
	if _, err := l.f.Write(rec); err != nil {
		return fmt.Errorf("write broker state %s: %w", l.path, err)
	}
	l.dirty = true
	l.logBytes += int64(len(rec))
	if l.logBytes > compactMin && l.logBytes > 4*l.liveBytes {
		return l.compactLocked()
	}
	return nil
}

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
	return nil
}

// Sync flushes the log to stable storage.
func (l *kvLog) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil || !l.dirty {
		return nil
	}
	l.dirty = false
	return l.f.Sync()
}

// Close syncs and closes the log; later writes fail with errStoreClosed.
func (l *kvLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}

// keysWithPrefix lists the live keys starting with prefix.
func (l *kvLog) keysWithPrefix(prefix string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k := range l.data {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}
