package pki

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerateWriteLoad(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeStep, ModeTerraform} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m, err := Generate(ctx, Options{Mode: mode, ServerIP: netip.MustParseAddr("10.1.1.4")})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := m.WriteDir(ctx, dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{FileServerLeafKey, FileClientLeafKey, FileServerRootKey, FileClientIntermediateKey} {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o600 {
					t.Errorf("%s mode = %v, want 0600", f, st.Mode().Perm())
				}
			}
			for _, f := range []string{FileServerLeafCert, FileClientRootCert} {
				st, err := os.Stat(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm() != 0o644 {
					t.Errorf("%s mode = %v, want 0644", f, st.Mode().Perm())
				}
			}
			got, err := LoadDir(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != mode || got.ServerIP != m.ServerIP || !got.Server.Leaf.Equal(m.Server.Leaf) || got.Server.BundleWithRoot != m.Server.BundleWithRoot {
				t.Errorf("LoadDir round trip differs: mode %q ip %s", got.Mode, got.ServerIP)
			}
			if s := m.Secrets(); len(s) != 8 {
				t.Errorf("Secrets() has %d entries, want 8", len(s))
			}
		})
	}
}
