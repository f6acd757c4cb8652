package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/pki"
)

func certsCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return code, out.String(), errOut.String()
}

func TestCertsGenerateVerifyRotateImport(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	dir, other := filepath.Join(base, "certs"), filepath.Join(base, "other")
	for _, d := range []string{dir, other} {
		code, out, errOut := certsCLI(t, "certs", "generate", "--server-ip", "10.1.1.4", "--out", d)
		if code != 0 || !strings.Contains(out, "wrote step certificates for server IP 10.1.1.4") || !strings.Contains(errOut, "signed server chain") {
			t.Fatalf("generate: code %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, pki.FileServerLeafKey)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("server leaf key: %v mode %v", err, st.Mode().Perm())
	}
	if code, _, errOut := certsCLI(t, "certs", "generate", "--out", dir); code == 0 || !strings.Contains(errOut, "certs rotate") {
		t.Errorf("generate over existing certificates: code %d, stderr %s", code, errOut)
	}

	// An expired leaf, written like generate does.
	expiredDir := filepath.Join(base, "expired")
	m, err := pki.Generate(context.Background(), pki.Options{ServerIP: netip.MustParseAddr("10.1.1.4"), Now: time.Now().Add(-2401 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.WriteDir(context.Background(), expiredDir); err != nil {
		t.Fatal(err)
	}

	p := func(d, f string) string { return filepath.Join(d, f) }
	serverArgs := func(root, leaf, key string) []string {
		return []string{"certs", "verify", "--root", root, "--leaf", leaf, "--key", key, "--expect-ip", "10.1.1.4", "--usage", "server"}
	}
	tests := map[string]struct {
		args     []string
		wantCode int
		says     []string
	}{
		"good server chain": {serverArgs(p(dir, pki.FileServerRootCert), p(dir, pki.FileServerLeafCert), p(dir, pki.FileServerLeafKey)), 0,
			[]string{"OK", "has IP SAN 10.1.1.4", "matches its key"}},
		"good client chain": {[]string{"certs", "verify", "--root", p(dir, pki.FileClientRootCert), "--intermediate", p(dir, pki.FileClientIntermediateCert),
			"--leaf", p(dir, pki.FileClientLeafCert), "--usage", "client"}, 0, []string{"OK"}},
		"wrong IP": {append(serverArgs(p(dir, pki.FileServerRootCert), p(dir, pki.FileServerLeafCert), p(dir, pki.FileServerLeafKey)), "--expect-ip", "10.1.1.9"), 1,
			[]string{"[san-ip-missing]", "not 10.1.1.9"}},
		"expired leaf": {serverArgs(p(expiredDir, pki.FileServerRootCert), p(expiredDir, pki.FileServerLeafCert), p(expiredDir, pki.FileServerLeafKey)), 1,
			[]string{"[expired]", "leaf certificate \"mqtts-endpoint\" expired"}},
		"foreign CA": {serverArgs(p(other, pki.FileServerRootCert), p(dir, pki.FileServerLeafCert), p(dir, pki.FileServerLeafKey)), 1,
			[]string{"[chain-not-to-root]", "different key"}},
		"swapped key": {serverArgs(p(dir, pki.FileServerRootCert), p(dir, pki.FileServerLeafCert), p(dir, pki.FileClientLeafKey)), 1,
			[]string{"[key-mismatch]", "does not match"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := certsCLI(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, out, errOut)
			}
			for _, w := range tc.says {
				if !strings.Contains(out, w) {
					t.Errorf("stdout does not say %q:\n%s", w, out)
				}
			}
			if tc.wantCode != 0 && !strings.Contains(errOut, "problem(s) found") {
				t.Errorf("stderr lacks the summary: %s", errOut)
			}
			// Exactly one cause per bad case: the diagnosis must be precise.
			if tc.wantCode != 0 && strings.Count(out, "FAIL [") != 1 {
				t.Errorf("want exactly one problem:\n%s", out)
			}
		})
	}

	t.Run("verify -o json", func(t *testing.T) {
		code, out, _ := certsCLI(t, append(serverArgs(p(other, pki.FileServerRootCert), p(dir, pki.FileServerLeafCert), p(dir, pki.FileServerLeafKey)), "-o", "json")...)
		var res struct {
			OK       bool          `json:"ok"`
			Problems []pki.Problem `json:"problems"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.OK || len(res.Problems) != 1 || res.Problems[0].Kind != pki.KindUntrusted {
			t.Fatalf("code %d, %v, %+v\n%s", code, err, res, out)
		}
	})

	t.Run("inspect", func(t *testing.T) {
		code, out, _ := certsCLI(t, "certs", "inspect", p(dir, pki.FileServerLeafCert), "-o", "json")
		var infos []pki.CertInfo
		if err := json.Unmarshal([]byte(out), &infos); err != nil || code != 0 || len(infos) != 2 || infos[0].IPAddresses[0] != "10.1.1.4" {
			t.Fatalf("inspect json: code %d err %v\n%s", code, err, out)
		}
		code, out, _ = certsCLI(t, "certs", "inspect", p(dir, pki.FileServerLeafKey))
		if code == 0 || strings.Contains(out, "PRIVATE") {
			t.Errorf("inspect of a key file: code %d, stdout %q", code, out)
		}
	})

	t.Run("rotate then import", func(t *testing.T) {
		before, _ := os.ReadFile(p(dir, pki.FileServerRootCert))
		code, out, errOut := certsCLI(t, "certs", "rotate", "--dir", dir)
		if code != 0 || !strings.Contains(out, "server leaf CN=mqtts-endpoint") || !strings.Contains(out, "serial") || !strings.Contains(out, "not after") {
			t.Fatalf("rotate: code %d\n%s\n%s", code, out, errOut)
		}
		after, _ := os.ReadFile(p(dir, pki.FileServerRootCert))
		if !bytes.Equal(before, after) {
			t.Error("rotate changed the root CA")
		}
		if code, out, _ := certsCLI(t, serverArgs(p(dir, pki.FileServerRootCert), p(dir, pki.FileServerLeafCert), p(dir, pki.FileServerLeafKey))...); code != 0 {
			t.Errorf("rotated chain does not verify:\n%s", out)
		}
		imported := filepath.Join(base, "imported")
		code, out, errOut = certsCLI(t, "certs", "import", dir, "--server-ip", "10.1.1.4", "--out", imported)
		if code != 0 || !strings.Contains(out, "imported") {
			t.Fatalf("import: code %d\n%s\n%s", code, out, errOut)
		}
		code, _, errOut = certsCLI(t, "certs", "import", expiredDir, "--out", filepath.Join(base, "imported2"))
		if code == 0 || !strings.Contains(errOut, "expired") {
			t.Errorf("import of an expired chain: code %d\n%s", code, errOut)
		}
	})
}

func TestCertsFlagErrors(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{
		"bad mode":       {"certs", "generate", "--mode", "rsa", "--out", t.TempDir()},
		"bad ip":         {"certs", "generate", "--server-ip", "10.1.1", "--out", t.TempDir()},
		"verify no root": {"certs", "verify", "--leaf", "x.crt"},
		"missing files":  {"certs", "verify", "--root", "/nonexistent", "--leaf", "/nonexistent"},
		"bad usage":      {"certs", "verify", "--root", "/nonexistent", "--leaf", "/nonexistent", "--usage", "broker"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if code, _, errOut := certsCLI(t, args...); code == 0 || errOut == "" {
				t.Errorf("code %d, stderr %q", code, errOut)
			}
		})
	}
}

func TestCertsGenerateTerraformMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := certsCLI(t, "-q", "certs", "generate", "--mode", "terraform", "--server-ip", "192.168.1.4", "--out", dir)
	if code != 0 || errOut != "" {
		t.Fatalf("code %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = certsCLI(t, "certs", "inspect", filepath.Join(dir, pki.FileServerLeafCert))
	for _, w := range []string{"RSA 2048", "RSA 4096", "192.168.1.4", "127.0.0.1", "O=Azure IoT Operations"} {
		if code != 0 || !strings.Contains(out, w) {
			t.Errorf("inspect of the terraform bundle lacks %q:\n%s", w, out)
		}
	}
}
