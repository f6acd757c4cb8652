package blueprint

import "github.com/dualpeer/dualpeer/internal/pki"

// VirtualNetworkConfig is cluster_{a,b}_virtual_network_config.
type VirtualNetworkConfig struct {
	AddressSpace        string `json:"address_space"`
	SubnetAddressPrefix string `json:"subnet_address_prefix"`
}

// AIOFeature is one entry of aio_features.
type AIOFeature struct {
	Mode     *string           `json:"mode,omitempty"`
	Settings map[string]string `json:"settings,omitempty"`
}

// NodePool is one entry of cluster_{a,b}_node_pools.
type NodePool struct {
	NodeCount                int      `json:"node_count"`
	VMSize                   string   `json:"vm_size"`
	SubnetAddressPrefixes    []string `json:"subnet_address_prefixes"`
	PodSubnetAddressPrefixes []string `json:"pod_subnet_address_prefixes"`
	NodeTaints               []string `json:"node_taints,omitempty"`
	EnableAutoScaling        bool     `json:"enable_auto_scaling,omitempty"`
	MinCount                 *int     `json:"min_count,omitempty"`
	MaxCount                 *int     `json:"max_count,omitempty"`
}

// ClusterSizing holds the per-cluster AKS sizing variables (cluster_{a,b}_*).
type ClusterSizing struct {
	NodeCount         int                 `json:"node_count"`
	NodeVMSize        string              `json:"node_vm_size"`
	EnableAutoScaling bool                `json:"enable_auto_scaling"`
	MinCount          *int                `json:"min_count,omitempty"`
	MaxCount          *int                `json:"max_count,omitempty"`
	DNSPrefix         *string             `json:"dns_prefix,omitempty"`
	NodePools         map[string]NodePool `json:"node_pools,omitempty"`
}

// ExternalCertificates is the sensitive external_certificates object: a user's own chains
// (twelve PEM strings). It is pki's type, so the loader and the certificate importer cannot
// disagree on a field; it never prints its content ("(sensitive)").
type ExternalCertificates = pki.ExternalPEM

// Config is the whole blueprint configuration. Field comments give the variable name.
// Roles follow the spec: Cluster A is the server (upstream "enterprise"), Cluster B the client
// (upstream "site"); upstream enterprise_* / site_* variable names load into the same fields.
type Config struct {
	// Core.
	Environment    string `json:"environment"`     // required
	ResourcePrefix string `json:"resource_prefix"` // required
	Location       string `json:"location"`        // required
	Instance       string `json:"instance"`        // "001"

	// Per cluster.
	UseExistingResourceGroupA    bool                 `json:"use_existing_resource_group_a"`
	UseExistingResourceGroupB    bool                 `json:"use_existing_resource_group_b"`
	ResourceGroupNameA           *string              `json:"resource_group_name_a,omitempty"`
	ResourceGroupNameB           *string              `json:"resource_group_name_b,omitempty"`
	ClusterAVirtualNetworkConfig VirtualNetworkConfig `json:"cluster_a_virtual_network_config"`
	ClusterBVirtualNetworkConfig VirtualNetworkConfig `json:"cluster_b_virtual_network_config"`
	ClusterASubnetPrefixesACR    []string             `json:"cluster_a_subnet_address_prefixes_acr"`
	ClusterASubnetPrefixesAKS    []string             `json:"cluster_a_subnet_address_prefixes_aks"`
	ClusterASubnetPrefixesAKSPod []string             `json:"cluster_a_subnet_address_prefixes_aks_pod"`
	ClusterBSubnetPrefixesACR    []string             `json:"cluster_b_subnet_address_prefixes_acr"`
	ClusterBSubnetPrefixesAKS    []string             `json:"cluster_b_subnet_address_prefixes_aks"`
	ClusterBSubnetPrefixesAKSPod []string             `json:"cluster_b_subnet_address_prefixes_aks_pod"`
	ClusterA                     ClusterSizing        `json:"cluster_a"` // cluster_a_node_count, … (flattened in tfvars)
	ClusterB                     ClusterSizing        `json:"cluster_b"`

	// Shared.
	AIONamespace                        string                `json:"aio_namespace"`
	ClusterAdminGroupOID                *string               `json:"cluster_admin_group_oid,omitempty"`
	ShouldGetCustomLocationsOID         bool                  `json:"should_get_custom_locations_oid"`
	CustomLocationsOID                  *string               `json:"custom_locations_oid,omitempty"`
	ShouldCreateAnonymousBrokerListener bool                  `json:"should_create_anonymous_broker_listener"`
	ShouldCreateAKS                     bool                  `json:"should_create_aks"`
	ShouldCreateACRPrivateEndpoint      bool                  `json:"should_create_acr_private_endpoint"`
	ShouldEnablePrivateEndpoints        bool                  `json:"should_enable_private_endpoints"`
	ShouldEnableManagedOutboundAccess   bool                  `json:"should_enable_managed_outbound_access"`
	NatGatewayIdleTimeoutMinutes        int                   `json:"nat_gateway_idle_timeout_minutes"`
	NatGatewayPublicIPCount             int                   `json:"nat_gateway_public_ip_count"`
	NatGatewayZones                     []string              `json:"nat_gateway_zones"`
	AIOFeatures                         map[string]AIOFeature `json:"aio_features,omitempty"`
	ShouldDeployResourceSyncRules       bool                  `json:"should_deploy_resource_sync_rules"`
	ShouldEnableOPCUASimulator          bool                  `json:"should_enable_opc_ua_simulator"`
	ShouldCreateAzureFunctions          bool                  `json:"should_create_azure_functions"`
	// Free-form object lists, kept as decoded JSON-compatible values (validated structurally).
	NamespacedDevices     []map[string]any `json:"namespaced_devices"`
	NamespacedAssets      []map[string]any `json:"namespaced_assets"`
	AssetEndpointProfiles []map[string]any `json:"asset_endpoint_profiles"` // a1808c1c only
	Assets                []map[string]any `json:"assets"`                  // a1808c1c only

	// MQTT link (upstream enterprise_* = server = Cluster A, site_* = client = Cluster B).
	EnterpriseBrokerPort              int    `json:"enterprise_broker_port"`                 // 28883
	EnterpriseBrokerTLSCertSecretName string `json:"enterprise_broker_tls_cert_secret_name"` // broker-tls-cert
	EnterpriseClientCAConfigMapName   string `json:"enterprise_client_ca_configmap_name"`    // client-ca
	SiteClientSecretName              string `json:"site_client_secret_name"`                // client-secret
	SiteTLSCAConfigMapName            string `json:"site_tls_ca_configmap_name"`             // tls-ca-configmap

	// Certificates (spec): three mutually exclusive modes.
	ShouldCreateCertificates bool                  `json:"should_create_certificates"` // true
	UseTerraformCertificates bool                  `json:"use_terraform_certificates"` // false
	ExternalCertificates     *ExternalCertificates `json:"external_certificates,omitempty"`

	// Custom scripts (spec).
	ShouldDeployCustomScripts          bool `json:"should_deploy_custom_scripts"`
	ShouldDeployServerCentralScript    bool `json:"should_deploy_server_central_script"`
	ShouldDeployClientTechnologyScript bool `json:"should_deploy_client_technology_script"`

	// Peering (dualpeer: the spec's fixed settings, made variables; gateway ones validated false).
	VnetPeeringAllowVirtualNetworkAccess bool `json:"vnet_peering_allow_virtual_network_access"` // true
	VnetPeeringAllowForwardedTraffic     bool `json:"vnet_peering_allow_forwarded_traffic"`      // true
	VnetPeeringAllowGatewayTransit       bool `json:"vnet_peering_allow_gateway_transit"`        // false
	VnetPeeringUseRemoteGateways         bool `json:"vnet_peering_use_remote_gateways"`          // false

	Tags map[string]string `json:"tags"`

	// sources records where each variable was last set ("dualpeer.tfvars:3", "-var #2"), so that
	// Validate can point at the line to fix. Not part of the configuration itself.
	sources map[string]string
}

// SourceOf says where variable was set (file:line or "-var"), or "" for a default.
func (c *Config) SourceOf(variable string) string { return c.sources[variable] }

// CertMode is how the TLS material for the MQTT link is obtained.
type CertMode string

const (
	CertModeStep      CertMode = "step"      // should_create_certificates && !use_terraform_certificates
	CertModeTerraform CertMode = "terraform" // should_create_certificates && use_terraform_certificates
	CertModeKeyVault  CertMode = "keyvault"  // !should_create_certificates
)

// CertMode derives the certificate mode from the two spec flags.
func (c *Config) CertMode() CertMode {
	switch {
	case !c.ShouldCreateCertificates:
		return CertModeKeyVault
	case c.UseTerraformCertificates:
		return CertModeTerraform
	default:
		return CertModeStep
	}
}

// DeployServerScript reports whether server-central.sh is deployed to Cluster A.
func (c *Config) DeployServerScript() bool {
	return c.ShouldDeployCustomScripts || c.ShouldDeployServerCentralScript
}

// DeployClientScript reports whether client-technology.sh is deployed to Cluster B.
func (c *Config) DeployClientScript() bool {
	return c.ShouldDeployCustomScripts || c.ShouldDeployClientTechnologyScript
}

func strp(s string) *string { return &s }

// Default returns the blueprint's defaults. Required variables (environment, resource_prefix,
// location) are left empty; validation reports them.
func Default() *Config {
	return &Config{
		Instance:                     "001",
		ClusterAVirtualNetworkConfig: VirtualNetworkConfig{AddressSpace: "10.1.0.0/16", SubnetAddressPrefix: "10.1.1.0/24"},
		ClusterBVirtualNetworkConfig: VirtualNetworkConfig{AddressSpace: "10.2.0.0/16", SubnetAddressPrefix: "10.2.1.0/24"},
		ClusterASubnetPrefixesACR:    []string{"10.1.2.0/24"},
		ClusterASubnetPrefixesAKS:    []string{"10.1.3.0/24"},
		ClusterASubnetPrefixesAKSPod: []string{"10.1.4.0/24"},
		ClusterBSubnetPrefixesACR:    []string{"10.2.2.0/24"},
		ClusterBSubnetPrefixesAKS:    []string{"10.2.3.0/24"},
		ClusterBSubnetPrefixesAKSPod: []string{"10.2.4.0/24"},
		ClusterA:                     ClusterSizing{NodeCount: 1, NodeVMSize: "Standard_D8ds_v6"},
		ClusterB:                     ClusterSizing{NodeCount: 1, NodeVMSize: "Standard_D8ds_v6"},

		AIONamespace:                      "azure-iot-operations",
		ShouldGetCustomLocationsOID:       true,
		ShouldEnableManagedOutboundAccess: true,
		NatGatewayIdleTimeoutMinutes:      4,
		NatGatewayPublicIPCount:           1,
		NatGatewayZones:                   []string{},
		NamespacedDevices:                 []map[string]any{},
		NamespacedAssets:                  []map[string]any{},
		AssetEndpointProfiles:             []map[string]any{},
		Assets:                            []map[string]any{},

		EnterpriseBrokerPort:              28883,
		EnterpriseBrokerTLSCertSecretName: "broker-tls-cert",
		EnterpriseClientCAConfigMapName:   "client-ca",
		SiteClientSecretName:              "client-secret",
		SiteTLSCAConfigMapName:            "tls-ca-configmap",

		ShouldCreateCertificates: true,

		VnetPeeringAllowVirtualNetworkAccess: true,
		VnetPeeringAllowForwardedTraffic:     true,

		Tags: map[string]string{},
	}
}

// QuickStart is the built-in configuration `dualpeer up` uses when given none: the defaults,
// the required variables filled for a local lab, the scripts enabled and the anonymous listener
// on so that local tools can publish.
func QuickStart() *Config {
	c := Default()
	c.Environment = "dev"
	c.ResourcePrefix = "dp"
	c.Location = "local"
	c.ShouldDeployCustomScripts = true
	c.ShouldCreateAnonymousBrokerListener = true
	return c
}

var _ = strp
