package pki

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenNow is a fixed "now" for the rendered output: 2026-03-01, inside every testdata validity.
var goldenNow = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func TestInspectGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"step-server-bundle", "terraform-server-bundle"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(filepath.Join("testdata", name+".pem"))
			if err != nil {
				t.Fatal(err)
			}
			infos, err := Inspect(in)
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			if err := WriteText(&text, infos, goldenNow); err != nil {
				t.Fatal(err)
			}
			js, err := json.MarshalIndent(infos, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			for ext, got := range map[string][]byte{".txt": text.Bytes(), ".json": append(js, '\n')} {
				golden := filepath.Join("testdata", name+ext+".golden")
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s differs from the output (run go test -update if the change is intended):\n%s", golden, got)
				}
			}
		})
	}
}

func TestInspectSkipsKeysAndRejectsGarbage(t *testing.T) {
	t.Parallel()
	m := material(t, ModeStep)
	s := m.Secrets()
	mixed := append(append([]byte{}, s[SecretServerLeafKey]...), s[SecretServerLeafCert]...)
	infos, err := Inspect(mixed)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 || infos[0].Subject != "CN=mqtts-endpoint" {
		t.Fatalf("Inspect(key + bundle) = %d certs, first %q", len(infos), infos[0].Subject)
	}
	js, _ := json.Marshal(infos)
	if bytes.Contains(js, []byte("PRIVATE")) {
		t.Error("Inspect output mentions a private key")
	}
	for _, in := range []string{"", "not pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		if _, err := Inspect([]byte(in)); err == nil {
			t.Errorf("Inspect(%q) succeeded", in)
		}
	}
}

// FuzzInspect feeds arbitrary bytes to the parsers a user's file reaches (inspect, import):
// they must not panic, and what they return must be consistent and free of key material.
// RSA seeds make each run cost milliseconds, so minimizing a new input takes long; run it as
// go test -run '^$' -fuzz FuzzInspect -fuzztime 1m -fuzzminimizetime 5s ./internal/pki
func FuzzInspect(f *testing.F) {
	for _, name := range []string{"step-server-bundle", "terraform-server-bundle"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".pem"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	m, err := fixtures[ModeStep]()
	if err != nil {
		f.Fatal(err)
	}
	s := m.Secrets()
	f.Add(append(append([]byte{}, s[SecretClientLeafKey]...), s[SecretClientLeafCert]...))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		infos, err := Inspect(in)
		if err == nil {
			if len(infos) == 0 {
				t.Fatal("Inspect returned no certificate and no error")
			}
			for _, ci := range infos {
				if _, herr := hex.DecodeString(ci.SHA256); herr != nil || len(ci.SHA256) != 64 {
					t.Fatalf("bad fingerprint %q", ci.SHA256)
				}
			}
			var text bytes.Buffer
			if werr := WriteText(&text, infos, goldenNow); werr != nil {
				t.Fatal(werr)
			}
		}
		if k, kerr := ParseKey(in); kerr == nil && k == nil {
			t.Fatal("ParseKey returned neither a key nor an error")
		} else if kerr != nil && strings.Contains(kerr.Error(), "BEGIN PRIVATE KEY-----\n") {
			t.Fatal("ParseKey error echoes its input")
		}
		if certs, cerr := ParseCerts(in); cerr == nil {
			// Verify must cope with whatever parsed, in any order.
			_ = Verify(VerifyOptions{Root: certs[len(certs)-1], Leaf: certs, Usage: UsageServer})
		}
	})
}
