package pki

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func requireOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed (apt-get install -y openssl); this test checks our chains with the real openssl")
	}
	return p
}

// TestOpenSSLVerifiesEveryChain runs the real openssl on every generated chain of both modes.
func TestOpenSSLVerifiesEveryChain(t *testing.T) {
	openssl := requireOpenSSL(t)
	t.Parallel()
	for _, mode := range modes {
		dir := writeMaterial(t, material(t, mode))
		for _, c := range []struct {
			name string
			f    chainFiles
		}{{"server", serverFiles}, {"client", clientFiles}} {
			t.Run(string(mode)+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				p := func(n string) string { return filepath.Join(dir, n) }
				// openssl verify checks the first certificate of the leaf file: the leaf of the bundle.
				out, err := exec.Command(openssl, "verify", "-CAfile", p(c.f.rootCert), "-untrusted", p(c.f.intCert), p(c.f.leafCert)).CombinedOutput()
				if err != nil || !strings.Contains(string(out), ": OK") {
					t.Fatalf("openssl verify %s chain: %v\n%s", c.name, err, out)
				}
				purpose := "sslserver"
				if c.name == "client" {
					purpose = "sslclient"
				}
				out, err = exec.Command(openssl, "verify", "-purpose", purpose, "-CAfile", p(c.f.rootCert), "-untrusted", p(c.f.intCert), p(c.f.leafCert)).CombinedOutput()
				if err != nil {
					t.Fatalf("openssl verify -purpose %s: %v\n%s", purpose, err, out)
				}
				// A foreign root must fail, or the check above proves nothing.
				foreign := writeMaterial(t, foreignMaterial(t, mode))
				out, err = exec.Command(openssl, "verify", "-CAfile", filepath.Join(foreign, c.f.rootCert), "-untrusted", p(c.f.intCert), p(c.f.leafCert)).CombinedOutput()
				if err == nil {
					t.Fatalf("openssl verify accepted the %s leaf under a foreign root:\n%s", c.name, out)
				}
			})
		}
		t.Run(string(mode)+"/server-san", func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(openssl, "x509", "-in", filepath.Join(dir, FileServerLeafCert), "-noout", "-ext", "subjectAltName").CombinedOutput()
			if err != nil {
				t.Fatalf("openssl x509: %v\n%s", err, out)
			}
			want := "IP Address:" + testServerIP.String()
			if !strings.Contains(string(out), want) {
				t.Fatalf("subjectAltName lacks %q:\n%s", want, out)
			}
			if mode == ModeStep && (strings.Contains(string(out), ",") || strings.Contains(string(out), "DNS:")) {
				t.Errorf("step server leaf must carry only the IP SAN, got:\n%s", out)
			}
			if mode == ModeTerraform {
				for _, w := range []string{"DNS:mqtts-endpoint", "DNS:localhost", "IP Address:127.0.0.1"} {
					if !strings.Contains(string(out), w) {
						t.Errorf("terraform server leaf SAN lacks %q:\n%s", w, out)
					}
				}
			}
		})
		t.Run(string(mode)+"/pkcs8-key", func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(openssl, "pkey", "-in", filepath.Join(dir, FileServerLeafKey), "-noout", "-check").CombinedOutput()
			if err != nil {
				t.Fatalf("openssl pkey -check: %v\n%s", err, out)
			}
		})
	}
}
