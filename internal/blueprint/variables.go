package blueprint

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// Variable describes one input variable of the blueprint: its name as Terraform spells it, its
// type constraint (the same HCL type expression as the blueprint's variables.tf), and where its
// value lives in Config. The registry is the single place that knows the mapping, so loading,
// `dualpeer init` and the docs can never disagree.
type Variable struct {
	Name        string
	TypeExpr    string   // HCL type constraint, e.g. `object({address_space=string, subnet_address_prefix=string})`
	Type        cty.Type // TypeExpr parsed
	Description string
	Sensitive   bool
	Required    bool     // no default: must be given (environment, resource_prefix, location)
	Aliases     []string // other names that load into the same field (e.g. upstream renames)
	Group       string   // for `dualpeer init`: which section the variable belongs to
	Origin      string   // which blueprint version declares it: "spec", "HEAD", "a1808c1c", "dualpeer"…

	defaults *typeexpr.Defaults
	field    func(c *Config) any // pointer to the Config field holding the value
}

// nullable reports whether null is a legal value (the Go field is a pointer, map or slice).
func (v Variable) nullable(c *Config) bool {
	switch v.field(c).(type) {
	case **string, **int, **ExternalCertificates, *map[string]AIOFeature, *map[string]NodePool, *[]map[string]any:
		return true
	}
	return false
}

// Get returns the variable's current value in c as a cty value of the declared type.
func (v Variable) Get(c *Config) (cty.Value, error) {
	b, err := json.Marshal(v.field(c))
	if err != nil {
		return cty.NilVal, fmt.Errorf("variable %q: encode: %w", v.Name, err)
	}
	ty := v.Type
	if ty == cty.DynamicPseudoType {
		ty, err = ctyjson.ImpliedType(b)
		if err != nil {
			return cty.NilVal, fmt.Errorf("variable %q: encode: %w", v.Name, err)
		}
	}
	val, err := ctyjson.Unmarshal(b, ty)
	if err != nil {
		return cty.NilVal, fmt.Errorf("variable %q: encode: %w", v.Name, err)
	}
	return val, nil
}

// set stores an already type-converted value into c.
func (v Variable) set(c *Config, val cty.Value) error {
	dst := v.field(c)
	if val.IsNull() {
		// Terraform's nullable=false variables (tags) fall back to the default on null; the others
		// that are not pointers cannot hold null, which the caller reports.
		b, _ := json.Marshal(nil)
		return json.Unmarshal(b, dst)
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return err
	}
	// Reset slices and maps first: json.Unmarshal merges into an existing map.
	switch p := dst.(type) {
	case *map[string]string:
		*p = nil
	case *map[string]AIOFeature:
		*p = nil
	case *map[string]NodePool:
		*p = nil
	case **ExternalCertificates:
		*p = nil
	}
	return json.Unmarshal(b, dst)
}

var (
	registryOnce sync.Once
	registry     []Variable
	byName       map[string]*Variable
	registryErr  error
)

// Variables lists every variable dualpeer accepts, in declaration order. It is immutable data
// parsed once from the literal table below (not mutable global state).
func Variables() []Variable {
	loadRegistry()
	out := make([]Variable, len(registry))
	copy(out, registry)
	return out
}

// lookupVariable finds a variable by name or alias.
func lookupVariable(name string) (*Variable, bool) {
	loadRegistry()
	v, ok := byName[name]
	return v, ok
}

func loadRegistry() {
	registryOnce.Do(func() {
		defs := variableTable()
		byName = map[string]*Variable{}
		for i := range defs {
			d := &defs[i]
			expr, diags := hclsyntax.ParseExpression([]byte(d.TypeExpr), d.Name+".type", hcl.InitialPos)
			if diags.HasErrors() {
				registryErr = fmt.Errorf("variable %q: type %q: %s", d.Name, d.TypeExpr, diags.Error())
				continue
			}
			ty, defaults, diags := typeexpr.TypeConstraintWithDefaults(expr)
			if diags.HasErrors() {
				registryErr = fmt.Errorf("variable %q: type %q: %s", d.Name, d.TypeExpr, diags.Error())
				continue
			}
			d.Type, d.defaults = ty, defaults
		}
		registry = defs
		for i := range registry {
			byName[registry[i].Name] = &registry[i]
			for _, a := range registry[i].Aliases {
				byName[a] = &registry[i]
			}
		}
		if registryErr != nil {
			// A typo in the table is a programming error caught by TestVariablesParse; never panic.
			return
		}
	})
}

// variableNames returns every accepted name (including aliases), sorted.
func variableNames() []string {
	loadRegistry()
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

const (
	tString   = "string"
	tBool     = "bool"
	tNumber   = "number"
	tStrList  = "list(string)"
	tStrMap   = "map(string)"
	tVNet     = "object({address_space=string, subnet_address_prefix=string})"
	tNodePool = "map(object({node_count=number, vm_size=string, subnet_address_prefixes=list(string), pod_subnet_address_prefixes=list(string), node_taints=optional(list(string), []), enable_auto_scaling=optional(bool, false), min_count=optional(number), max_count=optional(number)}))"
	tFeatures = "map(object({mode=optional(string), settings=optional(map(string))}))"
	tExtCerts = "object({server_root_ca_cert=string, server_root_ca_key=string, server_intermediate_ca_cert=string, server_intermediate_ca_key=string, server_leaf_cert=string, server_leaf_key=string, client_root_ca_cert=string, client_root_ca_key=string, client_intermediate_ca_cert=string, client_intermediate_ca_key=string, client_leaf_cert=string, client_leaf_key=string})"
	// The device and asset lists have deep upstream object types; they are accepted as any value
	// and checked structurally by Validate (a list of objects, each with a name, action types).
	tAny = "any"
)

func variableTable() []Variable {
	return []Variable{
		// Core.
		{Name: "environment", TypeExpr: tString, Required: true, Group: "Core", Origin: "spec", Description: "Environment type: dev, test, prod, … (part of every resource name)", field: func(c *Config) any { return &c.Environment }},
		{Name: "resource_prefix", TypeExpr: tString, Required: true, Group: "Core", Origin: "spec", Description: "Prefix for resource naming: a letter, then letters/digits with single hyphens (6 characters or fewer recommended)", field: func(c *Config) any { return &c.ResourcePrefix }},
		{Name: "location", TypeExpr: tString, Required: true, Group: "Core", Origin: "spec", Description: "Azure region, e.g. eastus2 (use \"local\" for the local target)", field: func(c *Config) any { return &c.Location }},
		{Name: "instance", TypeExpr: tString, Group: "Core", Origin: "spec", Description: "Deployment instance number, for several deployments side by side", field: func(c *Config) any { return &c.Instance }},

		// Per cluster.
		{Name: "use_existing_resource_group_a", TypeExpr: tBool, Group: "Cluster A (server)", Origin: "spec", Description: "Look up an existing resource group for Cluster A instead of creating one", field: func(c *Config) any { return &c.UseExistingResourceGroupA }},
		{Name: "resource_group_name_a", TypeExpr: tString, Group: "Cluster A (server)", Origin: "spec", Description: "Cluster A resource group name; generated from the naming convention when null", field: func(c *Config) any { return &c.ResourceGroupNameA }},
		{Name: "cluster_a_virtual_network_config", TypeExpr: tVNet, Group: "Cluster A (server)", Origin: "spec", Description: "Cluster A virtual network address space and VM subnet (IPv4 CIDRs)", field: func(c *Config) any { return &c.ClusterAVirtualNetworkConfig }},
		{Name: "cluster_a_subnet_address_prefixes_acr", TypeExpr: tStrList, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A ACR private endpoint subnet (used only with private endpoints)", field: func(c *Config) any { return &c.ClusterASubnetPrefixesACR }},
		{Name: "cluster_a_subnet_address_prefixes_aks", TypeExpr: tStrList, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS node subnet (used only with should_create_aks)", field: func(c *Config) any { return &c.ClusterASubnetPrefixesAKS }},
		{Name: "cluster_a_subnet_address_prefixes_aks_pod", TypeExpr: tStrList, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS pod subnet (used only with should_create_aks)", field: func(c *Config) any { return &c.ClusterASubnetPrefixesAKSPod }},
		{Name: "cluster_a_node_count", TypeExpr: tNumber, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS default node pool size", field: func(c *Config) any { return &c.ClusterA.NodeCount }},
		{Name: "cluster_a_node_vm_size", TypeExpr: tString, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS default node pool VM size", field: func(c *Config) any { return &c.ClusterA.NodeVMSize }},
		{Name: "cluster_a_enable_auto_scaling", TypeExpr: tBool, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS autoscaling", field: func(c *Config) any { return &c.ClusterA.EnableAutoScaling }},
		{Name: "cluster_a_min_count", TypeExpr: tNumber, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS autoscaling minimum node count", field: func(c *Config) any { return &c.ClusterA.MinCount }},
		{Name: "cluster_a_max_count", TypeExpr: tNumber, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS autoscaling maximum node count", field: func(c *Config) any { return &c.ClusterA.MaxCount }},
		{Name: "cluster_a_dns_prefix", TypeExpr: tString, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A AKS DNS prefix; generated when null", field: func(c *Config) any { return &c.ClusterA.DNSPrefix }},
		{Name: "cluster_a_node_pools", TypeExpr: tNodePool, Group: "Cluster A (server)", Origin: "HEAD", Description: "Cluster A additional AKS node pools", field: func(c *Config) any { return &c.ClusterA.NodePools }},

		{Name: "use_existing_resource_group_b", TypeExpr: tBool, Group: "Cluster B (client)", Origin: "spec", Description: "Look up an existing resource group for Cluster B instead of creating one", field: func(c *Config) any { return &c.UseExistingResourceGroupB }},
		{Name: "resource_group_name_b", TypeExpr: tString, Group: "Cluster B (client)", Origin: "spec", Description: "Cluster B resource group name; generated from the naming convention when null", field: func(c *Config) any { return &c.ResourceGroupNameB }},
		{Name: "cluster_b_virtual_network_config", TypeExpr: tVNet, Group: "Cluster B (client)", Origin: "spec", Description: "Cluster B virtual network address space and VM subnet (IPv4 CIDRs, not overlapping Cluster A)", field: func(c *Config) any { return &c.ClusterBVirtualNetworkConfig }},
		{Name: "cluster_b_subnet_address_prefixes_acr", TypeExpr: tStrList, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B ACR private endpoint subnet (used only with private endpoints)", field: func(c *Config) any { return &c.ClusterBSubnetPrefixesACR }},
		{Name: "cluster_b_subnet_address_prefixes_aks", TypeExpr: tStrList, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS node subnet (used only with should_create_aks)", field: func(c *Config) any { return &c.ClusterBSubnetPrefixesAKS }},
		{Name: "cluster_b_subnet_address_prefixes_aks_pod", TypeExpr: tStrList, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS pod subnet (used only with should_create_aks)", field: func(c *Config) any { return &c.ClusterBSubnetPrefixesAKSPod }},
		{Name: "cluster_b_node_count", TypeExpr: tNumber, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS default node pool size", field: func(c *Config) any { return &c.ClusterB.NodeCount }},
		{Name: "cluster_b_node_vm_size", TypeExpr: tString, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS default node pool VM size", field: func(c *Config) any { return &c.ClusterB.NodeVMSize }},
		{Name: "cluster_b_enable_auto_scaling", TypeExpr: tBool, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS autoscaling", field: func(c *Config) any { return &c.ClusterB.EnableAutoScaling }},
		{Name: "cluster_b_min_count", TypeExpr: tNumber, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS autoscaling minimum node count", field: func(c *Config) any { return &c.ClusterB.MinCount }},
		{Name: "cluster_b_max_count", TypeExpr: tNumber, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS autoscaling maximum node count", field: func(c *Config) any { return &c.ClusterB.MaxCount }},
		{Name: "cluster_b_dns_prefix", TypeExpr: tString, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B AKS DNS prefix; generated when null", field: func(c *Config) any { return &c.ClusterB.DNSPrefix }},
		{Name: "cluster_b_node_pools", TypeExpr: tNodePool, Group: "Cluster B (client)", Origin: "HEAD", Description: "Cluster B additional AKS node pools", field: func(c *Config) any { return &c.ClusterB.NodePools }},

		// Shared.
		{Name: "aio_namespace", TypeExpr: tString, Group: "Shared", Origin: "HEAD", Description: "Kubernetes namespace of Azure IoT Operations", field: func(c *Config) any { return &c.AIONamespace }},
		{Name: "cluster_admin_group_oid", TypeExpr: tString, Group: "Shared", Origin: "HEAD", Description: "Entra ID group object id given cluster-admin on both clusters", field: func(c *Config) any { return &c.ClusterAdminGroupOID }},
		{Name: "should_get_custom_locations_oid", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "Look up the Custom Locations resource provider's object id in Entra ID", field: func(c *Config) any { return &c.ShouldGetCustomLocationsOID }},
		{Name: "custom_locations_oid", TypeExpr: tString, Group: "Shared", Origin: "HEAD", Description: "Custom Locations resource provider object id (when not looked up)", field: func(c *Config) any { return &c.CustomLocationsOID }},
		{Name: "should_create_anonymous_broker_listener", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "Add the anonymous listener default-anon (port 18884) to Cluster A's broker; development only", field: func(c *Config) any { return &c.ShouldCreateAnonymousBrokerListener }},
		{Name: "should_create_aks", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "Also create an AKS cluster per side", field: func(c *Config) any { return &c.ShouldCreateAKS }},
		{Name: "should_create_acr_private_endpoint", TypeExpr: tBool, Group: "Shared", Origin: "a1808c1c", Description: "Give the container registry a private endpoint (older blueprint versions)", field: func(c *Config) any { return &c.ShouldCreateACRPrivateEndpoint }},
		{Name: "should_enable_private_endpoints", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "Private endpoints for Key Vault, storage and the container registry", field: func(c *Config) any { return &c.ShouldEnablePrivateEndpoints }},
		{Name: "should_enable_managed_outbound_access", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "NAT gateway for outbound traffic (the subnet's default outbound access is its negation)", field: func(c *Config) any { return &c.ShouldEnableManagedOutboundAccess }},
		{Name: "nat_gateway_idle_timeout_minutes", TypeExpr: tNumber, Group: "Shared", Origin: "HEAD", Description: "NAT gateway idle timeout, 4 to 240 minutes", field: func(c *Config) any { return &c.NatGatewayIdleTimeoutMinutes }},
		{Name: "nat_gateway_public_ip_count", TypeExpr: tNumber, Group: "Shared", Origin: "HEAD", Description: "Public IPs on each NAT gateway, 1 to 16", field: func(c *Config) any { return &c.NatGatewayPublicIPCount }},
		{Name: "nat_gateway_zones", TypeExpr: tStrList, Group: "Shared", Origin: "HEAD", Description: "Availability zones of the NAT gateways (\"1\", \"2\", \"3\")", field: func(c *Config) any { return &c.NatGatewayZones }},
		{Name: "aio_features", TypeExpr: tFeatures, Group: "Shared", Origin: "HEAD", Description: "Azure IoT Operations features: mode Stable|Preview|Disabled, settings Enabled|Disabled", field: func(c *Config) any { return &c.AIOFeatures }},
		{Name: "should_deploy_resource_sync_rules", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "Create the custom location's resource sync rules", field: func(c *Config) any { return &c.ShouldDeployResourceSyncRules }},
		{Name: "should_enable_opc_ua_simulator", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "Deploy the OPC UA simulator", field: func(c *Config) any { return &c.ShouldEnableOPCUASimulator }},
		{Name: "namespaced_devices", TypeExpr: tAny, Group: "Shared", Origin: "HEAD", Description: "Device Registry namespaced devices (list of objects, each with a name)", field: func(c *Config) any { return &c.NamespacedDevices }},
		{Name: "namespaced_assets", TypeExpr: tAny, Group: "Shared", Origin: "HEAD", Description: "Device Registry namespaced assets (list of objects, each with a name and a device_ref)", field: func(c *Config) any { return &c.NamespacedAssets }},
		{Name: "asset_endpoint_profiles", TypeExpr: tAny, Group: "Shared", Origin: "a1808c1c", Description: "Legacy asset endpoint profiles (older blueprint versions)", field: func(c *Config) any { return &c.AssetEndpointProfiles }},
		{Name: "assets", TypeExpr: tAny, Group: "Shared", Origin: "a1808c1c", Description: "Legacy assets (older blueprint versions)", field: func(c *Config) any { return &c.Assets }},
		{Name: "should_create_azure_functions", TypeExpr: tBool, Group: "Shared", Origin: "HEAD", Description: "Create the messaging module's Azure Functions", field: func(c *Config) any { return &c.ShouldCreateAzureFunctions }},

		// MQTT link.
		{Name: "enterprise_broker_port", TypeExpr: tNumber, Group: "MQTT link", Origin: "HEAD", Description: "TLS port of the server broker's listener (Cluster A)", field: func(c *Config) any { return &c.EnterpriseBrokerPort }},
		{Name: "enterprise_broker_tls_cert_secret_name", TypeExpr: tString, Group: "MQTT link", Origin: "HEAD", Aliases: []string{"enterprise_broker_server_cert_secret_name"}, Description: "Kubernetes TLS secret holding the server broker's certificate chain and key", field: func(c *Config) any { return &c.EnterpriseBrokerTLSCertSecretName }},
		{Name: "enterprise_client_ca_configmap_name", TypeExpr: tString, Group: "MQTT link", Origin: "HEAD", Description: "ConfigMap on the server holding the client root CA trusted for X.509 authentication", field: func(c *Config) any { return &c.EnterpriseClientCAConfigMapName }},
		{Name: "site_client_secret_name", TypeExpr: tString, Group: "MQTT link", Origin: "HEAD", Description: "Secret on the client holding its certificate, intermediate and key", field: func(c *Config) any { return &c.SiteClientSecretName }},
		{Name: "site_tls_ca_configmap_name", TypeExpr: tString, Group: "MQTT link", Origin: "HEAD", Description: "ConfigMap on the client holding the server root CA", field: func(c *Config) any { return &c.SiteTLSCAConfigMapName }},

		// Certificates.
		{Name: "should_create_certificates", TypeExpr: tBool, Group: "Certificates", Origin: "spec", Description: "Generate the certificates (false: they come from Key Vault)", field: func(c *Config) any { return &c.ShouldCreateCertificates }},
		{Name: "use_terraform_certificates", TypeExpr: tBool, Group: "Certificates", Origin: "spec", Description: "Use the Terraform TLS profile (RSA, 8760 h leaves) instead of the Step CLI profile (EC P-256, 2400 h); only with should_create_certificates", field: func(c *Config) any { return &c.UseTerraformCertificates }},
		{Name: "external_certificates", TypeExpr: tExtCerts, Sensitive: true, Group: "Certificates", Origin: "HEAD", Description: "Your own PEM chains and keys instead of generated ones", field: func(c *Config) any { return &c.ExternalCertificates }},

		// Scripts.
		{Name: "should_deploy_custom_scripts", TypeExpr: tBool, Group: "Custom scripts", Origin: "spec", Description: "Deploy both server-central.sh (Cluster A) and client-technology.sh (Cluster B)", field: func(c *Config) any { return &c.ShouldDeployCustomScripts }},
		{Name: "should_deploy_server_central_script", TypeExpr: tBool, Group: "Custom scripts", Origin: "spec", Description: "Deploy server-central.sh to Cluster A", field: func(c *Config) any { return &c.ShouldDeployServerCentralScript }},
		{Name: "should_deploy_client_technology_script", TypeExpr: tBool, Group: "Custom scripts", Origin: "spec", Description: "Deploy client-technology.sh to Cluster B", field: func(c *Config) any { return &c.ShouldDeployClientTechnologyScript }},

		// Peering.
		{Name: "vnet_peering_allow_virtual_network_access", TypeExpr: tBool, Group: "VNet peering", Origin: "dualpeer", Description: "Peered VNets can reach each other", field: func(c *Config) any { return &c.VnetPeeringAllowVirtualNetworkAccess }},
		{Name: "vnet_peering_allow_forwarded_traffic", TypeExpr: tBool, Group: "VNet peering", Origin: "dualpeer", Description: "Accept traffic forwarded from the peered VNet", field: func(c *Config) any { return &c.VnetPeeringAllowForwardedTraffic }},
		{Name: "vnet_peering_allow_gateway_transit", TypeExpr: tBool, Group: "VNet peering", Origin: "dualpeer", Description: "Must stay false: the blueprint creates no gateways", field: func(c *Config) any { return &c.VnetPeeringAllowGatewayTransit }},
		{Name: "vnet_peering_use_remote_gateways", TypeExpr: tBool, Group: "VNet peering", Origin: "dualpeer", Description: "Must stay false: the blueprint creates no gateways", field: func(c *Config) any { return &c.VnetPeeringUseRemoteGateways }},

		{Name: "tags", TypeExpr: tStrMap, Group: "Shared", Origin: "HEAD", Description: "Tags added to every resource (null means {})", field: func(c *Config) any { return &c.Tags }},
	}
}
