package pki

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWriteDirModesAndRoundTrip(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := material(t, mode)
			dir := writeMaterial(t, m)
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 13 {
				t.Errorf("%s holds %d files, want 12 PEM files + %s", dir, len(entries), FileInfo)
			}
			for _, e := range entries {
				st, err := os.Stat(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				want := os.FileMode(0o644)
				if strings.HasSuffix(e.Name(), ".key") {
					want = 0o600
					b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
					if !bytes.HasPrefix(b, []byte("-----BEGIN PRIVATE KEY-----")) {
						t.Errorf("%s is not a PKCS#8 PRIVATE KEY PEM", e.Name())
					}
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s mode = %v, want %v", e.Name(), st.Mode().Perm(), want)
				}
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
			got, err := LoadDir(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != mode || got.ServerIP != testServerIP {
				t.Errorf("LoadDir mode/ip = %q %s", got.Mode, got.ServerIP)
			}
			for _, p := range []struct {
				name string
				a, b *Chain
			}{{"server", &m.Server, &got.Server}, {"client", &m.Client, &got.Client}} {
				if !p.a.Root.Equal(p.b.Root) || !p.a.Intermediate.Equal(p.b.Intermediate) || !p.a.Leaf.Equal(p.b.Leaf) ||
					p.a.BundleWithRoot != p.b.BundleWithRoot || !publicKeysEqual(p.a.LeafKey.Public(), p.b.LeafKey.Public()) ||
					!publicKeysEqual(p.a.IntermediateKey.Public(), p.b.IntermediateKey.Public()) {
					t.Errorf("%s chain differs after LoadDir", p.name)
				}
			}
		})
	}
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "k.key")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(context.Background(), p, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "new" || st.Mode().Perm() != 0o600 {
		t.Errorf("after replace: %q mode %v, want \"new\" 0600", b, st.Mode().Perm())
	}
	// A cancelled write leaves the old file untouched and no temporary file.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WriteFileAtomic(ctx, p, []byte("half"), 0o600); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write err = %v", err)
	}
	// Writing into a missing directory fails without creating anything.
	if err := WriteFileAtomic(context.Background(), filepath.Join(dir, "nope", "x.key"), []byte("x"), 0o600); err == nil {
		t.Error("write into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only k.key", len(entries))
	}
	if b, _ := os.ReadFile(p); string(b) != "new" {
		t.Errorf("file changed by a failed write: %q", b)
	}
}

func TestSecretsAndClusterDistribution(t *testing.T) {
	t.Parallel()
	m := material(t, ModeStep)
	s := m.Secrets()
	if len(s) != 8 {
		t.Fatalf("Secrets has %d entries, want 8", len(s))
	}
	for _, n := range SecretNames() {
		b, ok := s[n]
		if !ok {
			t.Errorf("secret %s missing", n)
			continue
		}
		isKey := bytes.Contains(b, []byte("PRIVATE KEY"))
		if isKey != IsKeySecret(n) {
			t.Errorf("secret %s: holds a key = %v, IsKeySecret = %v", n, isKey, IsKeySecret(n))
		}
	}
	if bytes.Count(s[SecretServerLeafCert], []byte("BEGIN CERTIFICATE")) != 2 {
		t.Error("server-leaf-ca-crt must be the step bundle: leaf + intermediate")
	}
	if bytes.Count(material(t, ModeTerraform).Secrets()[SecretClientLeafCert], []byte("BEGIN CERTIFICATE")) != 3 {
		t.Error("client-leaf-ca-crt must be the terraform bundle: leaf + intermediate + root")
	}
	// A (server) gets the server leaf + key and the client root; B (client) gets the client leaf,
	// key, intermediate and the server root. Nobody gets a CA key.
	a, b := strings.Join(ServerClusterSecrets(), " "), strings.Join(ClientClusterSecrets(), " ")
	if a != "server-leaf-ca-crt server-leaf-ca-key client-root-ca-crt" {
		t.Errorf("ServerClusterSecrets = %s", a)
	}
	if b != "client-intermediate-ca-crt client-leaf-ca-crt client-leaf-ca-key server-root-ca-crt" {
		t.Errorf("ClientClusterSecrets = %s", b)
	}
}

func TestImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := material(t, ModeStep)

	t.Run("generate layout", func(t *testing.T) {
		t.Parallel()
		got, err := Import(ctx, writeMaterial(t, m), ImportOptions{ServerIP: testServerIP})
		if err != nil {
			t.Fatal(err)
		}
		if got.Mode != ModeKeyVault || got.ServerIP != testServerIP || !got.Server.Leaf.Equal(m.Server.Leaf) {
			t.Errorf("imported mode %q ip %s", got.Mode, got.ServerIP)
		}
	})
	t.Run("key vault secret names, no CA keys", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for n, b := range m.Secrets() {
			if err := os.WriteFile(filepath.Join(dir, n+".pem"), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		got, err := Import(ctx, dir, ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Server.IntermediateKey != nil || got.ServerIP != testServerIP {
			t.Errorf("import from secrets: intermediate key %v, server IP %s (want derived %s)", got.Server.IntermediateKey != nil, got.ServerIP, testServerIP)
		}
		// Stored again, it is complete for the vault; rotation needs the CA keys and says so.
		out := writeMaterial(t, got)
		re, err := LoadDir(ctx, out)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := Rotate(ctx, re, Options{}); err == nil || !strings.Contains(err.Error(), "intermediate CA key is not available") {
			t.Errorf("rotate without CA keys: err = %v", err)
		}
	})
	t.Run("wrong server IP is refused with the reason", func(t *testing.T) {
		t.Parallel()
		_, err := Import(ctx, writeMaterial(t, m), ImportOptions{ServerIP: netip.MustParseAddr("192.168.1.4")})
		var pe *ProblemsError
		if !errors.As(err, &pe) || pe.Chain != "server" || pe.Problems[0].Kind != KindIPMissing {
			t.Fatalf("err = %v, want a server-chain san-ip-missing problem", err)
		}
	})
	t.Run("swapped leaf keys are refused", func(t *testing.T) {
		t.Parallel()
		dir := writeMaterial(t, m)
		k, _ := os.ReadFile(filepath.Join(dir, FileClientLeafKey))
		if err := os.WriteFile(filepath.Join(dir, FileServerLeafKey), k, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Import(ctx, dir, ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), string(KindKeyMismatch)) {
			t.Fatalf("err = %v, want key-mismatch", err)
		}
		if strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Fatal("the error shows key material")
		}
	})
	t.Run("missing file names what to add", func(t *testing.T) {
		t.Parallel()
		dir := writeMaterial(t, m)
		_ = os.Remove(filepath.Join(dir, FileClientRootCert))
		_, err := Import(ctx, dir, ImportOptions{})
		if err == nil || !strings.Contains(err.Error(), FileClientRootCert) {
			t.Fatalf("err = %v, want it to name %s", err, FileClientRootCert)
		}
	})
	t.Run("external_certificates", func(t *testing.T) {
		t.Parallel()
		tf := material(t, ModeTerraform)
		s := tf.Secrets()
		e := ExternalPEM{
			ServerRootCACert: string(s[SecretServerRootCA]), ServerIntermediateCACert: string(s[SecretServerIntermediateCA]),
			ServerLeafCert: string(s[SecretServerLeafCert]), ServerLeafKey: string(s[SecretServerLeafKey]),
			ClientRootCACert: string(s[SecretClientRootCA]), ClientIntermediateCACert: string(s[SecretClientIntermediateCA]),
			ClientLeafCert: string(s[SecretClientLeafCert]), ClientLeafKey: string(s[SecretClientLeafKey]),
		}
		got, err := FromExternal(e, ImportOptions{ServerIP: testServerIP})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Server.BundleWithRoot || !bytes.Equal(got.Secrets()[SecretClientLeafCert], s[SecretClientLeafCert]) {
			t.Error("external chains do not round-trip to the same secrets")
		}
		e.ClientLeafKey = ""
		if _, err := FromExternal(e, ImportOptions{}); err == nil || !strings.Contains(err.Error(), "client_leaf_key") {
			t.Errorf("missing client key: err = %v", err)
		}
		if got := e.String(); got != "(sensitive)" {
			t.Errorf("ExternalPEM.String() = %q", got)
		}
	})
}

func TestRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			m := material(t, mode)
			later := time.Now().Add(time.Hour)
			nm, changes, err := Rotate(ctx, m, Options{Now: later})
			if err != nil {
				t.Fatal(err)
			}
			if nm.Mode != mode || !nm.Server.Root.Equal(m.Server.Root) || !nm.Client.Intermediate.Equal(m.Client.Intermediate) {
				t.Error("rotation changed the CAs")
			}
			if nm.Server.Leaf.Equal(m.Server.Leaf) || publicKeysEqual(nm.Client.LeafKey.Public(), m.Client.LeafKey.Public()) {
				t.Error("rotation kept a leaf or a leaf key")
			}
			if len(changes) != 2 || changes[0].OldSerial == changes[0].NewSerial || !changes[1].NewNotAfter.After(changes[1].OldNotAfter) {
				t.Errorf("changes = %+v", changes)
			}
			for _, o := range []VerifyOptions{
				{Root: nm.Server.Root, Leaf: nm.Server.Bundle(), Key: nm.Server.LeafKey, ExpectIP: testServerIP, Usage: UsageServer, Now: later},
				{Root: nm.Client.Root, Leaf: nm.Client.Bundle(), Key: nm.Client.LeafKey, Usage: UsageClient, Now: later},
			} {
				if ps := Verify(o); len(ps) > 0 {
					t.Errorf("rotated chain: %v", ps)
				}
			}
			// The original is untouched.
			if ps := Verify(VerifyOptions{Root: m.Server.Root, Leaf: m.Server.Bundle(), Key: m.Server.LeafKey}); len(ps) > 0 {
				t.Errorf("original material changed: %v", ps)
			}
		})
	}
	t.Run("new server IP", func(t *testing.T) {
		t.Parallel()
		nm, _, err := Rotate(ctx, material(t, ModeStep), Options{ServerIP: netip.MustParseAddr("10.9.1.4")})
		if err != nil {
			t.Fatal(err)
		}
		if ps := Verify(VerifyOptions{Root: nm.Server.Root, Leaf: nm.Server.Bundle(), ExpectIP: netip.MustParseAddr("10.9.1.4")}); len(ps) > 0 || nm.ServerIP.String() != "10.9.1.4" {
			t.Errorf("rotated to a new IP: %v", ps)
		}
	})
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := Generate(ctx, Options{}); err == nil || !strings.Contains(err.Error(), "--server-ip") {
		t.Errorf("no server IP: err = %v", err)
	}
	if _, err := Generate(ctx, Options{Mode: ModeKeyVault, ServerIP: testServerIP}); err == nil {
		t.Error("keyvault mode generated certificates")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Generate(cctx, Options{ServerIP: testServerIP}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	for in, ok := range map[string]bool{"": true, "step": true, "terraform": true, "keyvault": false, "rsa": false} {
		if _, err := ParseMode(in); (err == nil) != ok {
			t.Errorf("ParseMode(%q) err = %v", in, err)
		}
	}
	// An IPv4-mapped IPv6 address is the IPv4 address on the wire.
	m, err := Generate(ctx, Options{ServerIP: netip.MustParseAddr("::ffff:10.1.1.4")})
	if err != nil || m.Server.Leaf.IPAddresses[0].String() != "10.1.1.4" {
		t.Errorf("mapped address: %v %v", err, m.Server.Leaf.IPAddresses)
	}
}
