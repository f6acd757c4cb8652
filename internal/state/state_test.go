package state

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

type doc struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestSaveLoadRoundTrip(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load("x.json", &doc{}); !errors.Is(err, ErrNotExist) {
		t.Fatalf("missing doc: got %v, want ErrNotExist", err)
	}
	in := doc{Name: "a", Count: 3}
	if err := s.Save("x.json", in); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path("x.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	var out doc
	if err := s.Load("x.json", &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("got %+v want %+v", out, in)
	}
}

func TestCorruptionDetected(t *testing.T) {
	cases := map[string]func(b []byte) []byte{
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"empty":     func(b []byte) []byte { return nil },
		"edited":    func(b []byte) []byte { return []byte(strings.Replace(string(b), `"count": 3`, `"count": 4`, 1)) },
		"future-version": func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"format_version": 1`, `"format_version": 9`, 1))
		},
	}
	for name, mangle := range cases {
		t.Run(name, func(t *testing.T) {
			s, _ := Open(t.TempDir())
			if err := s.Save("x.json", doc{Name: "a", Count: 3}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(s.Path("x.json"))
			mangled := mangle(b)
			if string(mangled) == string(b) {
				t.Fatal("the mangling did not change the file: the case tests nothing")
			}
			if err := os.WriteFile(s.Path("x.json"), mangled, 0o600); err != nil {
				t.Fatal(err)
			}
			err := s.Load("x.json", &doc{})
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), s.Path("x.json")) {
				t.Errorf("error does not name the file: %v", err)
			}
			after, _ := os.ReadFile(s.Path("x.json"))
			if string(after) != string(mangled) {
				t.Error("corrupt file was modified")
			}
		})
	}
}

// TestLockExcludesOtherProcess takes the lock here and checks that flock(1), a separate process,
// cannot take it, then can after unlock.
func TestLockExcludesOtherProcess(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed (util-linux)")
	}
	s, _ := Open(t.TempDir())
	unlock, err := s.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("flock", "-n", s.Path("lock"), "true").Run(); err == nil {
		t.Fatal("another process took the lock while we held it")
	}
	// Same process, second Store: flock locks are per open file description, so this must fail too.
	if _, err := (&Store{Dir: s.Dir}).Lock(context.Background()); err == nil {
		t.Fatal("second Lock succeeded while held")
	} else {
		var le *LockedError
		if !errors.As(err, &le) || le.PID != os.Getpid() {
			t.Fatalf("got %v, want LockedError naming pid %d", err, os.Getpid())
		}
	}
	unlock()
	if err := exec.Command("flock", "-n", s.Path("lock"), "true").Run(); err != nil {
		t.Fatalf("lock not released: %v", err)
	}
}
