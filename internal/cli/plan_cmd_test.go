package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func runConfigCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), NormalizeArgs(args), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

// The spec's example, exactly as the README passes it to terraform plan.
var specArgs = []string{
	"-var", "environment=dev", "-var", "resource_prefix=myorg", "-var", "location=eastus2",
	"-var", "should_deploy_custom_scripts=true", "-var", "use_terraform_certificates=true",
	"-var", `cluster_a_virtual_network_config={address_space="192.168.1.0/24",subnet_address_prefix="192.168.1.0/28"}`,
	"-var", `cluster_b_virtual_network_config={address_space="192.168.2.0/24",subnet_address_prefix="192.168.2.0/28"}`,
}

func TestPlanSpecExampleJSON(t *testing.T) {
	out, errOut, code := runConfigCLI(t, append([]string{"plan", "-o", "json"}, specArgs...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		FormatVersion string `json:"format_version"`
		Resources     []struct {
			Address    string `json:"address"`
			Type       string `json:"type"`
			Name       string `json:"name"`
			Attributes map[string]struct {
				Value     any  `json:"value"`
				Computed  bool `json:"computed"`
				Predicted any  `json:"predicted"`
			} `json:"attributes"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan -o json is not JSON: %v", err)
	}
	vms := map[string]bool{}
	peerings := 0
	var sanOK bool
	for _, r := range doc.Resources {
		switch r.Type {
		case "Microsoft.Compute/virtualMachines":
			vms[r.Name] = true
		case "Microsoft.Network/virtualNetworks/virtualNetworkPeerings":
			peerings++
			want := map[string]bool{"allow_virtual_network_access": true, "allow_forwarded_traffic": true, "allow_gateway_transit": false, "use_remote_gateways": false}
			for k, v := range want {
				if r.Attributes[k].Value != v {
					t.Errorf("%s: %s = %v, want %v", r.Name, k, r.Attributes[k].Value, v)
				}
			}
		case "dualpeer/certificate":
			if r.Name == "server-chain" {
				ips, _ := r.Attributes["leaf_ip_sans"].Predicted.([]any)
				sanOK = r.Attributes["server_ip_san"].Predicted == "192.168.1.4" && len(ips) > 0 && ips[0] == "192.168.1.4"
			}
		}
	}
	for _, vm := range []string{"vm-myorg-cluster-a-dev-001", "vm-myorg-cluster-b-dev-001"} {
		if !vms[vm] {
			t.Errorf("VM %s not in the plan (have %v)", vm, vms)
		}
	}
	if peerings != 2 {
		t.Errorf("%d peerings, want 2", peerings)
	}
	if !sanOK {
		t.Error("no server certificate with IP SAN 192.168.1.4")
	}
	if doc.FormatVersion == "" {
		t.Error("format_version missing")
	}
}

func TestPlanTextAndGraphs(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"plan"}, []string{"=== Cluster A (server", "peer-cluster-a-to-cluster-b", "(sensitive)", "Plan: 188 to add (A: 93, B: 93, shared: 2)."}},
		{[]string{"plan", "--graph", "dot"}, []string{"digraph dualpeer {", `"cluster_a.cloud_networking.virtual_network" -> "cluster_a.vnet_peering.peering"`}},
		{[]string{"plan", "--graph", "mermaid"}, []string{"flowchart LR", "vm-myorg-cluster-b-dev-001"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := runConfigCLI(t, append(tt.args, specArgs...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
		})
	}
	if _, errOut, code := runConfigCLI(t, append([]string{"plan", "-o", "yaml"}, specArgs...)...); code == 0 || !strings.Contains(errOut, "json") {
		t.Errorf("unknown -o: exit %d, %s", code, errOut)
	}
}

func TestValidateVerb(t *testing.T) {
	if out, errOut, code := runConfigCLI(t, append([]string{"validate"}, specArgs...)...); code != 0 || !strings.Contains(out, "192.168.1.4") {
		t.Fatalf("spec example: exit %d\n%s%s", code, out, errOut)
	}
	if _, errOut, code := runConfigCLI(t, "validate", "-var", "environment=dev", "-var", "resource_prefix=myorg", "-var", "location=eastus2"); code != 0 {
		t.Fatalf("defaults: exit %d: %s", code, errOut)
	}
	_, errOut, code := runConfigCLI(t, "validate", "-var", "resource_prefix=9x", "-var=enterprise_broker_port=0",
		"-var", `cluster_b_virtual_network_config={address_space="10.1.0.0/16",subnet_address_prefix="10.1.1.0/24"}`)
	if code == 0 {
		t.Fatal("invalid configuration accepted")
	}
	for _, v := range []string{"environment", "location", "resource_prefix", "enterprise_broker_port", "cluster_b_virtual_network_config", "5 problem(s)"} {
		if !strings.Contains(errOut, v) {
			t.Errorf("errors lack %s:\n%s", v, errOut)
		}
	}
	_, errOut, code = runConfigCLI(t, "validate", "-var", "enviroment=dev")
	if code == 0 || !strings.Contains(errOut, `did you mean "environment"`) {
		t.Errorf("typo: exit %d: %s", code, errOut)
	}
}

func TestInitVerb(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dualpeer.tfvars")
	if _, errOut, code := runConfigCLI(t, "init", "--file", path); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	if _, errOut, code := runConfigCLI(t, "init", "--file", path); code == 0 || !strings.Contains(errOut, "--force") {
		t.Errorf("init must refuse to overwrite: exit %d %s", code, errOut)
	}
	if _, errOut, code := runConfigCLI(t, "init", "--file", path, "--force"); code != 0 {
		t.Errorf("--force: %s", errOut)
	}
	// The written file names the missing required variables, and validates once they are given.
	if _, errOut, code := runConfigCLI(t, "validate", "-var-file", path); code == 0 || !strings.Contains(errOut, path+":") {
		t.Errorf("init file without required values: exit %d %s", code, errOut)
	}
	if _, errOut, code := runConfigCLI(t, "validate", "-var-file", path, "-var", "environment=dev", "-var", "resource_prefix=myorg", "-var", "location=eastus2"); code != 0 {
		t.Errorf("init file + required: %s", errOut)
	}
}

func TestVersionVerb(t *testing.T) {
	out, _, code := runConfigCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "dualpeer ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestNormalizeArgs(t *testing.T) {
	in := []string{"plan", "-var", "a=b", "-var=c=d", "-var-file", "x.tfvars", "-var-file=y", "--var", "e=f", "-v", "-o", "json", "--", "-var"}
	want := []string{"plan", "--var", "a=b", "--var=c=d", "--var-file", "x.tfvars", "--var-file=y", "--var", "e=f", "-v", "-o", "json", "--", "-var"}
	if got := NormalizeArgs(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}

// TestPlanARMTemplate: `plan -o arm-template` is a subscription-scope deployment template with
// no key material in it.
func TestPlanARMTemplate(t *testing.T) {
	out, errOut, code := runConfigCLI(t, append([]string{"plan", "-o", "arm-template"}, specArgs...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var tpl map[string]any
	if err := json.Unmarshal([]byte(out), &tpl); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if s, _ := tpl["$schema"].(string); !strings.Contains(s, "subscriptionDeploymentTemplate.json") {
		t.Errorf("$schema = %q", s)
	}
	if rs, _ := tpl["resources"].([]any); len(rs) == 0 {
		t.Error("no resources")
	}
	if strings.Contains(out, "PRIVATE KEY") {
		t.Error("template contains a private key")
	}
}
