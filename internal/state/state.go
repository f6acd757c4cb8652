package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// FormatVersion is the envelope version written by this build.
const FormatVersion = 1

// ErrNotExist is returned by Load when the document has never been saved.
var ErrNotExist = errors.New("state document does not exist")

// ErrCorrupt marks a document that exists but cannot be trusted.
var ErrCorrupt = errors.New("state document is corrupt")

// LockedError says another process holds the lock.
type LockedError struct {
	Dir string
	PID int // 0 when unknown
}

func (e *LockedError) Error() string {
	who := "another dualpeer process"
	if e.PID > 0 {
		who = fmt.Sprintf("another dualpeer process (pid %d)", e.PID)
	}
	return fmt.Sprintf("state directory %s is locked by %s; wait for it to finish, or if it died, run the command again (the lock is released when the process exits)", e.Dir, who)
}

// Store is one state directory.
type Store struct {
	Dir string
}

// Open creates the directory (0700: it holds keys) when missing.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("state directory is empty: pass --state-dir DIR")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w (choose a writable place with --state-dir)", dir, err)
	}
	return &Store{Dir: dir}, nil
}

// Path returns the path of a file inside the state directory.
func (s *Store) Path(elem ...string) string {
	return filepath.Join(append([]string{s.Dir}, elem...)...)
}

// Lock takes the exclusive lock of the state directory without waiting. The returned function
// releases it. The kernel releases a flock when the process dies, so a crash never leaves a
// stale lock behind.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := s.Path("lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := 0
		if b, rerr := os.ReadFile(p); rerr == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Dir: s.Dir, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = f.Truncate(0)
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

type envelope struct {
	FormatVersion int             `json:"format_version"`
	Checksum      string          `json:"checksum"` // sha256 of Data
	Data          json.RawMessage `json:"data"`
}

// Save writes v as the document name (e.g. "local.json") atomically with mode 0600.
func (s *Store) Save(name string, v any) error {
	data, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return fmt.Errorf("encode state %s: %w", name, err)
	}
	sum := sha256.Sum256(data)
	env, err := json.MarshalIndent(envelope{FormatVersion: FormatVersion, Checksum: hex.EncodeToString(sum[:]), Data: data}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state %s: %w", name, err)
	}
	return WriteFileAtomic(s.Path(name), append(env, '\n'), 0o600)
}

// Load reads the document name into v. A missing document is ErrNotExist; a truncated,
// tampered or unknown-version one is ErrCorrupt with the path and what to do.
func (s *Store) Load(name string, v any) error {
	p := s.Path(name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotExist
	}
	if err != nil {
		return fmt.Errorf("read state %s: %w", p, err)
	}
	corrupt := func(why string) error {
		return fmt.Errorf("%w: %s: %s; it was not changed. Move it aside (mv %s %s.bad) and run `dualpeer down` to clean up what it described, or restore it from a backup", ErrCorrupt, p, why, p, p)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return corrupt("not valid JSON (truncated?)")
	}
	if env.FormatVersion != FormatVersion {
		return corrupt(fmt.Sprintf("format version %d, this dualpeer reads %d", env.FormatVersion, FormatVersion))
	}
	sum := sha256.Sum256(env.Data)
	if hex.EncodeToString(sum[:]) != env.Checksum {
		return corrupt("checksum mismatch (edited by hand or partly written)")
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return corrupt(fmt.Sprintf("content does not match this version of dualpeer: %v", err))
	}
	return nil
}

// Remove deletes a document; a missing one is fine.
func (s *Store) Remove(name string) error {
	if err := os.Remove(s.Path(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove state %s: %w", s.Path(name), err)
	}
	return nil
}

// WriteFileAtomic writes data to path via a temp file in the same directory, fsyncs it, renames
// it over path and fsyncs the directory, so readers see either the old or the new content, never
// a mix, and a crash never leaves a half-written key or state file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
