package blueprint

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// specVars are the spec's own example (the blueprint README's terraform plan command).
var specVars = []string{
	"environment=dev", "resource_prefix=myorg", "location=eastus2",
	"should_deploy_custom_scripts=true", "use_terraform_certificates=true",
	`cluster_a_virtual_network_config={address_space="192.168.1.0/24",subnet_address_prefix="192.168.1.0/28"}`,
	`cluster_b_virtual_network_config={address_space="192.168.2.0/24",subnet_address_prefix="192.168.2.0/28"}`,
}

func TestVariablesParse(t *testing.T) {
	vars := Variables()
	if registryErr != nil {
		t.Fatal(registryErr)
	}
	seen := map[string]bool{}
	def := Default()
	for _, v := range vars {
		if seen[v.Name] {
			t.Errorf("variable %q declared twice", v.Name)
		}
		seen[v.Name] = true
		if _, err := v.Get(def); err != nil {
			t.Errorf("default of %s: %v", v.Name, err)
		}
	}
	// Every variable of reference §1 (HEAD and a1808c1c), the spec and dualpeer.
	for _, name := range []string{
		"environment", "resource_prefix", "location", "instance",
		"use_existing_resource_group_a", "use_existing_resource_group_b", "resource_group_name_a", "resource_group_name_b",
		"cluster_a_virtual_network_config", "cluster_b_virtual_network_config",
		"cluster_a_subnet_address_prefixes_acr", "cluster_a_subnet_address_prefixes_aks", "cluster_a_subnet_address_prefixes_aks_pod",
		"cluster_b_subnet_address_prefixes_acr", "cluster_b_subnet_address_prefixes_aks", "cluster_b_subnet_address_prefixes_aks_pod",
		"aio_namespace", "cluster_admin_group_oid", "should_get_custom_locations_oid", "custom_locations_oid",
		"should_create_anonymous_broker_listener", "should_create_aks",
		"cluster_a_node_count", "cluster_b_node_count", "cluster_a_node_vm_size", "cluster_b_node_vm_size",
		"cluster_a_enable_auto_scaling", "cluster_b_enable_auto_scaling", "cluster_a_min_count", "cluster_a_max_count",
		"cluster_b_min_count", "cluster_b_max_count", "cluster_a_dns_prefix", "cluster_b_dns_prefix",
		"cluster_a_node_pools", "cluster_b_node_pools", "should_enable_private_endpoints",
		"should_enable_managed_outbound_access", "nat_gateway_idle_timeout_minutes", "nat_gateway_public_ip_count", "nat_gateway_zones",
		"aio_features", "should_deploy_resource_sync_rules", "should_enable_opc_ua_simulator", "namespaced_devices", "namespaced_assets",
		"should_create_azure_functions", "enterprise_broker_port", "enterprise_broker_tls_cert_secret_name",
		"enterprise_client_ca_configmap_name", "site_client_secret_name", "site_tls_ca_configmap_name", "external_certificates", "tags",
		"should_create_acr_private_endpoint", "asset_endpoint_profiles", "assets",
		"should_create_certificates", "use_terraform_certificates", "should_deploy_custom_scripts",
		"should_deploy_server_central_script", "should_deploy_client_technology_script",
		"vnet_peering_allow_virtual_network_access", "vnet_peering_allow_forwarded_traffic",
		"vnet_peering_allow_gateway_transit", "vnet_peering_use_remote_gateways",
	} {
		if !seen[name] {
			t.Errorf("variable %q missing from the registry", name)
		}
	}
}

func TestLoadSpecExample(t *testing.T) {
	c, err := Load(context.Background(), Default(), nil, specVars)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("spec example must validate: %v", err)
	}
	if c.ClusterAVirtualNetworkConfig.SubnetAddressPrefix != "192.168.1.0/28" || !c.ShouldDeployCustomScripts || !c.UseTerraformCertificates {
		t.Fatalf("not loaded: %+v", c)
	}
	if got := c.Names("a").VM; got != "vm-myorg-cluster-a-dev-001" {
		t.Errorf("VM A = %q", got)
	}
	if got := c.Names("b").VM; got != "vm-myorg-cluster-b-dev-001" {
		t.Errorf("VM B = %q", got)
	}
	if got := c.VMPrivateIP("a").String(); got != "192.168.1.4" {
		t.Errorf("VM IP A = %q", got)
	}
	if got := c.SourceOf("environment"); got != "-var #1" {
		t.Errorf("source = %q", got)
	}
}

func TestLoadUpstreamFiles(t *testing.T) {
	c, err := Load(context.Background(), Default(), []string{"testdata/upstream-head.tfvars", "testdata/upstream.tfvars.json"}, []string{"instance=002"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("upstream tfvars must validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"later file wins", c.Environment, "prod"},
		{"-var wins", c.Instance, "002"},
		{"alias", c.EnterpriseBrokerTLSCertSecretName, "broker-server-cert"},
		{"port from json", c.EnterpriseBrokerPort, 8883},
		{"cluster sizing", c.ClusterA.NodeCount, 2},
		{"cluster b vm size", c.ClusterB.NodeVMSize, "Standard_D4ds_v6"},
		{"node pool optional default", c.ClusterB.NodePools["extra"].EnableAutoScaling, false},
		{"node pool", c.ClusterB.NodePools["extra"].SubnetAddressPrefixes[0], "10.2.5.0/24"},
		{"feature", c.AIOFeatures["connectors"].Settings["preview"], "Enabled"},
		{"tags replaced", len(c.Tags), 1},
		{"vnet b", c.ClusterBVirtualNetworkConfig.AddressSpace, "10.20.0.0/16"},
		{"source line", c.SourceOf("resource_prefix"), "testdata/upstream.tfvars.json:3"},
		{"anon", c.ShouldCreateAnonymousBrokerListener, true},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: got %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if base := Default(); base.Environment != "" || base.EnterpriseBrokerPort != 28883 {
		t.Error("Load must not modify base")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tfvars")
	if err := os.WriteFile(bad, []byte("environment = \"dev\"\nresource_prefx = \"x\"\nenterprise_broker_port = \"high\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	syntax := filepath.Join(dir, "syntax.tfvars")
	if err := os.WriteFile(syntax, []byte("environment = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files []string
		vars  []string
		want  []string // substrings of the error
	}{
		{"unknown suggests", nil, []string{"enviroment=dev"}, []string{`"enviroment"`, `did you mean "environment"`, "-var #1"}},
		{"file unknown and wrong type", []string{bad}, nil, []string{"bad.tfvars:2", `did you mean "resource_prefix"`, "bad.tfvars:3", "enterprise_broker_port", "number"}},
		{"syntax", []string{syntax}, nil, []string{"syntax.tfvars:1"}},
		{"missing file", []string{filepath.Join(dir, "none.tfvars")}, nil, []string{"none.tfvars", "-var-file"}},
		{"extra attribute", nil, []string{`cluster_a_virtual_network_config={address_space="10.1.0.0/16",subnet_address_prefix="10.1.1.0/24",adress="x"}`}, []string{`attribute "adress" is not expected`, "cluster_a_virtual_network_config"}},
		{"missing attribute", nil, []string{`cluster_a_virtual_network_config={address_space="10.1.0.0/16"}`}, []string{"subnet_address_prefix", "required"}},
		{"bool literal", nil, []string{"should_create_aks=maybe"}, []string{"should_create_aks", "bool"}},
		{"no equals", nil, []string{"environment"}, []string{"name=value"}},
		{"bad hcl", nil, []string{"tags={a="}, []string{"tags", "HCL"}},
		{"null not allowed", nil, []string{"nat_gateway_zones=null"}, []string{"cannot be null"}},
		{"sensitive not echoed", nil, []string{`external_certificates={server_root_ca_cert="SECRETKEY"}`}, []string{"external_certificates", "(sensitive)"}},
		{"variable reference", nil, []string{"tags=var.x"}, []string{"literal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(context.Background(), Default(), tt.files, tt.vars)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "SECRETKEY") {
				t.Errorf("error leaks a sensitive value: %v", err)
			}
		})
	}
}

func TestLoadNullAndAliasesAndLists(t *testing.T) {
	c, err := Load(context.Background(), QuickStart(), nil, []string{"tags=null", "resource_group_name_a=my-rg", `cluster_a_subnet_address_prefixes_aks=["10.1.8.0/24"]`, `namespaced_devices=[{name="d1", endpoints={}}]`})
	if err != nil {
		t.Fatal(err)
	}
	if c.Tags == nil || len(c.Tags) != 0 {
		t.Errorf("tags = %v", c.Tags)
	}
	if c.Names("a").ResourceGroup != "my-rg" || c.Names("b").ResourceGroup != "rg-dp-cluster-b-dev-001" {
		t.Errorf("rg override: %q %q", c.Names("a").ResourceGroup, c.Names("b").ResourceGroup)
	}
	if c.ClusterASubnetPrefixesAKS[0] != "10.1.8.0/24" || len(c.NamespacedDevices) != 1 || c.NamespacedDevices[0]["name"] != "d1" {
		t.Errorf("lists: %v %v", c.ClusterASubnetPrefixesAKS, c.NamespacedDevices)
	}
}
