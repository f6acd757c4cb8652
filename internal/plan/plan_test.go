package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	requiredVars = []string{"environment=dev", "resource_prefix=myorg", "location=eastus2"}
	specVars     = append(append([]string{}, requiredVars...),
		"should_deploy_custom_scripts=true", "use_terraform_certificates=true",
		`cluster_a_virtual_network_config={address_space="192.168.1.0/24",subnet_address_prefix="192.168.1.0/28"}`,
		`cluster_b_virtual_network_config={address_space="192.168.2.0/24",subnet_address_prefix="192.168.2.0/28"}`)
)

func build(t *testing.T, vars []string) *Plan {
	t.Helper()
	cfg, err := blueprint.Load(context.Background(), blueprint.Default(), nil, vars)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	p, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/plan -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; if the change is intended run go test ./internal/plan -update and review the diff", path)
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars []string
	}{{"defaults", requiredVars}, {"spec-example", specVars}} {
		t.Run(tc.name, func(t *testing.T) {
			p := build(t, tc.vars)
			var text, js bytes.Buffer
			if err := p.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name+".txt", text.Bytes())
			golden(t, tc.name+".json", js.Bytes())
		})
	}
}

func TestSpecExample(t *testing.T) {
	p := build(t, specVars)
	for _, want := range []struct{ addr, name string }{
		{"cluster_a.cloud_vm_host.virtual_machine", "vm-myorg-cluster-a-dev-001"},
		{"cluster_b.cloud_vm_host.virtual_machine", "vm-myorg-cluster-b-dev-001"},
		{"cluster_a.vnet_peering.peering", "peer-cluster-a-to-cluster-b"},
		{"cluster_b.vnet_peering.peering", "peer-cluster-b-to-cluster-a"},
		{"cluster_a.custom_scripts.server_central", "server-central"},
		{"cluster_b.custom_scripts.client_technology", "client-technology"},
		{"cluster_a.mqtt_configuration.broker_authentication", "cert-auth"},
		{"cluster_a.mqtt_configuration.broker_listener", "default-loadbalancer"},
		{"cluster_b.mqtt_configuration.dataflow_endpoint", "mqtt-cert-auth"},
		{"cluster_b.mqtt_configuration.dataflow", "client-to-server-cert-auth"},
	} {
		r := p.Get(want.addr)
		if r == nil {
			t.Errorf("missing %s", want.addr)
			continue
		}
		if r.Name != want.name {
			t.Errorf("%s name %q, want %q", want.addr, r.Name, want.name)
		}
	}
	for _, addr := range []string{"cluster_a.vnet_peering.peering", "cluster_b.vnet_peering.peering"} {
		r := p.Get(addr)
		for k, want := range map[string]bool{"allow_virtual_network_access": true, "allow_forwarded_traffic": true, "allow_gateway_transit": false, "use_remote_gateways": false} {
			if got := r.Attributes[k].Value; got != want {
				t.Errorf("%s %s = %v, want %v", addr, k, got, want)
			}
		}
	}
	cert := p.Get("shared.certificates.server")
	if cert == nil || cert.Type != TypeCertificate || cert.Cluster != ClusterShared {
		t.Fatalf("server certificate: %+v", cert)
	}
	if v := cert.Attributes["server_ip_san"]; !v.Computed || v.Predicted != "192.168.1.4" {
		t.Errorf("server IP SAN = %+v, want predicted 192.168.1.4", v)
	}
	if v := p.Get("cluster_b.mqtt_configuration.dataflow_endpoint").Attributes["host"]; v.Predicted != "192.168.1.4:28883" {
		t.Errorf("endpoint host = %+v", v)
	}
	if v := p.Get("cluster_a.cloud_vm_host.network_interface").Attributes["private_ip_address"]; v.Predicted != "192.168.1.4" {
		t.Errorf("NIC IP = %+v", v)
	}
	// 8 secrets in each vault.
	for _, cl := range []string{"cluster_a", "cluster_b"} {
		n := 0
		for _, r := range p.Resources {
			if strings.HasPrefix(r.Address, cl+".key_vault_publisher.") {
				n++
				if v := r.Attributes["value"]; !v.Sensitive || v.Value != nil {
					t.Errorf("%s value not sensitive", r.Address)
				}
			}
		}
		if n != 8 {
			t.Errorf("%s: %d key vault secrets, want 8", cl, n)
		}
	}
	if p.Get("cluster_a.edge_iot_ops.broker_listener_anonymous") != nil {
		t.Error("default-anon must only exist with should_create_anonymous_broker_listener")
	}
	if err := p.CheckAcyclic(); err != nil {
		t.Fatal(err)
	}
}

func TestOrderIsTopologicalAndStable(t *testing.T) {
	p1, p2 := build(t, specVars), build(t, specVars)
	pos := map[string]int{}
	for i, r := range p1.Resources {
		pos[r.Address] = i
		if p2.Resources[i].Address != r.Address {
			t.Fatalf("order differs at %d: %s vs %s", i, r.Address, p2.Resources[i].Address)
		}
	}
	for _, r := range p1.Resources {
		for _, d := range r.DependsOn {
			if pos[d] >= pos[r.Address] {
				t.Errorf("%s comes before its dependency %s", r.Address, d)
			}
		}
		if r.ID == "" || r.Type == "" || r.APIVersion == "" || r.Name == "" || r.Module == "" {
			t.Errorf("incomplete resource %+v", r)
		}
		if !r.Local.Supported && !strings.HasPrefix(r.Local.Reason, "cloud only: ") {
			t.Errorf("%s: unsupported locally without a reason", r.Address)
		}
	}
}

func TestCycleDetected(t *testing.T) {
	rs := []*Resource{{Address: "x", DependsOn: []string{"y"}}, {Address: "y", DependsOn: []string{"z"}}, {Address: "z", DependsOn: []string{"x"}}, {Address: "w"}}
	_, err := topoSort(rs)
	if err == nil || !strings.Contains(err.Error(), "cycle among x, y, z") {
		t.Fatalf("want a cycle error, got %v", err)
	}
	_, err = topoSort([]*Resource{{Address: "x", DependsOn: []string{"nope"}}})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("want a missing dependency error, got %v", err)
	}
}

func TestOptionalResources(t *testing.T) {
	tests := []struct {
		name    string
		vars    []string
		present []string
		absent  []string
	}{
		{"defaults", nil, []string{"cluster_a.cloud_networking.nat_gateway", "shared.certificates.client"},
			[]string{"cluster_a.custom_scripts.server_central", "cluster_a.cloud_kubernetes.aks", "cluster_a.cloud_acr.subnet", "cluster_a.edge_iot_ops.broker_listener_anonymous"}},
		{"aks and endpoints", []string{"should_create_aks=true", "should_enable_private_endpoints=true", "should_create_anonymous_broker_listener=true"},
			[]string{"cluster_b.cloud_kubernetes.aks", "cluster_a.cloud_acr.subnet", "cluster_a.cloud_acr.acr_private_endpoint", "cluster_b.edge_iot_ops.broker_listener_anonymous"}, nil},
		{"keyvault mode", []string{"should_create_certificates=false"}, nil, []string{"shared.certificates.server", "cluster_a.key_vault_publisher.secret_server-leaf-ca-key"}},
		{"one script", []string{"should_deploy_client_technology_script=true"}, []string{"cluster_b.custom_scripts.client_technology"}, []string{"cluster_a.custom_scripts.server_central"}},
		{"no nat", []string{"should_enable_managed_outbound_access=false"}, nil, []string{"cluster_a.cloud_networking.nat_gateway", "cluster_a.cloud_networking.nat_public_ip_1"}},
		{"existing rg", []string{"use_existing_resource_group_a=true", "resource_group_name_a=shared-rg"}, []string{"cluster_a.cloud_resource_group.resource_group"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := build(t, append(append([]string{}, requiredVars...), tt.vars...))
			for _, a := range tt.present {
				if p.Get(a) == nil {
					t.Errorf("missing %s", a)
				}
			}
			for _, a := range tt.absent {
				if p.Get(a) != nil {
					t.Errorf("unexpected %s", a)
				}
			}
			if err := p.CheckAcyclic(); err != nil {
				t.Error(err)
			}
		})
	}
	p := build(t, append(append([]string{}, requiredVars...), "use_existing_resource_group_a=true", "resource_group_name_a=shared-rg"))
	if r := p.Get("cluster_a.cloud_resource_group.resource_group"); r.Action != ActionRead || r.Name != "shared-rg" {
		t.Errorf("existing RG: %+v", r)
	}
	if s := p.Summary(); s.Read != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestJSONAndSensitive(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\nTOPSECRETKEYMATERIAL\n-----END PRIVATE KEY-----"
	cfg, err := blueprint.Load(context.Background(), blueprint.Default(), nil, append(append([]string{}, requiredVars...), "use_terraform_certificates=true"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ExternalCertificates = &blueprint.ExternalCertificates{
		ServerRootCACert: pem, ServerRootCAKey: pem, ServerIntermediateCACert: pem, ServerIntermediateCAKey: pem, ServerLeafCert: pem, ServerLeafKey: pem,
		ClientRootCACert: pem, ClientRootCAKey: pem, ClientIntermediateCACert: pem, ClientIntermediateCAKey: pem, ClientLeafCert: pem, ClientLeafKey: pem,
	}
	p, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var js, text, dot, mm bytes.Buffer
	for _, f := range []func() error{func() error { return p.WriteJSON(&js) }, func() error { return p.WriteText(&text) },
		func() error { return p.WriteDOT(&dot) }, func() error { return p.WriteMermaid(&mm) }} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	for name, out := range map[string]string{"json": js.String(), "text": text.String(), "dot": dot.String(), "mermaid": mm.String()} {
		if strings.Contains(out, "TOPSECRET") {
			t.Errorf("%s output leaks key material", name)
		}
	}
	var doc struct {
		FormatVersion string `json:"format_version"`
		Summary       Summary
		Resources     []map[string]any
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.FormatVersion != FormatVersion || doc.Summary.Add != len(doc.Resources) || doc.Summary.A+doc.Summary.B+doc.Summary.Shared != doc.Summary.Add {
		t.Errorf("json header: %+v (%d resources)", doc, len(doc.Resources))
	}
	if !strings.Contains(text.String(), "(sensitive)") || !strings.Contains(text.String(), "Plan: ") {
		t.Error("text view lacks (sensitive) or the summary")
	}
	if !strings.HasPrefix(dot.String(), "digraph dualpeer {") || !strings.HasPrefix(mm.String(), "flowchart LR") {
		t.Error("graph headers")
	}
	ws := p.WithSubscription("11111111-2222-3333-4444-555555555555")
	if strings.Contains(ws.Resources[0].ID, blueprint.SubscriptionPlaceholder) || !strings.Contains(ws.Resources[0].ID, "11111111-2222") {
		t.Errorf("WithSubscription: %s", ws.Resources[0].ID)
	}
	if !strings.Contains(p.Resources[0].ID, blueprint.SubscriptionPlaceholder) {
		t.Error("WithSubscription modified the original plan")
	}
}

func BenchmarkBuild(b *testing.B) {
	cfg, err := blueprint.Load(context.Background(), blueprint.Default(), nil, specVars)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := Build(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
