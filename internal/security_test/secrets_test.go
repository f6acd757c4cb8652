package securitytest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dualpeer/dualpeer/internal/pki"
)

// buildCLI builds cmd/dualpeer into a temporary directory and returns the binary's path.
func buildCLI(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("the go command is needed to build the CLI under test: %v", err)
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "dualpeer")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/dualpeer")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/dualpeer: %v\n%s", err, out)
	}
	return bin
}

// run is one CLI invocation and everything it printed.
type run struct {
	args   []string
	code   int
	stdout []byte
	stderr []byte
}

func (r run) String() string { return "dualpeer " + strings.Join(r.args, " ") }

func runCLI(t *testing.T, bin, dir string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return run{args: args, code: code, stdout: out.Bytes(), stderr: errb.Bytes()}
}

// materialKeys returns the detectors of m's keys.
func materialKeys(t *testing.T, prefix string, m *pki.Material) []KeyDetector {
	t.Helper()
	ds, err := MaterialDetectors(prefix, m)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// dirKeys returns detectors for every key file under dir.
func dirKeys(t *testing.T, dir string) []KeyDetector {
	t.Helper()
	ds, files, err := DirKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no key file under %s", dir)
	}
	return ds
}

// checkModes asserts keys 0600, certificates 0644 and the directory 0700.
func checkModes(t *testing.T, dir string) {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		t.Errorf("%s has mode %v: a directory holding private keys must not be open to group or others", dir, st.Mode().Perm())
	}
	n := 0
	err = filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(p, ".key"):
			n++
			if info.Mode().Perm() != 0o600 {
				t.Errorf("key file %s has mode %v, want 0600", p, info.Mode().Perm())
			}
		case strings.HasSuffix(p, ".crt"):
			if info.Mode().Perm() != 0o644 {
				t.Errorf("certificate %s has mode %v, want 0644", p, info.Mode().Perm())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("%s holds no key file: nothing was checked", dir)
	}
}

// externalTFVars renders a tfvars file whose external_certificates hold m's PEM, keys included.
func externalTFVars(t *testing.T, m *pki.Material, extra string) string {
	t.Helper()
	key := func(k crypto.Signer) string {
		b, err := pki.EncodeKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	fields := []struct{ name, val string }{
		{"server_root_ca_cert", string(pki.EncodeCerts(m.Server.Root))},
		{"server_root_ca_key", key(m.Server.RootKey)},
		{"server_intermediate_ca_cert", string(pki.EncodeCerts(m.Server.Intermediate))},
		{"server_intermediate_ca_key", key(m.Server.IntermediateKey)},
		{"server_leaf_cert", string(m.Server.BundlePEM())},
		{"server_leaf_key", key(m.Server.LeafKey)},
		{"client_root_ca_cert", string(pki.EncodeCerts(m.Client.Root))},
		{"client_root_ca_key", key(m.Client.RootKey)},
		{"client_intermediate_ca_cert", string(pki.EncodeCerts(m.Client.Intermediate))},
		{"client_intermediate_ca_key", key(m.Client.IntermediateKey)},
		{"client_leaf_cert", string(m.Client.BundlePEM())},
		{"client_leaf_key", key(m.Client.LeafKey)},
	}
	var b strings.Builder
	b.WriteString("environment     = \"dev\"\nresource_prefix = \"sec\"\nlocation        = \"eastus2\"\n")
	b.WriteString(extra)
	b.WriteString("external_certificates = {\n")
	for _, f := range fields {
		fmt.Fprintf(&b, "  %s = <<EOT\n%sEOT\n", f.name, f.val)
	}
	b.WriteString("}\n")
	return b.String()
}

// TestNoKeyMaterialInCLIOutput runs the real CLI over configurations whose external_certificates
// hold real private keys, and over generated, rotated and imported certificate directories, and
// scans every byte of stdout and stderr of every run for key material. It also checks the modes
// of every key file the CLI wrote.
func TestNoKeyMaterialInCLIOutput(t *testing.T) {
	bin := buildCLI(t)
	work := t.TempDir()
	serverIP := netip.MustParseAddr("10.1.1.4") // Cluster A's VM with the default address space
	ext, err := pki.Generate(context.Background(), pki.Options{Mode: pki.ModeStep, ServerIP: serverIP})
	if err != nil {
		t.Fatal(err)
	}
	detectors := materialKeys(t, "external_certificates", ext)
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyvault := write("keyvault.tfvars", externalTFVars(t, ext, "should_create_certificates = false\n"), 0o600)
	terraform := write("terraform.tfvars", externalTFVars(t, ext,
		"use_terraform_certificates = true\nshould_deploy_custom_scripts = true\nshould_create_anonymous_broker_listener = true\n"), 0o600)
	// The same chains with a typo: validation fails and must describe, not echo, the bad value.
	broken := strings.Replace(externalTFVars(t, ext, "should_create_certificates = false\n"), "-----BEGIN PRIVATE KEY-----", "-----BEGNI PRIVATE KEY-----", 1)
	brokenFile := write("broken.tfvars", broken, 0o600)
	stepFile := write("step.tfvars", externalTFVars(t, ext, ""), 0o600) // external chains conflict with step generation
	leafKey, err := pki.EncodeKey(ext.Client.LeafKey)
	if err != nil {
		t.Fatal(err)
	}
	rawKey := strings.Join(strings.Split(strings.TrimSpace(string(leafKey)), "\n")[1:3], "")
	importSrc := filepath.Join(work, "import-src")
	if err := ext.WriteDir(context.Background(), importSrc); err != nil {
		t.Fatal(err)
	}
	badImport := filepath.Join(work, "bad-import")
	if err := ext.WriteDir(context.Background(), badImport); err != nil {
		t.Fatal(err)
	}
	// A leaf key that belongs to the other chain: import must refuse it without quoting it.
	if err := os.WriteFile(filepath.Join(badImport, pki.FileServerLeafKey), leafKey, 0o600); err != nil {
		t.Fatal(err)
	}

	gen := filepath.Join(work, "certs")
	imported := filepath.Join(work, "imported")
	state := filepath.Join(work, "state")
	type step struct {
		args     []string
		wantFail bool
	}
	steps := []step{
		{[]string{"validate", "-var-file", keyvault}, false},
		{[]string{"plan", "-var-file", keyvault}, false},
		{[]string{"plan", "-var-file", keyvault, "-o", "json"}, false},
		{[]string{"plan", "-var-file", keyvault, "--graph", "dot"}, false},
		{[]string{"plan", "-v=2", "-var-file", terraform}, false},
		{[]string{"plan", "-var-file", terraform, "-o", "json"}, false},
		{[]string{"plan", "-var-file", terraform, "--graph", "mermaid"}, false},
		{[]string{"validate", "-var-file", terraform}, false},
		{[]string{"graph", "--format", "dot", "-var-file", terraform}, false},
		{[]string{"validate", "-var-file", brokenFile}, true},
		{[]string{"plan", "-var-file", brokenFile, "-o", "json"}, true},
		{[]string{"validate", "-var-file", stepFile}, true},
		{[]string{"validate", "-var", "environment=dev", "-var", "resource_prefix=sec", "-var", "location=eastus2",
			"-var", `external_certificates={server_leaf_key="` + rawKey + `"}`}, true},
		{[]string{"plan", "-var", `external_certificates=` + rawKey}, true},
		{[]string{"--state-dir", state, "certs", "generate", "--out", gen, "--server-ip", "10.1.1.4", "-v=2"}, false},
		{[]string{"certs", "inspect", filepath.Join(gen, pki.FileServerLeafCert)}, false},
		{[]string{"certs", "inspect", filepath.Join(gen, pki.FileClientLeafCert), "-o", "json"}, false},
		{[]string{"certs", "inspect", filepath.Join(gen, pki.FileServerLeafKey)}, true},
		{[]string{"certs", "inspect", filepath.Join(gen, pki.FileClientRootKey), "-o", "json"}, true},
		{[]string{"certs", "verify", "--root", filepath.Join(gen, pki.FileServerRootCert), "--leaf", filepath.Join(gen, pki.FileServerLeafCert),
			"--key", filepath.Join(gen, pki.FileServerLeafKey), "--expect-ip", "10.1.1.4", "--usage", "server"}, false},
		{[]string{"certs", "verify", "--root", filepath.Join(gen, pki.FileClientRootCert), "--leaf", filepath.Join(gen, pki.FileClientLeafCert),
			"--key", filepath.Join(gen, pki.FileServerLeafKey), "--usage", "client", "-o", "json"}, true},
		{[]string{"certs", "verify", "--root", filepath.Join(gen, pki.FileServerRootKey), "--leaf", filepath.Join(gen, pki.FileServerLeafKey)}, true},
		{[]string{"certs", "verify", "--root", filepath.Join(gen, pki.FileServerRootCert), "--leaf", filepath.Join(gen, pki.FileServerLeafCert),
			"--key", filepath.Join(gen, pki.FileServerRootCert)}, true},
		{[]string{"certs", "import", importSrc, "--out", imported, "--server-ip", "10.1.1.4", "-v=2"}, false},
		{[]string{"certs", "import", badImport, "--out", filepath.Join(work, "never"), "--server-ip", "10.1.1.4"}, true},
		{[]string{"certs", "generate", "--out", gen}, true}, // refuses to overwrite
	}
	var runs []run
	for _, s := range steps {
		r := runCLI(t, bin, work, s.args...)
		runs = append(runs, r)
		if (r.code != 0) != s.wantFail {
			t.Errorf("%s: exit %d, want failure=%v\nstdout:\n%s\nstderr:\n%s", r, r.code, s.wantFail, r.stdout, r.stderr)
		}
	}
	// The generated keys are known only now; rotate replaces them, so collect them first.
	detectors = append(detectors, dirKeys(t, gen)...)
	checkModes(t, gen)
	r := runCLI(t, bin, work, "certs", "rotate", "--dir", gen, "-v=2")
	runs = append(runs, r)
	if r.code != 0 {
		t.Errorf("%s: exit %d\n%s%s", r, r.code, r.stdout, r.stderr)
	}
	detectors = append(detectors, dirKeys(t, gen)...)
	checkModes(t, gen)
	checkModes(t, imported)
	if _, err := os.Stat(filepath.Join(work, "never")); err == nil {
		checkModes(t, filepath.Join(work, "never"))
		t.Errorf("a refused import wrote %s", filepath.Join(work, "never"))
	}

	var total int
	for _, r := range runs {
		for _, out := range []struct {
			stream string
			b      []byte
		}{{"stdout", r.stdout}, {"stderr", r.stderr}} {
			total += len(out.b)
			for _, leak := range Leaks(out.b, detectors) {
				t.Errorf("%s: %s contains %s", r, out.stream, leak)
			}
		}
	}
	t.Logf("scanned %d runs, %d bytes of output, for %d private keys", len(runs), total, len(detectors))
}

// TestKeyDetectorFindsKeys makes sure the scan above can fail: the detectors must find a key
// printed as PEM, as bare base64, as hex, and inside JSON, and must not fire on certificates.
func TestKeyDetectorFindsKeys(t *testing.T) {
	m, err := pki.Generate(context.Background(), pki.Options{Mode: pki.ModeStep, ServerIP: netip.MustParseAddr("10.1.1.4")})
	if err != nil {
		t.Fatal(err)
	}
	ds := materialKeys(t, "t", m)
	leaf := ds[len(ds)-1] // client leaf key
	pemKey, _ := pki.EncodeKey(m.Client.LeafKey)
	der, _ := x509.MarshalPKCS8PrivateKey(m.Client.LeafKey)
	scalar, _ := m.Client.LeafKey.(*ecdsa.PrivateKey).Bytes()
	for name, text := range map[string][]byte{
		"PEM":         pemKey,
		"base64 DER":  []byte("key: " + base64.StdEncoding.EncodeToString(der)),
		"hex scalar":  []byte("d=" + hex.EncodeToString(scalar)),
		"JSON string": []byte(fmt.Sprintf(`{"key":%q}`, string(pemKey))),
	} {
		if leaf.Find(text) == "" {
			t.Errorf("the detector misses the key printed as %s", name)
		}
	}
	public := append(append(m.Server.BundlePEM(), m.Client.BundlePEM()...), pki.EncodeCerts(m.Client.Root, m.Server.Root)...)
	for _, d := range ds {
		if w := d.Find(public); w != "" {
			t.Errorf("the %s detector fires on certificates (%q)", d.Name, w)
		}
	}
}
