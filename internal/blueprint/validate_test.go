package blueprint

import (
	"context"
	"strings"
	"testing"
)

func validBase(t *testing.T) *Config {
	t.Helper()
	c, err := Load(context.Background(), Default(), nil, []string{"environment=dev", "resource_prefix=myorg", "location=eastus2"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sp(s string) *string { return &s }
func ip(i int) *int       { return &i }

func TestValidateValid(t *testing.T) {
	tests := map[string][]string{
		"defaults with required": {"environment=dev", "resource_prefix=myorg", "location=eastus2"},
		"spec example":           specVars,
		"aks and private endpoints": {"environment=dev", "resource_prefix=myorg", "location=eastus2", "should_create_aks=true",
			"should_enable_private_endpoints=true", "cluster_a_enable_auto_scaling=true", "cluster_a_min_count=1", "cluster_a_max_count=3"},
		"terraform certs keyvault mode": {"environment=dev", "resource_prefix=myorg", "location=eastus2", "should_create_certificates=false"},
		"long prefix shortened":         {"environment=prod", "resource_prefix=contoso-manufacturing", "location=eastus2", "instance=042"},
		"quickstart":                    nil,
	}
	for name, vars := range tests {
		t.Run(name, func(t *testing.T) {
			base := Default()
			if vars == nil {
				base = QuickStart()
			}
			c, err := Load(context.Background(), base, nil, vars)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("want valid, got:\n%v", err)
			}
		})
	}
}

func TestValidateInvalid(t *testing.T) {
	pem := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	fullExt := func() *ExternalCertificates {
		return &ExternalCertificates{
			ServerRootCACert: pem, ServerRootCAKey: pem, ServerIntermediateCACert: pem, ServerIntermediateCAKey: pem,
			ServerLeafCert: pem, ServerLeafKey: pem, ClientRootCACert: pem, ClientRootCAKey: pem,
			ClientIntermediateCACert: pem, ClientIntermediateCAKey: pem, ClientLeafCert: pem, ClientLeafKey: pem,
		}
	}
	vnetA := func(c *Config, space, sub string) { c.ClusterAVirtualNetworkConfig = VirtualNetworkConfig{space, sub} }
	vnetB := func(c *Config, space, sub string) { c.ClusterBVirtualNetworkConfig = VirtualNetworkConfig{space, sub} }
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantVar string
	}{
		// Required and core.
		{"environment missing", func(c *Config) { c.Environment = "" }, "environment"},
		{"environment spaces", func(c *Config) { c.Environment = "my env" }, "environment"},
		{"environment underscore", func(c *Config) { c.Environment = "dev_1" }, "environment"},
		{"environment trailing hyphen", func(c *Config) { c.Environment = "dev-" }, "environment"},
		{"prefix missing", func(c *Config) { c.ResourcePrefix = "" }, "resource_prefix"},
		{"prefix starts with digit", func(c *Config) { c.ResourcePrefix = "1org" }, "resource_prefix"},
		{"prefix double hyphen", func(c *Config) { c.ResourcePrefix = "my--org" }, "resource_prefix"},
		{"prefix trailing hyphen", func(c *Config) { c.ResourcePrefix = "myorg-" }, "resource_prefix"},
		{"prefix underscore", func(c *Config) { c.ResourcePrefix = "my_org" }, "resource_prefix"},
		{"prefix dot", func(c *Config) { c.ResourcePrefix = "my.org" }, "resource_prefix"},
		{"prefix too long for vm", func(c *Config) { c.ResourcePrefix = strings.Repeat("a", 60) }, "resource_prefix"},
		{"prefix too long for event hubs", func(c *Config) { c.ResourcePrefix = strings.Repeat("b", 30) }, "resource_prefix"},
		{"location missing", func(c *Config) { c.Location = "" }, "location"},
		{"location punctuation", func(c *Config) { c.Location = "east/us" }, "location"},
		{"instance empty", func(c *Config) { c.Instance = "" }, "instance"},
		{"instance punctuation", func(c *Config) { c.Instance = "0.1" }, "instance"},
		{"rg a empty", func(c *Config) { c.ResourceGroupNameA = sp("") }, "resource_group_name_a"},
		{"rg b too long", func(c *Config) { c.ResourceGroupNameB = sp(strings.Repeat("r", 91)) }, "resource_group_name_b"},
		{"rg a trailing dot", func(c *Config) { c.ResourceGroupNameA = sp("rg.") }, "resource_group_name_a"},
		{"rg b bad char", func(c *Config) { c.ResourceGroupNameB = sp("rg#1") }, "resource_group_name_b"},

		// Networks.
		{"a space not cidr", func(c *Config) { vnetA(c, "10.1.0.0", "10.1.1.0/24") }, "cluster_a_virtual_network_config"},
		{"a space garbage", func(c *Config) { vnetA(c, "banana", "10.1.1.0/24") }, "cluster_a_virtual_network_config"},
		{"a space ipv6", func(c *Config) { vnetA(c, "fd00::/48", "10.1.1.0/24") }, "cluster_a_virtual_network_config"},
		{"a space host bits", func(c *Config) { vnetA(c, "10.1.0.1/16", "10.1.1.0/24") }, "cluster_a_virtual_network_config"},
		{"a space bad mask", func(c *Config) { vnetA(c, "10.1.0.0/33", "10.1.1.0/24") }, "cluster_a_virtual_network_config"},
		{"a subnet host bits", func(c *Config) { vnetA(c, "10.1.0.0/16", "10.1.1.5/24") }, "cluster_a_virtual_network_config"},
		{"a subnet outside", func(c *Config) { vnetA(c, "10.1.0.0/16", "10.9.1.0/24") }, "cluster_a_virtual_network_config"},
		{"a subnet larger than space", func(c *Config) { vnetA(c, "10.1.0.0/16", "10.0.0.0/8") }, "cluster_a_virtual_network_config"},
		{"a subnet too small /30", func(c *Config) { vnetA(c, "10.1.0.0/16", "10.1.1.0/30") }, "cluster_a_virtual_network_config"},
		{"a subnet /32", func(c *Config) { vnetA(c, "10.1.0.0/16", "10.1.1.1/32") }, "cluster_a_virtual_network_config"},
		{"a subnet ipv6", func(c *Config) { vnetA(c, "10.1.0.0/16", "fd00::/64") }, "cluster_a_virtual_network_config"},
		{"a subnet empty", func(c *Config) { vnetA(c, "10.1.0.0/16", "") }, "cluster_a_virtual_network_config"},
		{"b space not cidr", func(c *Config) { vnetB(c, "10.2.0.0", "10.2.1.0/24") }, "cluster_b_virtual_network_config"},
		{"b space host bits", func(c *Config) { vnetB(c, "10.2.3.4/16", "10.2.1.0/24") }, "cluster_b_virtual_network_config"},
		{"b subnet outside", func(c *Config) { vnetB(c, "10.2.0.0/16", "10.3.1.0/24") }, "cluster_b_virtual_network_config"},
		{"b subnet too small", func(c *Config) { vnetB(c, "10.2.0.0/16", "10.2.1.0/30") }, "cluster_b_virtual_network_config"},
		{"b space ipv6", func(c *Config) { vnetB(c, "2001:db8::/32", "10.2.1.0/24") }, "cluster_b_virtual_network_config"},
		{"a and b identical", func(c *Config) { vnetB(c, "10.1.0.0/16", "10.1.1.0/24") }, "cluster_b_virtual_network_config"},
		{"b inside a", func(c *Config) { vnetB(c, "10.1.128.0/17", "10.1.129.0/24") }, "cluster_b_virtual_network_config"},
		{"a inside b", func(c *Config) { vnetB(c, "10.0.0.0/8", "10.2.1.0/24") }, "cluster_b_virtual_network_config"},

		// ACR subnets (only with private endpoints).
		{"acr a outside vnet", func(c *Config) {
			c.ShouldEnablePrivateEndpoints = true
			c.ClusterASubnetPrefixesACR = []string{"10.9.2.0/24"}
		}, "cluster_a_subnet_address_prefixes_acr"},
		{"acr a overlaps main subnet", func(c *Config) {
			c.ShouldEnablePrivateEndpoints = true
			c.ClusterASubnetPrefixesACR = []string{"10.1.1.0/25"}
		}, "cluster_a_subnet_address_prefixes_acr"},
		{"acr b host bits", func(c *Config) {
			c.ShouldCreateACRPrivateEndpoint = true
			c.ClusterBSubnetPrefixesACR = []string{"10.2.2.1/24"}
		}, "cluster_b_subnet_address_prefixes_acr"},
		{"acr b not cidr", func(c *Config) { c.ShouldCreateACRPrivateEndpoint = true; c.ClusterBSubnetPrefixesACR = []string{"x"} }, "cluster_b_subnet_address_prefixes_acr"},
		{"acr a empty list", func(c *Config) { c.ShouldEnablePrivateEndpoints = true; c.ClusterASubnetPrefixesACR = nil }, "cluster_a_subnet_address_prefixes_acr"},
		{"acr b too small", func(c *Config) {
			c.ShouldEnablePrivateEndpoints = true
			c.ClusterBSubnetPrefixesACR = []string{"10.2.2.0/30"}
		}, "cluster_b_subnet_address_prefixes_acr"},
		{"acr b ipv6", func(c *Config) {
			c.ShouldEnablePrivateEndpoints = true
			c.ClusterBSubnetPrefixesACR = []string{"fd00::/64"}
		}, "cluster_b_subnet_address_prefixes_acr"},

		// AKS subnets (only with should_create_aks).
		{"aks a outside", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterASubnetPrefixesAKS = []string{"10.2.3.0/24"} }, "cluster_a_subnet_address_prefixes_aks"},
		{"aks a overlaps main", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterASubnetPrefixesAKS = []string{"10.1.0.0/23"} }, "cluster_a_subnet_address_prefixes_aks"},
		{"aks pod a overlaps aks", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterASubnetPrefixesAKSPod = []string{"10.1.3.0/25"} }, "cluster_a_subnet_address_prefixes_aks_pod"},
		{"aks pod b outside", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterBSubnetPrefixesAKSPod = []string{"172.16.0.0/24"} }, "cluster_b_subnet_address_prefixes_aks_pod"},
		{"aks b empty", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterBSubnetPrefixesAKS = []string{} }, "cluster_b_subnet_address_prefixes_aks"},
		{"aks b not cidr", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterBSubnetPrefixesAKS = []string{"10.2.3.0"} }, "cluster_b_subnet_address_prefixes_aks"},
		{"aks pod a overlaps acr when both on", func(c *Config) {
			c.ShouldCreateAKS, c.ShouldEnablePrivateEndpoints = true, true
			c.ClusterASubnetPrefixesAKSPod = []string{"10.1.2.0/24"}
		}, "cluster_a_subnet_address_prefixes_aks_pod"},
		{"aks a node count", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterA.NodeCount = 0 }, "cluster_a_node_count"},
		{"aks b vm size", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterB.NodeVMSize = "" }, "cluster_b_node_vm_size"},
		{"aks a autoscale no min", func(c *Config) {
			c.ShouldCreateAKS = true
			c.ClusterA.EnableAutoScaling = true
			c.ClusterA.MaxCount = ip(3)
		}, "cluster_a_min_count"},
		{"aks b autoscale no max", func(c *Config) {
			c.ShouldCreateAKS = true
			c.ClusterB.EnableAutoScaling = true
			c.ClusterB.MinCount = ip(3)
		}, "cluster_b_max_count"},
		{"aks a min > max", func(c *Config) {
			c.ShouldCreateAKS = true
			c.ClusterA.EnableAutoScaling, c.ClusterA.MinCount, c.ClusterA.MaxCount = true, ip(5), ip(2)
		}, "cluster_a_min_count"},
		{"aks b dns prefix", func(c *Config) { c.ShouldCreateAKS = true; c.ClusterB.DNSPrefix = sp("-bad-") }, "cluster_b_dns_prefix"},
		{"aks a node pool name", func(c *Config) {
			c.ShouldCreateAKS = true
			c.ClusterA.NodePools = map[string]NodePool{"Pool_1": {NodeCount: 1, VMSize: "Standard_D4ds_v6", SubnetAddressPrefixes: []string{"10.1.5.0/24"}, PodSubnetAddressPrefixes: []string{"10.1.6.0/24"}}}
		}, "cluster_a_node_pools"},
		{"aks b node pool subnet outside", func(c *Config) {
			c.ShouldCreateAKS = true
			c.ClusterB.NodePools = map[string]NodePool{"extra": {NodeCount: 1, VMSize: "Standard_D4ds_v6", SubnetAddressPrefixes: []string{"10.1.5.0/24"}, PodSubnetAddressPrefixes: []string{"10.2.6.0/24"}}}
		}, "cluster_b_node_pools"},
		{"aks b node pool overlaps aks", func(c *Config) {
			c.ShouldCreateAKS = true
			c.ClusterB.NodePools = map[string]NodePool{"extra": {NodeCount: 1, VMSize: "Standard_D4ds_v6", SubnetAddressPrefixes: []string{"10.2.3.0/24"}, PodSubnetAddressPrefixes: []string{"10.2.6.0/24"}}}
		}, "cluster_b_node_pools"},
		{"aks a node pool vm size", func(c *Config) {
			c.ShouldCreateAKS = true
			c.ClusterA.NodePools = map[string]NodePool{"extra": {NodeCount: 1, VMSize: "big machine", SubnetAddressPrefixes: []string{"10.1.5.0/24"}, PodSubnetAddressPrefixes: []string{"10.1.6.0/24"}}}
		}, "cluster_a_node_pools"},

		// Shared.
		{"aio namespace upper", func(c *Config) { c.AIONamespace = "Azure-IoT" }, "aio_namespace"},
		{"aio namespace empty", func(c *Config) { c.AIONamespace = "" }, "aio_namespace"},
		{"admin group oid", func(c *Config) { c.ClusterAdminGroupOID = sp("my-group") }, "cluster_admin_group_oid"},
		{"custom locations oid", func(c *Config) { c.CustomLocationsOID = sp("1234") }, "custom_locations_oid"},
		{"nat idle low", func(c *Config) { c.NatGatewayIdleTimeoutMinutes = 3 }, "nat_gateway_idle_timeout_minutes"},
		{"nat idle high", func(c *Config) { c.NatGatewayIdleTimeoutMinutes = 241 }, "nat_gateway_idle_timeout_minutes"},
		{"nat ips zero", func(c *Config) { c.NatGatewayPublicIPCount = 0 }, "nat_gateway_public_ip_count"},
		{"nat ips 17", func(c *Config) { c.NatGatewayPublicIPCount = 17 }, "nat_gateway_public_ip_count"},
		{"nat zone 4", func(c *Config) { c.NatGatewayZones = []string{"4"} }, "nat_gateway_zones"},
		{"nat two zones", func(c *Config) { c.NatGatewayZones = []string{"1", "2"} }, "nat_gateway_zones"},
		{"aio feature mode", func(c *Config) { c.AIOFeatures = map[string]AIOFeature{"connectors": {Mode: sp("stable")}} }, "aio_features"},
		{"aio feature mode other", func(c *Config) { c.AIOFeatures = map[string]AIOFeature{"mqttBroker": {Mode: sp("Beta")}} }, "aio_features"},
		{"aio feature setting", func(c *Config) {
			c.AIOFeatures = map[string]AIOFeature{"connectors": {Settings: map[string]string{"preview": "On"}}}
		}, "aio_features"},
		{"device without name", func(c *Config) { c.NamespacedDevices = []map[string]any{{"enabled": true}} }, "namespaced_devices"},
		{"device duplicate", func(c *Config) { c.NamespacedDevices = []map[string]any{{"name": "d"}, {"name": "d"}} }, "namespaced_devices"},
		{"asset without device", func(c *Config) { c.NamespacedAssets = []map[string]any{{"name": "oven"}} }, "namespaced_assets"},
		{"asset action type", func(c *Config) {
			c.NamespacedAssets = []map[string]any{{"name": "oven", "device_ref": map[string]any{"device_name": "d"},
				"management_groups": []any{map[string]any{"name": "g", "actions": []any{map[string]any{"name": "a", "action_type": "Delete"}}}}}}
		}, "namespaced_assets"},
		{"legacy asset endpoint without name", func(c *Config) { c.AssetEndpointProfiles = []map[string]any{{"target_address": "opc.tcp://x"}} }, "asset_endpoint_profiles"},
		{"legacy asset without name", func(c *Config) { c.Assets = []map[string]any{{"name": ""}} }, "assets"},

		// MQTT link.
		{"port zero", func(c *Config) { c.EnterpriseBrokerPort = 0 }, "enterprise_broker_port"},
		{"port negative", func(c *Config) { c.EnterpriseBrokerPort = -1 }, "enterprise_broker_port"},
		{"port too high", func(c *Config) { c.EnterpriseBrokerPort = 65536 }, "enterprise_broker_port"},
		{"port internal listener", func(c *Config) { c.EnterpriseBrokerPort = 18883 }, "enterprise_broker_port"},
		{"port anon listener", func(c *Config) { c.EnterpriseBrokerPort = 18884; c.ShouldCreateAnonymousBrokerListener = true }, "enterprise_broker_port"},
		{"tls secret upper", func(c *Config) { c.EnterpriseBrokerTLSCertSecretName = "Broker-TLS" }, "enterprise_broker_tls_cert_secret_name"},
		{"client ca empty", func(c *Config) { c.EnterpriseClientCAConfigMapName = "" }, "enterprise_client_ca_configmap_name"},
		{"client secret underscore", func(c *Config) { c.SiteClientSecretName = "client_secret" }, "site_client_secret_name"},
		{"tls ca configmap leading dash", func(c *Config) { c.SiteTLSCAConfigMapName = "-tls" }, "site_tls_ca_configmap_name"},

		// Certificates.
		{"terraform certs without creation", func(c *Config) { c.UseTerraformCertificates = true; c.ShouldCreateCertificates = false }, "use_terraform_certificates"},
		{"external with step", func(c *Config) { c.ExternalCertificates = fullExt() }, "external_certificates"},
		{"external not pem", func(c *Config) {
			c.UseTerraformCertificates = true
			e := fullExt()
			e.ClientLeafKey = "not a key"
			c.ExternalCertificates = e
		}, "external_certificates"},
		{"external empty in keyvault mode", func(c *Config) { c.ShouldCreateCertificates = false; c.ExternalCertificates = &ExternalCertificates{} }, "external_certificates"},

		// Peering.
		{"gateway transit", func(c *Config) { c.VnetPeeringAllowGatewayTransit = true }, "vnet_peering_allow_gateway_transit"},
		{"remote gateways", func(c *Config) { c.VnetPeeringUseRemoteGateways = true }, "vnet_peering_use_remote_gateways"},

		// Tags.
		{"tag reserved", func(c *Config) { c.Tags = map[string]string{"azure-owner": "x"} }, "tags"},
		{"tag bad char", func(c *Config) { c.Tags = map[string]string{"a/b": "x"} }, "tags"},
		{"tag empty key", func(c *Config) { c.Tags = map[string]string{"": "x"} }, "tags"},
		{"tag value long", func(c *Config) { c.Tags = map[string]string{"k": strings.Repeat("v", 257)} }, "tags"},
		{"tag key long", func(c *Config) { c.Tags = map[string]string{strings.Repeat("k", 513): "v"} }, "tags"},
		{"too many tags", func(c *Config) {
			c.Tags = map[string]string{}
			for i := 0; i < 47; i++ {
				c.Tags["t"+itoa(i)] = "v"
			}
		}, "tags"},
		{"microsoft tag", func(c *Config) { c.Tags = map[string]string{"Microsoft.x": "v"} }, "tags"},
	}
	if len(tests) < 80 {
		t.Fatalf("only %d invalid cases; the issue asks for at least 80", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validBase(t)
			tt.mutate(c)
			err := c.Validate()
			if err == nil {
				t.Fatalf("want an error naming %s", tt.wantVar)
			}
			var named bool
			for _, fe := range FieldErrors(err) {
				if fe.Variable == tt.wantVar {
					named = true
				}
				if fe.Rule == "" || fe.Fix == "" {
					t.Errorf("error without rule or fix: %v", fe)
				}
			}
			if !named {
				t.Errorf("no error names %s; got:\n%v", tt.wantVar, err)
			}
			if strings.Contains(err.Error(), "MIIB") {
				t.Errorf("error leaks certificate material: %v", err)
			}
		})
	}
}

// Every problem is reported in one run, each with its source line.
func TestValidateReportsAll(t *testing.T) {
	c, err := Load(context.Background(), Default(), nil, []string{"resource_prefix=1bad", "enterprise_broker_port=0", "vnet_peering_use_remote_gateways=true"})
	if err != nil {
		t.Fatal(err)
	}
	errs := FieldErrors(c.Validate())
	got := map[string]string{}
	for _, e := range errs {
		got[e.Variable] = e.Source
	}
	for v, src := range map[string]string{"environment": "", "location": "", "resource_prefix": "-var #1", "enterprise_broker_port": "-var #2", "vnet_peering_use_remote_gateways": "-var #3"} {
		s, ok := got[v]
		if !ok {
			t.Errorf("no error for %s", v)
		} else if s != src {
			t.Errorf("%s: source %q, want %q", v, s, src)
		}
	}
}

// The features a subnet belongs to decide whether it is checked.
func TestValidateSubnetsOnlyWhenUsed(t *testing.T) {
	c := validBase(t)
	c.ClusterASubnetPrefixesACR = []string{"garbage"}
	c.ClusterBSubnetPrefixesAKS = []string{"10.1.1.0/24"}
	if err := c.Validate(); err != nil {
		t.Fatalf("unused subnets must not be validated: %v", err)
	}
}
