package pki

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pemKeyBody matches a PEM private key header followed by its base64 body (the hint
// "expected -----BEGIN PRIVATE KEY-----" in an error is fine; a key's body is not).
var pemKeyBody = regexp.MustCompile(`PRIVATE KEY-----\s*[A-Za-z0-9+/=]{16}`)

// importFiles lists the twelve files Import reads, in the order FuzzImport indexes them.
var importFiles = []string{
	FileServerRootCert, FileServerRootKey, FileServerIntermediateCert, FileServerIntermediateKey, FileServerLeafCert, FileServerLeafKey,
	FileClientRootCert, FileClientRootKey, FileClientIntermediateCert, FileClientIntermediateKey, FileClientLeafCert, FileClientLeafKey,
}

// FuzzImport replaces one file of a valid certificate directory (chosen by which) with arbitrary
// bytes and imports it, through both doors a user's chain comes in: `certs import DIR` (Import)
// and the external_certificates variable (FromExternal). Properties:
//   - no panic;
//   - an error names where the bad input is (the directory / external_certificates);
//   - an error never carries private key material (no PEM key block, no base64 of any key);
//   - a success returns complete chains whose leaf keys match their certificates.
//
// CI runs the seeds only. To fuzz for real (ECDSA seeds, so each run costs well under a millisecond):
//
//	go test ./internal/pki -run '^$' -fuzz FuzzImport -fuzztime 30s -fuzzminimizetime 5s
func FuzzImport(f *testing.F) {
	m := material(f, ModeStep)
	secrets := m.Secrets()
	// WriteDir syncs every file; doing that per input would make the fuzzer crawl, so the
	// files are written once and copied with plain writes.
	tmpl := map[string][]byte{}
	tdir := f.TempDir()
	if err := m.WriteDir(context.Background(), tdir); err != nil {
		f.Fatal(err)
	}
	for _, name := range importFiles {
		b, err := os.ReadFile(filepath.Join(tdir, name))
		if err != nil {
			f.Fatal(err)
		}
		tmpl[name] = b
	}
	f.Add(uint8(0), []byte(nil))
	f.Add(uint8(4), []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Add(uint8(5), []byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"))
	f.Add(uint8(5), secrets[SecretClientLeafKey])   // the other chain's key: mismatch
	f.Add(uint8(10), secrets[SecretServerLeafCert]) // the server leaf as client leaf: wrong usage and CA
	f.Add(uint8(1), secrets[SecretServerLeafKey])   // a wrong root key
	f.Add(uint8(8), secrets[SecretServerRootCA])    // the root as intermediate
	f.Add(uint8(11), append([]byte("garbage\n"), secrets[SecretClientLeafKey]...))
	f.Add(uint8(2), bytes.Repeat([]byte("-----BEGIN CERTIFICATE-----\n"), 50))
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		dir := t.TempDir()
		for name, b := range tmpl {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		target := filepath.Join(dir, importFiles[int(which)%len(importFiles)])
		if err := os.WriteFile(target, data, 0o600); err != nil {
			t.Fatal(err)
		}
		keys := keyFingerprints(t, dir)

		got, err := Import(context.Background(), dir, ImportOptions{ServerIP: testServerIP})
		checkImport(t, "Import", got, err, dir, keys)

		e := externalFromDir(t, dir)
		got, err = FromExternal(e, ImportOptions{ServerIP: testServerIP})
		checkImport(t, "FromExternal", got, err, "external_certificates", keys)
	})
}

// checkImport asserts FuzzImport's properties for one result.
func checkImport(t *testing.T, what string, m *Material, err error, where string, keys []string) {
	t.Helper()
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, where) {
			t.Errorf("%s error does not name %s: %q", what, where, msg)
		}
		if pemKeyBody.MatchString(msg) {
			t.Errorf("%s error contains a PEM private key block: %q", what, msg)
		}
		for _, k := range keys {
			if strings.Contains(msg, k) {
				t.Errorf("%s error contains key material (%s…): %q", what, k[:8], msg)
			}
		}
		return
	}
	for _, c := range []struct {
		name string
		ch   Chain
	}{{"server", m.Server}, {"client", m.Client}} {
		if c.ch.Root == nil || c.ch.Intermediate == nil || c.ch.Leaf == nil || c.ch.LeafKey == nil {
			t.Fatalf("%s succeeded with an incomplete %s chain", what, c.name)
		}
		if !publicKeysEqual(c.ch.Leaf.PublicKey, c.ch.LeafKey.Public()) {
			t.Errorf("%s accepted a %s leaf key that does not match its certificate", what, c.name)
		}
	}
}

// keyFingerprints returns, for every key file in dir that holds a PEM block, 24-character
// pieces of its base64 body: if an error contained any of them, it would leak the key.
func keyFingerprints(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, name := range importFiles {
		if !strings.HasSuffix(name, ".key") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil || len(blk.Bytes) < 32 {
			continue
		}
		enc := base64.StdEncoding.EncodeToString(blk.Bytes)
		for i := 0; i+24 <= len(enc); i += 24 {
			out = append(out, enc[i:i+24])
		}
	}
	return out
}

// externalFromDir reads dir's files into the external_certificates shape.
func externalFromDir(t *testing.T, dir string) ExternalPEM {
	t.Helper()
	r := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return ExternalPEM{
		ServerRootCACert: r(FileServerRootCert), ServerRootCAKey: r(FileServerRootKey),
		ServerIntermediateCACert: r(FileServerIntermediateCert), ServerIntermediateCAKey: r(FileServerIntermediateKey),
		ServerLeafCert: r(FileServerLeafCert), ServerLeafKey: r(FileServerLeafKey),
		ClientRootCACert: r(FileClientRootCert), ClientRootCAKey: r(FileClientRootKey),
		ClientIntermediateCACert: r(FileClientIntermediateCert), ClientIntermediateCAKey: r(FileClientIntermediateKey),
		ClientLeafCert: r(FileClientLeafCert), ClientLeafKey: r(FileClientLeafKey),
	}
}
