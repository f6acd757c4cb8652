package blueprint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary variable files (HCL .tfvars or .tfvars.json) and -var strings to Load,
// then Validate. Properties:
//   - neither panics (a user's typo must become an error, never a crash);
//   - every error Load returns names where the problem is: the file, or the -var;
//   - every FieldError (Load's or Validate's) names its variable;
//   - the value of a sensitive variable (external_certificates) never appears in an error.
//
// CI runs the seeds only (plain `go test`). To fuzz for real:
//
//	go test ./internal/blueprint -run '^$' -fuzz FuzzLoad -fuzztime 30s -fuzzminimizetime 5s
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"upstream-head.tfvars", "upstream.tfvars.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasSuffix(name, ".json"), "environment=dev")
	}
	for _, s := range []struct {
		file string
		json bool
		v    string
	}{
		{"", false, ""},
		{"environment = \"dev\"\n", false, specVars[len(specVars)-1]},
		{"environment = ", false, "resource_prefix"},
		{"environment = var.x\n", false, "=dev"},
		{"enterprise_broker_port = \"not a number\"\n", false, "enterprise_broker_port=99999999999999999999999"},
		{"cluster_a_virtual_network_config = { adress_space = \"10.0.0.0/16\" }\n", false, "cluster_b_virtual_network_config={"},
		{"tags = null\nnat_gateway_zones = [1, [2]]\n", false, "tags={a=1}"},
		{"external_certificates = { server_root_ca_cert = \"-----BEGIN PRIVATE KEY-----\\nMIIBVQ\" }\n", false,
			"external_certificates={server_leaf_key=\"-----BEGIN PRIVATE KEY-----MIIBVQsecret\"}"},
		{"cluster_b_node_pools = { x = { node_count = -1, vm_size = 3 } }\n", false, "aio_features={connectors={settings={preview=\"Enabled\"}}}"},
		{"{\"environment\": [\"dev\"], \"tags\": {\"a\": {\"b\": 1}}}", true, "tags={\"a\"=\"b\"}"},
		{"{\"external_certificates\": {\"client_leaf_key\": 7}}", true, "external_certificates=null"},
		{"{", true, "should_deploy_custom_scripts=maybe"},
		{"[1,2,3]", true, "instance=${foo}"},
		{"\xff\xfe\x00 = \x01", false, "\x00=\xff"},
		{"a = <<EOT\nunterminated", false, "namespaced_assets=[{name=1}]"},
	} {
		f.Add([]byte(s.file), s.json, s.v)
	}
	f.Fuzz(func(t *testing.T, file []byte, asJSON bool, v string) {
		name := "fuzz.tfvars"
		if asJSON {
			name = "fuzz.tfvars.json"
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		var vars []string
		if v != "" {
			vars = []string{v}
		}
		cfg, err := Load(context.Background(), Default(), []string{path}, vars)
		if err != nil {
			checkLoadError(t, err, path, v)
			return
		}
		verr := cfg.Validate()
		for _, fe := range FieldErrors(verr) {
			if fe.Variable == "" {
				t.Errorf("Validate error names no variable: %v", fe)
			}
		}
		if verr != nil && len(FieldErrors(verr)) == 0 {
			t.Errorf("Validate returned an error that is no FieldError: %v", verr)
		}
		if cfg.ExternalCertificates != nil {
			if s := cfg.ExternalCertificates.String(); s != "(sensitive)" {
				t.Errorf("ExternalCertificates.String() = %q, want (sensitive)", s)
			}
		}
	})
}

// checkLoadError asserts the properties of one error from Load.
func checkLoadError(t *testing.T, err error, path, v string) {
	t.Helper()
	leaves := leafErrors(err)
	if len(leaves) == 0 {
		t.Fatalf("Load returned an error with no message: %#v", err)
	}
	for _, e := range leaves {
		msg := e.Error()
		if !strings.Contains(msg, filepath.ToSlash(path)) && !strings.Contains(msg, path) && !strings.Contains(msg, "-var #") {
			t.Errorf("error names neither the file %s nor the -var: %q", path, msg)
		}
		var fe *FieldError
		if errors.As(e, &fe) {
			if fe.Variable == "" && !strings.Contains(msg, "-var #") {
				t.Errorf("FieldError names no variable: %q", msg)
			}
			if lv, ok := lookupVariable(fe.Variable); ok && lv.Sensitive && fe.Value != "" && fe.Value != "(sensitive)" && fe.Value != fe.Variable {
				t.Errorf("error shows the value of sensitive variable %s: %q", fe.Variable, msg)
			}
		}
	}
	// A sensitive -var value is shown as (sensitive), never echoed.
	name, raw, ok := strings.Cut(v, "=")
	if ok && strings.TrimSpace(name) == "external_certificates" && len(raw) >= 12 && strings.Contains(err.Error(), raw) {
		t.Errorf("error echoes the sensitive value of external_certificates: %q", err)
	}
}

// leafErrors flattens errors.Join trees into their leaves.
func leafErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}
