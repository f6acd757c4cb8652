package blueprint

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The file `dualpeer init` writes loads back to exactly the configuration it was written from.
func TestWriteTFVarsRoundTrip(t *testing.T) {
	for name, base := range map[string]*Config{"default": Default(), "quickstart": QuickStart()} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteTFVars(&buf, base); err != nil {
				t.Fatal(err)
			}
			for _, v := range Variables() {
				if !strings.Contains(buf.String(), "\n"+v.Name+" ") {
					t.Errorf("variable %s missing from the file", v.Name)
				}
			}
			path := filepath.Join(t.TempDir(), "dualpeer.tfvars")
			if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			// Load onto a different base: everything must come from the file.
			other := QuickStart()
			other.EnterpriseBrokerPort = 1
			other.Tags = map[string]string{"x": "y"}
			got, err := Load(context.Background(), other, []string{path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got.sources, base.sources = nil, nil
			if !reflect.DeepEqual(got, base) {
				t.Errorf("round trip differs:\n got %+v\nwant %+v", got, base)
			}
		})
	}
}
