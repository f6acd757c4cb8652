package plan

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/google/uuid"

	"github.com/dualpeer/dualpeer/internal/blueprint"
)

// API versions used for each ARM type. One table so the Azure provider and the plan agree.
// IoT Operations uses 2025-04-01, the version of the official spec in reference/arm-specs.
var apiVersions = map[string]string{
	"Microsoft.Resources/resourceGroups":                                            "2024-03-01",
	"Microsoft.ManagedIdentity/userAssignedIdentities":                              "2023-01-31",
	"Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials": "2023-01-31",
	"Microsoft.Authorization/roleAssignments":                                       "2022-04-01",
	"Microsoft.KeyVault/vaults":                                                     "2023-07-01",
	"Microsoft.KeyVault/vaults/secrets":                                             "2023-07-01",
	"Microsoft.Monitor/accounts":                                                    "2023-04-03",
	"Microsoft.OperationalInsights/workspaces":                                      "2023-09-01",
	"Microsoft.OperationsManagement/solutions":                                      "2015-11-01-preview",
	"Microsoft.Insights/components":                                                 "2020-02-02",
	"Microsoft.Dashboard/grafana":                                                   "2023-09-01",
	"Microsoft.Insights/dataCollectionRules":                                        "2023-03-11",
	"Microsoft.Insights/dataCollectionEndpoints":                                    "2023-03-11",
	"Microsoft.Insights/dataCollectionRuleAssociations":                             "2023-03-11",
	"Microsoft.AlertsManagement/prometheusRuleGroups":                               "2023-03-01",
	"Microsoft.Storage/storageAccounts":                                             "2023-05-01",
	"Microsoft.Storage/storageAccounts/blobServices/containers":                     "2023-05-01",
	"Microsoft.DeviceRegistry/schemaRegistries":                                     "2024-09-01-preview",
	"Microsoft.DeviceRegistry/namespaces":                                           "2026-04-01",
	"Microsoft.DeviceRegistry/namespaces/devices":                                   "2026-04-01",
	"Microsoft.DeviceRegistry/namespaces/assets":                                    "2026-04-01",
	"Microsoft.DeviceRegistry/assetEndpointProfiles":                                "2024-11-01",
	"Microsoft.DeviceRegistry/assets":                                               "2024-11-01",
	"Microsoft.EventHub/namespaces":                                                 "2024-01-01",
	"Microsoft.EventHub/namespaces/eventhubs":                                       "2024-01-01",
	"Microsoft.EventGrid/namespaces":                                                "2025-02-15",
	"Microsoft.EventGrid/namespaces/topicSpaces":                                    "2024-12-15-preview",
	"Microsoft.Network/networkSecurityGroups":                                       "2024-05-01",
	"Microsoft.Network/virtualNetworks":                                             "2024-05-01",
	"Microsoft.Network/virtualNetworks/subnets":                                     "2024-05-01",
	"Microsoft.Network/virtualNetworks/virtualNetworkPeerings":                      "2024-05-01",
	"Microsoft.Network/natGateways":                                                 "2024-05-01",
	"Microsoft.Network/publicIPAddresses":                                           "2024-05-01",
	"Microsoft.Network/networkInterfaces":                                           "2024-05-01",
	"Microsoft.Network/privateEndpoints":                                            "2024-05-01",
	"Microsoft.Network/privateDnsZones":                                             "2024-06-01",
	"Microsoft.Network/privateDnsZones/virtualNetworkLinks":                         "2024-06-01",
	"Microsoft.Compute/virtualMachines":                                             "2024-07-01",
	"Microsoft.Compute/virtualMachines/extensions":                                  "2024-07-01",
	"Microsoft.Compute/virtualMachines/runCommands":                                 "2024-07-01",
	"Microsoft.ContainerRegistry/registries":                                        "2023-07-01",
	"Microsoft.ContainerService/managedClusters":                                    "2024-09-01",
	"Microsoft.ContainerService/managedClusters/agentPools":                         "2024-09-01",
	"Microsoft.Kubernetes/connectedClusters":                                        "2024-01-01",
	"Microsoft.KubernetesConfiguration/extensions":                                  "2023-05-01",
	"Microsoft.ExtendedLocation/customLocations":                                    "2021-08-31-preview",
	"Microsoft.ExtendedLocation/customLocations/resourceSyncRules":                  "2021-08-31-preview",
	"Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses":             "2024-08-21-preview",
	"Microsoft.SecretSyncController/secretSyncs":                                    "2024-08-21-preview",
	"Microsoft.IoTOperations/instances":                                             "2025-04-01",
	"Microsoft.IoTOperations/instances/brokers":                                     "2025-04-01",
	"Microsoft.IoTOperations/instances/brokers/authentications":                     "2025-04-01",
	"Microsoft.IoTOperations/instances/brokers/listeners":                           "2025-04-01",
	"Microsoft.IoTOperations/instances/dataflowProfiles":                            "2025-04-01",
	"Microsoft.IoTOperations/instances/dataflowProfiles/dataflows":                  "2025-04-01",
	"Microsoft.IoTOperations/instances/dataflowEndpoints":                           "2025-04-01",
	"Microsoft.IoTOperations/instances/registryEndpoints":                           "2025-04-01",
	TypeCertificate: "v1",
}

// TypeCertificate is the dualpeer-only type of a certificate chain (generated, never an ARM resource).
const TypeCertificate = "dualpeer/certificate"

// APIVersion returns the api-version dualpeer uses for an ARM type ("" when unknown).
func APIVersion(typ string) string { return apiVersions[typ] }

// Roles assigned in the plan (built-in role names; ids are resolved by the Azure provider).
const (
	roleKVSecretsOfficer = "Key Vault Secrets Officer"
	roleKVSecretsUser    = "Key Vault Secrets User"
	roleKVReader         = "Key Vault Reader"
	roleArcOnboarding    = "Kubernetes Cluster - Azure Arc Onboarding"
)

func known(v any) Value                 { return Value{Value: v} }
func computed(pred any) Value           { return Value{Computed: true, Predicted: pred} }
func sensitive() Value                  { return Value{Sensitive: true} }
func supported(how string) LocalSupport { return LocalSupport{Supported: true, Reason: how} }
func cloudOnly(why string) LocalSupport {
	return LocalSupport{Reason: "cloud only: " + why}
}

type builder struct {
	cfg  *blueprint.Config
	sub  string
	res  map[string]*Resource
	list []*Resource
	err  error
}

// add registers a resource; the address must be unique.
func (b *builder) add(r *Resource) *Resource {
	if _, dup := b.res[r.Address]; dup && b.err == nil {
		b.err = fmt.Errorf("plan: duplicate resource address %s (a bug in dualpeer)", r.Address)
	}
	if r.APIVersion == "" {
		r.APIVersion = apiVersions[r.Type]
	}
	if r.Action == "" {
		r.Action = ActionCreate
	}
	if r.Attributes == nil {
		r.Attributes = map[string]Value{}
	}
	b.res[r.Address] = r
	b.list = append(b.list, r)
	return r
}

// cluster holds what one cluster's resources refer to.
type cluster struct {
	key   string // "a" / "b"
	cl    Cluster
	n     blueprint.Names
	vnet  blueprint.VirtualNetworkConfig
	rg    string // address of the resource group
	rgID  string
	label string // "cluster_a"
	addr  map[string]string
}

func (c *cluster) a(module, name string) string { return c.label + "." + module + "." + name }

// Build turns a configuration into the plan: every resource of both clusters, the peering and
// the shared certificates, in a stable topological order. The configuration should have passed
// Validate; Build reports what it cannot plan. ARM ids use blueprint.SubscriptionPlaceholder until
// a provider knows the subscription (see WithSubscription).
func Build(cfg *blueprint.Config) (*Plan, error) {
	if cfg == nil {
		return nil, fmt.Errorf("plan: no configuration")
	}
	b := &builder{cfg: cfg, sub: blueprint.SubscriptionPlaceholder, res: map[string]*Resource{}}
	ca := b.newCluster("a")
	cb := b.newCluster("b")
	for _, c := range []*cluster{ca, cb} {
		b.clusterResources(c)
	}
	b.peerings(ca, cb)
	b.certificates(ca, cb)
	b.mqtt(ca, cb)
	b.scripts(ca, cb)
	if b.err != nil {
		return nil, b.err
	}
	ordered, err := topoSort(b.list)
	if err != nil {
		return nil, err
	}
	return &Plan{Config: cfg, Resources: ordered}, nil
}

func (b *builder) newCluster(key string) *cluster {
	c := &cluster{key: key, cl: Cluster(key), n: b.cfg.Names(key), label: "cluster_" + key, addr: map[string]string{}}
	c.vnet = b.cfg.ClusterAVirtualNetworkConfig
	if key == "b" {
		c.vnet = b.cfg.ClusterBVirtualNetworkConfig
	}
	c.rgID = blueprint.ResourceGroupID(b.sub, c.n.ResourceGroup)
	return c
}

func (b *builder) id(c *cluster, typ string, names ...string) string {
	return blueprint.ResourceID(b.sub, c.n.ResourceGroup, typ, names...)
}

// roleAssignment adds a role assignment with a deterministic name (ARM requires a GUID).
func (b *builder) roleAssignment(c *cluster, module, key, role, scopeID, principal string, deps ...string) *Resource {
	name := uuid.NewSHA1(uuid.NameSpaceURL, []byte(scopeID+"|"+role+"|"+principal)).String()
	return b.add(&Resource{
		Address: c.a(module, key), Type: "Microsoft.Authorization/roleAssignments", Name: name, Cluster: c.cl, Module: module,
		ID:         blueprint.ExtensionResourceID(scopeID, "Microsoft.Authorization/roleAssignments", name),
		Attributes: map[string]Value{"role": known(role), "scope": known(scopeID), "principal": known(principal), "principal_id": computed(nil)},
		DependsOn:  deps,
		Local:      cloudOnly("Azure RBAC has no local counterpart; the local vault is guarded by file modes"),
	})
}

func (b *builder) tags(c *cluster) map[string]string {
	t := map[string]string{}
	for k, v := range b.cfg.Tags {
		t[k] = v
	}
	t["Environment"] = b.cfg.Environment
	t["Instance"] = b.cfg.Instance
	t["blueprint"] = "dual-peered-single-cluster"
	t["cluster"] = c.key
	return t
}

func (b *builder) clusterResources(c *cluster) {
	cfg, n := b.cfg, c.n
	loc := cfg.Location

	// 000 resource group.
	rg := &Resource{Address: c.a("cloud_resource_group", "resource_group"), Type: "Microsoft.Resources/resourceGroups",
		Name: n.ResourceGroup, Cluster: c.cl, Module: "cloud_resource_group", ID: c.rgID,
		Attributes: map[string]Value{"location": known(loc), "tags": known(b.tags(c))},
		Local:      supported("a section of the state directory")}
	existing := cfg.UseExistingResourceGroupA
	if c.key == "b" {
		existing = cfg.UseExistingResourceGroupB
	}
	if existing {
		rg.Action = ActionRead
		rg.Attributes["existing"] = known(true)
	}
	c.rg = b.add(rg).Address

	// 010 security and identity.
	kvID := blueprint.KeyVaultID(b.sub, n.ResourceGroup, n.KeyVault)
	kv := b.add(&Resource{Address: c.a("cloud_security_identity", "key_vault"), Type: "Microsoft.KeyVault/vaults", Name: n.KeyVault,
		Cluster: c.cl, Module: "cloud_security_identity", ID: kvID, DependsOn: []string{c.rg},
		Attributes: map[string]Value{"location": known(loc), "sku": known("standard"), "enable_rbac_authorization": known(true),
			"purge_protection_enabled": known(false), "public_network_access": known(!cfg.ShouldEnablePrivateEndpoints), "vault_uri": computed("https://" + n.KeyVault + ".vault.azure.net/")},
		Local: supported("a directory of 0600 files in the state directory")})
	c.addr["kv"] = kv.Address
	c.addr["kv_role"] = b.roleAssignment(c, "cloud_security_identity", "key_vault_secrets_officer", roleKVSecretsOfficer, kvID, "deploying user", kv.Address).Address
	for _, id := range []struct{ key, name, purpose string }{
		{"identity_arc", n.IdentityArc, "Arc onboarding"}, {"identity_sse", n.IdentitySSE, "secret sync"}, {"identity_aio", n.IdentityAIO, "IoT Operations"}} {
		r := b.add(&Resource{Address: c.a("cloud_security_identity", id.key), Type: "Microsoft.ManagedIdentity/userAssignedIdentities", Name: id.name,
			Cluster: c.cl, Module: "cloud_security_identity", ID: b.id(c, "Microsoft.ManagedIdentity/userAssignedIdentities", id.name), DependsOn: []string{c.rg},
			Attributes: map[string]Value{"location": known(loc), "purpose": known(id.purpose), "principal_id": computed(nil), "client_id": computed(nil)},
			Local:      cloudOnly("managed identities are Entra ID objects")})
		c.addr[id.key] = r.Address
	}

	b.roleAssignment(c, "cloud_security_identity", "sse_key_vault_reader", roleKVReader, kvID, n.IdentitySSE, kv.Address, c.addr["identity_sse"])
	b.roleAssignment(c, "cloud_security_identity", "sse_key_vault_secrets_user", roleKVSecretsUser, kvID, n.IdentitySSE, kv.Address, c.addr["identity_sse"])

	// 050 networking (before the modules that put endpoints in the subnet).
	nsg := b.add(&Resource{Address: c.a("cloud_networking", "network_security_group"), Type: "Microsoft.Network/networkSecurityGroups", Name: n.NSG,
		Cluster: c.cl, Module: "cloud_networking", ID: b.id(c, "Microsoft.Network/networkSecurityGroups", n.NSG), DependsOn: []string{c.rg},
		Attributes: map[string]Value{"location": known(loc), "security_rules": known([]string{}), "default_rules": known("AllowVnetInBound, AllowAzureLoadBalancerInBound, DenyAllInBound; AllowVnetOutBound, AllowInternetOutBound, DenyAllOutBound")},
		Local:      supported("Azure's default rules as nftables rules in the VM namespace")})
	vnetID := blueprint.VirtualNetworkID(b.sub, n.ResourceGroup, n.VNet)
	vnet := b.add(&Resource{Address: c.a("cloud_networking", "virtual_network"), Type: "Microsoft.Network/virtualNetworks", Name: n.VNet,
		Cluster: c.cl, Module: "cloud_networking", ID: vnetID, DependsOn: []string{c.rg},
		Attributes: map[string]Value{"location": known(loc), "address_space": known([]string{c.vnet.AddressSpace})},
		Local:      supported("a router network namespace")})
	c.addr["vnet"] = vnet.Address
	subnetDeps := []string{vnet.Address, nsg.Address}
	var nat *Resource
	if cfg.ShouldEnableManagedOutboundAccess {
		var pips []string
		for k, name := range n.NATPublicIPs {
			p := b.add(&Resource{Address: c.a("cloud_networking", "nat_public_ip_"+strconv.Itoa(k+1)), Type: "Microsoft.Network/publicIPAddresses", Name: name,
				Cluster: c.cl, Module: "cloud_networking", ID: b.id(c, "Microsoft.Network/publicIPAddresses", name), DependsOn: []string{c.rg},
				Attributes: map[string]Value{"location": known(loc), "sku": known("Standard"), "allocation_method": known("Static"), "zones": known(cfg.NatGatewayZones), "ip_address": computed(nil)},
				Local:      cloudOnly("the local lab has no route out of the host")})
			pips = append(pips, p.Address)
		}
		nat = b.add(&Resource{Address: c.a("cloud_networking", "nat_gateway"), Type: "Microsoft.Network/natGateways", Name: n.NATGateway,
			Cluster: c.cl, Module: "cloud_networking", ID: b.id(c, "Microsoft.Network/natGateways", n.NATGateway), DependsOn: append([]string{c.rg}, pips...),
			Attributes: map[string]Value{"location": known(loc), "sku": known("Standard"), "idle_timeout_in_minutes": known(cfg.NatGatewayIdleTimeoutMinutes), "zones": known(cfg.NatGatewayZones), "public_ip_count": known(cfg.NatGatewayPublicIPCount)},
			Local:      cloudOnly("the local lab has no route out of the host")})
		subnetDeps = append(subnetDeps, nat.Address)
	}
	subnetAttrs := map[string]Value{"address_prefix": known(c.vnet.SubnetAddressPrefix), "network_security_group": known(n.NSG),
		"default_outbound_access": known(!cfg.ShouldEnableManagedOutboundAccess)}
	if nat != nil {
		subnetAttrs["nat_gateway"] = known(n.NATGateway)
	}
	subnet := b.add(&Resource{Address: c.a("cloud_networking", "subnet"), Type: "Microsoft.Network/virtualNetworks/subnets", Name: n.Subnet,
		Cluster: c.cl, Module: "cloud_networking", ID: blueprint.SubnetID(b.sub, n.ResourceGroup, n.VNet, n.Subnet), DependsOn: subnetDeps,
		Attributes: subnetAttrs, Local: supported("a bridge in the router namespace, gateway = first host address")})
	c.addr["subnet"] = subnet.Address

	if cfg.ShouldEnablePrivateEndpoints {
		b.privateEndpoint(c, "cloud_security_identity", "key_vault", "pe-"+n.KeyVault, kvID, "vault", "privatelink.vaultcore.azure.net", "vnet-pzl-kv-"+n.Prefix+"-"+cfg.Environment+"-"+cfg.Instance, subnet.Address, kv.Address)
	}

	// 020 observability.
	obs := "cloud_observability"
	co := cloudOnly("Azure Monitor has no local counterpart; the agents expose Prometheus metrics instead")
	amw := b.add(&Resource{Address: c.a(obs, "monitor_workspace"), Type: "Microsoft.Monitor/accounts", Name: n.MonitorWorkspace, Cluster: c.cl, Module: obs,
		ID: b.id(c, "Microsoft.Monitor/accounts", n.MonitorWorkspace), DependsOn: []string{c.rg}, Attributes: map[string]Value{"location": known(loc)}, Local: co})
	law := b.add(&Resource{Address: c.a(obs, "log_analytics_workspace"), Type: "Microsoft.OperationalInsights/workspaces", Name: n.LogAnalytics, Cluster: c.cl, Module: obs,
		ID: b.id(c, "Microsoft.OperationalInsights/workspaces", n.LogAnalytics), DependsOn: []string{c.rg},
		Attributes: map[string]Value{"location": known(loc), "sku": known("PerGB2018"), "retention_in_days": known(30), "daily_quota_gb": known(10)}, Local: co})
	solName := "ContainerInsights(" + n.LogAnalytics + ")"
	b.add(&Resource{Address: c.a(obs, "container_insights"), Type: "Microsoft.OperationsManagement/solutions", Name: solName, Cluster: c.cl, Module: obs,
		ID: b.id(c, "Microsoft.OperationsManagement/solutions", solName), DependsOn: []string{law.Address}, Attributes: map[string]Value{"workspace": known(n.LogAnalytics)}, Local: co})
	b.add(&Resource{Address: c.a(obs, "application_insights"), Type: "Microsoft.Insights/components", Name: n.AppInsights, Cluster: c.cl, Module: obs,
		ID: b.id(c, "Microsoft.Insights/components", n.AppInsights), DependsOn: []string{law.Address},
		Attributes: map[string]Value{"location": known(loc), "application_type": known("web"), "retention_in_days": known(30)}, Local: co})
	amgID := b.id(c, "Microsoft.Dashboard/grafana", n.Grafana)
	amg := b.add(&Resource{Address: c.a(obs, "grafana"), Type: "Microsoft.Dashboard/grafana", Name: n.Grafana, Cluster: c.cl, Module: obs, ID: amgID,
		DependsOn:  []string{amw.Address},
		Attributes: map[string]Value{"location": known(loc), "sku": known("Standard"), "grafana_major_version": known("12"), "identity": known("SystemAssigned")}, Local: co})
	b.roleAssignment(c, obs, "grafana_admin", "Grafana Admin", amgID, "deploying user", amg.Address)
	b.roleAssignment(c, obs, "grafana_reader_law", "Reader", b.id(c, "Microsoft.OperationalInsights/workspaces", n.LogAnalytics), n.Grafana, amg.Address, law.Address)
	b.roleAssignment(c, obs, "grafana_monitoring_data_reader", "Monitoring Data Reader", b.id(c, "Microsoft.Monitor/accounts", n.MonitorWorkspace), n.Grafana, amg.Address, amw.Address)
	b.roleAssignment(c, obs, "grafana_monitoring_reader", "Monitoring Reader", blueprint.SubscriptionID(b.sub), n.Grafana, amg.Address)
	dce := b.add(&Resource{Address: c.a(obs, "data_collection_endpoint"), Type: "Microsoft.Insights/dataCollectionEndpoints", Name: n.DataCollectionEndpt, Cluster: c.cl, Module: obs,
		ID: b.id(c, "Microsoft.Insights/dataCollectionEndpoints", n.DataCollectionEndpt), DependsOn: []string{c.rg}, Attributes: map[string]Value{"location": known(loc), "kind": known("Linux")}, Local: co})
	dcrLogs := b.add(&Resource{Address: c.a(obs, "data_collection_rule_logs"), Type: "Microsoft.Insights/dataCollectionRules", Name: n.DataCollectionLogs, Cluster: c.cl, Module: obs,
		ID: b.id(c, "Microsoft.Insights/dataCollectionRules", n.DataCollectionLogs), DependsOn: []string{law.Address, dce.Address},
		Attributes: map[string]Value{"location": known(loc), "streams": known([]string{"Microsoft-ContainerInsights-Group-Default"}), "interval": known("1m"),
			"namespaces": known([]string{"kube-system", "gatekeeper-system", "azure-arc", cfg.AIONamespace})}, Local: co})
	dcrMetrics := b.add(&Resource{Address: c.a(obs, "data_collection_rule_metrics"), Type: "Microsoft.Insights/dataCollectionRules", Name: n.DataCollectionMetr, Cluster: c.cl, Module: obs,
		ID: b.id(c, "Microsoft.Insights/dataCollectionRules", n.DataCollectionMetr), DependsOn: []string{amw.Address, dce.Address},
		Attributes: map[string]Value{"location": known(loc), "streams": known([]string{"Microsoft-PrometheusMetrics"})}, Local: co})

	// 030 data.
	data := "cloud_data"
	cd := cloudOnly("Azure Storage and Device Registry have no local counterpart")
	stID := b.id(c, "Microsoft.Storage/storageAccounts", n.StorageAccount)
	st := b.add(&Resource{Address: c.a(data, "storage_account"), Type: "Microsoft.Storage/storageAccounts", Name: n.StorageAccount, Cluster: c.cl, Module: data, ID: stID,
		DependsOn: []string{c.rg},
		Attributes: map[string]Value{"location": known(loc), "sku": known("Standard_LRS"), "kind": known("StorageV2"), "is_hns_enabled": known(true),
			"min_tls_version": known("TLS1_2"), "shared_access_key_enabled": known(false)}, Local: cd})
	for _, ct := range []string{"data", "datalake", "schemas"} {
		b.add(&Resource{Address: c.a(data, "container_"+ct), Type: "Microsoft.Storage/storageAccounts/blobServices/containers", Name: ct, Cluster: c.cl, Module: data,
			ID: b.id(c, "Microsoft.Storage/storageAccounts/blobServices/containers", n.StorageAccount, "default", ct), DependsOn: []string{st.Address}, Local: cd})
	}
	b.roleAssignment(c, data, "storage_blob_data_owner", "Storage Blob Data Owner", stID, "deploying user", st.Address)
	srID := b.id(c, "Microsoft.DeviceRegistry/schemaRegistries", n.SchemaRegistry)
	sr := b.add(&Resource{Address: c.a(data, "schema_registry"), Type: "Microsoft.DeviceRegistry/schemaRegistries", Name: n.SchemaRegistry, Cluster: c.cl, Module: data, ID: srID,
		DependsOn:  []string{c.a(data, "container_schemas")},
		Attributes: map[string]Value{"location": known(loc), "namespace": known(n.SchemaRegistryNamespace), "storage_account_container_url": computed("https://" + n.StorageAccount + ".blob.core.windows.net/schemas"), "identity": known("SystemAssigned")}, Local: cd})
	b.roleAssignment(c, data, "schema_registry_blob_contributor", "Storage Blob Data Contributor", stID+"/blobServices/default/containers/schemas", n.SchemaRegistry, sr.Address)
	adr := b.add(&Resource{Address: c.a(data, "adr_namespace"), Type: "Microsoft.DeviceRegistry/namespaces", Name: n.ADRNamespace, Cluster: c.cl, Module: data,
		ID: b.id(c, "Microsoft.DeviceRegistry/namespaces", n.ADRNamespace), DependsOn: []string{c.rg}, Attributes: map[string]Value{"location": known(loc), "identity": known("SystemAssigned")}, Local: cd})
	if cfg.ShouldEnablePrivateEndpoints {
		b.privateEndpoint(c, data, "storage", "pe-"+n.StorageAccount, stID, "blob", "privatelink.blob.core.windows.net", "vnet-pzl-st-"+n.Prefix+"-"+cfg.Environment+"-"+cfg.Instance, subnet.Address, st.Address)
	}

	// 040 messaging.
	msg := "cloud_messaging"
	cm := cloudOnly("Event Hubs and Event Grid are Azure services; locally the dataflow stays between the two brokers")
	evhnsID := b.id(c, "Microsoft.EventHub/namespaces", n.EventHubNamespace)
	evhns := b.add(&Resource{Address: c.a(msg, "eventhub_namespace"), Type: "Microsoft.EventHub/namespaces", Name: n.EventHubNamespace, Cluster: c.cl, Module: msg, ID: evhnsID,
		DependsOn: []string{c.rg}, Attributes: map[string]Value{"location": known(loc), "sku": known("Standard"), "capacity": known(1), "local_authentication_enabled": known(false)}, Local: cm})
	evh := b.add(&Resource{Address: c.a(msg, "eventhub"), Type: "Microsoft.EventHub/namespaces/eventhubs", Name: n.EventHub, Cluster: c.cl, Module: msg,
		ID: b.id(c, "Microsoft.EventHub/namespaces/eventhubs", n.EventHubNamespace, n.EventHub), DependsOn: []string{evhns.Address},
		Attributes: map[string]Value{"partition_count": known(1), "message_retention_days": known(1)}, Local: cm})
	b.roleAssignment(c, msg, "eventhub_data_sender", "Azure Event Hubs Data Sender", evhnsID, n.IdentityAIO, evh.Address, c.addr["identity_aio"])
	evgnsID := b.id(c, "Microsoft.EventGrid/namespaces", n.EventGridNamespace)
	evgns := b.add(&Resource{Address: c.a(msg, "eventgrid_namespace"), Type: "Microsoft.EventGrid/namespaces", Name: n.EventGridNamespace, Cluster: c.cl, Module: msg, ID: evgnsID,
		DependsOn: []string{c.rg}, Attributes: map[string]Value{"location": known(loc), "sku": known("Standard"), "capacity": known(1), "maximum_client_sessions_per_authentication_name": known(8)}, Local: cm})
	ts := b.add(&Resource{Address: c.a(msg, "eventgrid_topic_space"), Type: "Microsoft.EventGrid/namespaces/topicSpaces", Name: n.EventGridTopicSpace, Cluster: c.cl, Module: msg,
		ID: b.id(c, "Microsoft.EventGrid/namespaces/topicSpaces", n.EventGridNamespace, n.EventGridTopicSpace), DependsOn: []string{evgns.Address},
		Attributes: map[string]Value{"topic_templates": known([]string{"default"})}, Local: cm})
	b.roleAssignment(c, msg, "eventgrid_publisher", "EventGrid TopicSpaces Publisher", evgnsID, n.IdentityAIO, ts.Address, c.addr["identity_aio"])

	// 051 VM host.
	vmm := "cloud_vm_host"
	pip := b.add(&Resource{Address: c.a(vmm, "public_ip"), Type: "Microsoft.Network/publicIPAddresses", Name: n.PublicIP, Cluster: c.cl, Module: vmm,
		ID: b.id(c, "Microsoft.Network/publicIPAddresses", n.PublicIP), DependsOn: []string{c.rg},
		Attributes: map[string]Value{"location": known(loc), "sku": known("Standard"), "allocation_method": known("Static"), "domain_name_label": known(n.DNSLabel), "ip_address": computed(nil)},
		Local:      cloudOnly("the local lab is never reachable from outside the host")})
	vmIP := b.cfg.VMPrivateIP(c.key)
	var pred any
	if vmIP.IsValid() {
		pred = vmIP.String()
	}
	nicID := b.id(c, "Microsoft.Network/networkInterfaces", n.NIC)
	nic := b.add(&Resource{Address: c.a(vmm, "network_interface"), Type: "Microsoft.Network/networkInterfaces", Name: n.NIC, Cluster: c.cl, Module: vmm, ID: nicID,
		DependsOn: []string{subnet.Address, pip.Address},
		Attributes: map[string]Value{"location": known(loc), "ip_configuration": known(n.IPConfig), "private_ip_address_allocation": known("Dynamic"),
			"private_ip_address": computed(pred), "subnet": known(n.Subnet)},
		Local: supported("a veth into the VM namespace with the address Azure would give (the 4th host address)")})
	c.addr["nic"] = nic.Address
	vmID := blueprint.VirtualMachineID(b.sub, n.ResourceGroup, n.VM)
	vm := b.add(&Resource{Address: c.a(vmm, "virtual_machine"), Type: "Microsoft.Compute/virtualMachines", Name: n.VM, Cluster: c.cl, Module: vmm, ID: vmID,
		DependsOn: []string{nic.Address, c.addr["identity_arc"]},
		Attributes: map[string]Value{"location": known(loc), "size": known("Standard_D8s_v6"), "image": known("Canonical:ubuntu-24_04-lts:server:latest"),
			"admin_username": known(cfg.ResourcePrefix), "computer_name": known(n.ComputerName), "os_disk": known(n.OSDisk), "ssh_public_key": computed(nil),
			"admin_ssh_private_key": sensitive(), "identity": known("SystemAssigned, UserAssigned(" + n.IdentityArc + ")"), "private_ip_address": computed(pred)},
		Local: supported("a network namespace running `dualpeer agent`")})
	c.addr["vm"] = vm.Address
	b.add(&Resource{Address: c.a(vmm, "aad_ssh_login"), Type: "Microsoft.Compute/virtualMachines/extensions", Name: "AADSSHLoginForLinux", Cluster: c.cl, Module: vmm,
		ID: b.id(c, "Microsoft.Compute/virtualMachines/extensions", n.VM, "AADSSHLoginForLinux"), DependsOn: []string{vm.Address},
		Attributes: map[string]Value{"publisher": known("Microsoft.Azure.ActiveDirectory"), "type": known("AADSSHLoginForLinux")},
		Local:      cloudOnly("Entra ID SSH login; locally use `dualpeer exec`")})
	b.roleAssignment(c, vmm, "vm_admin_login", "Virtual Machine Administrator Login", c.rgID, "deploying user", vm.Address)

	// 060 ACR.
	acrID := b.id(c, "Microsoft.ContainerRegistry/registries", n.ACR)
	acr := b.add(&Resource{Address: c.a("cloud_acr", "container_registry"), Type: "Microsoft.ContainerRegistry/registries", Name: n.ACR, Cluster: c.cl, Module: "cloud_acr", ID: acrID,
		DependsOn: []string{c.rg}, Attributes: map[string]Value{"location": known(loc), "sku": known("Premium"), "public_network_access": known(false), "export_policy": known(false)},
		Local: cloudOnly("container images are not used by the local agents")})
	if cfg.ShouldCreateACRPrivateEndpoint || cfg.ShouldEnablePrivateEndpoints {
		prefixes := cfg.ClusterASubnetPrefixesACR
		if c.key == "b" {
			prefixes = cfg.ClusterBSubnetPrefixesACR
		}
		sn := b.add(&Resource{Address: c.a("cloud_acr", "subnet"), Type: "Microsoft.Network/virtualNetworks/subnets", Name: n.SubnetACR, Cluster: c.cl, Module: "cloud_acr",
			ID: blueprint.SubnetID(b.sub, n.ResourceGroup, n.VNet, n.SubnetACR), DependsOn: []string{vnet.Address, subnet.Address},
			Attributes: map[string]Value{"address_prefixes": known(prefixes)}, Local: cloudOnly("only the ACR private endpoint uses it")})
		b.privateEndpoint(c, "cloud_acr", "acr", "pe-acr-"+n.ACR, acrID, "registry", "privatelink.azurecr.io", "vnet-pzl-acr-"+n.Prefix+"-"+cfg.Environment+"-"+cfg.Instance, sn.Address, acr.Address)
	}

	// 070 AKS (optional).
	if cfg.ShouldCreateAKS {
		b.aks(c, vnet.Address, subnet.Address)
	}

	// 100 CNCF cluster: the K3s + Arc script, its Key Vault secret and the CustomScript extension.
	cncf := "edge_cncf_cluster"
	rgScope := c.rgID
	arcRole := b.roleAssignment(c, cncf, "arc_onboarding", roleArcOnboarding, rgScope, n.IdentityArc, c.addr["identity_arc"])
	arcKV := b.roleAssignment(c, cncf, "arc_key_vault_secrets_officer", roleKVSecretsOfficer, kvID, n.IdentityArc, c.addr["identity_arc"], kv.Address)
	b.roleAssignment(c, cncf, "arc_key_vault_reader", roleKVReader, kvID, n.IdentityArc, c.addr["identity_arc"], kv.Address)
	for _, s := range []string{"ubuntu-k3s-server-script", "ubuntu-k3s-node-script"} {
		b.add(&Resource{Address: c.a(cncf, "secret_"+s), Type: "Microsoft.KeyVault/vaults/secrets", Name: s, Cluster: c.cl, Module: cncf,
			ID: blueprint.ResourceID(b.sub, n.ResourceGroup, "Microsoft.KeyVault/vaults/secrets", n.KeyVault, s), DependsOn: []string{kv.Address, c.addr["kv_role"]},
			Attributes: map[string]Value{"value": sensitive()}, Local: cloudOnly("locally there is no K3s to install")})
	}
	ext := b.add(&Resource{Address: c.a(cncf, "vm_extension"), Type: "Microsoft.Compute/virtualMachines/extensions", Name: "linux-cluster-server-setup", Cluster: c.cl, Module: cncf,
		ID:        b.id(c, "Microsoft.Compute/virtualMachines/extensions", n.VM, "linux-cluster-server-setup"),
		DependsOn: []string{vm.Address, c.a(cncf, "secret_ubuntu-k3s-server-script"), arcRole.Address, arcKV.Address},
		Attributes: map[string]Value{"publisher": known("Microsoft.Azure.Extensions"), "type": known("CustomScript"), "type_handler_version": known("2.1"),
			"auto_upgrade_minor_version": known(false), "protected_settings.script": sensitive()},
		Local: cloudOnly("locally `dualpeer agent` plays the part of K3s and Arc")})
	arcID := blueprint.ConnectedClusterID(b.sub, n.ResourceGroup, n.ArcCluster)
	arc := b.add(&Resource{Address: c.a(cncf, "arc_connected_cluster"), Type: "Microsoft.Kubernetes/connectedClusters", Name: n.ArcCluster, Cluster: c.cl, Module: cncf, ID: arcID,
		DependsOn: []string{ext.Address},
		Attributes: map[string]Value{"location": known(loc), "created_by": known("the VM's setup script (az connectedk8s connect)"), "oidc_issuer_url": computed(nil),
			"features": known([]string{"cluster-connect", "custom-locations"})},
		Local: cloudOnly("Azure Arc; locally the agent is the cluster")})
	c.addr["arc"] = arc.Address

	// 109 Arc extensions.
	arcExt := "edge_arc_extensions"
	extension := func(module, key, name, typ, version, train string, deps []string, attrs map[string]Value) *Resource {
		if attrs == nil {
			attrs = map[string]Value{}
		}
		attrs["extension_type"] = known(typ)
		if version != "" {
			attrs["version"] = known(version)
		}
		if train != "" {
			attrs["release_train"] = known(train)
		}
		return b.add(&Resource{Address: c.a(module, key), Type: "Microsoft.KubernetesConfiguration/extensions", Name: name, Cluster: c.cl, Module: module,
			ID: blueprint.ExtensionResourceID(arcID, "Microsoft.KubernetesConfiguration/extensions", name), DependsOn: append([]string{arc.Address}, deps...),
			Attributes: attrs, Local: cloudOnly("Arc cluster extensions install into Kubernetes; the local agent has the features built in")})
	}
	certMgr := extension(arcExt, "cert_manager", "arc-cert-manager", "microsoft.certmanagement", "0.14.0", "stable", nil, map[string]Value{"namespace": known("cert-manager")})
	storage := extension(arcExt, "container_storage", "azure-arc-containerstorage", "microsoft.arc.containerstorage", "2.6.0", "stable", []string{certMgr.Address}, nil)
	secretStore := extension(arcExt, "secret_store", "azure-secret-store", "microsoft.azure.secretstore", "1.5.1", "stable", []string{certMgr.Address},
		map[string]Value{"rotation_poll_interval_in_seconds": known(120)})

	// 110 IoT Operations.
	iot := "edge_iot_ops"
	iotExt := extension(iot, "iot_ops_extension", "iot-ops", "microsoft.iotoperations", "1.4.41", "stable", []string{storage.Address, secretStore.Address, sr.Address},
		map[string]Value{"namespace": known(cfg.AIONamespace), "trust_source": known("CustomerManaged")})
	b.roleAssignment(c, iot, "iot_ops_schema_registry_contributor", "Contributor", srID, "iot-ops extension identity", iotExt.Address)
	clID := blueprint.CustomLocationID(b.sub, n.ResourceGroup, n.CustomLocation)
	cl := b.add(&Resource{Address: c.a(iot, "custom_location"), Type: "Microsoft.ExtendedLocation/customLocations", Name: n.CustomLocation, Cluster: c.cl, Module: iot, ID: clID,
		DependsOn: []string{iotExt.Address, secretStore.Address},
		Attributes: map[string]Value{"location": known(loc), "namespace": known(cfg.AIONamespace), "host_resource_id": known(arcID),
			"cluster_extension_ids": known([]string{blueprint.ExtensionResourceID(arcID, "Microsoft.KubernetesConfiguration/extensions", "azure-secret-store"), blueprint.ExtensionResourceID(arcID, "Microsoft.KubernetesConfiguration/extensions", "iot-ops")})},
		Local: cloudOnly("custom locations map Azure resources onto Kubernetes; locally the agent reads them directly")})
	c.addr["custom_location"] = cl.Address
	if cfg.ShouldDeployResourceSyncRules {
		for _, rs := range []struct {
			suffix   string
			priority int
		}{{"broker-sync", 400}, {"adr-sync", 200}} {
			name := n.CustomLocation + "-" + rs.suffix
			b.add(&Resource{Address: c.a(iot, "resource_sync_rule_"+rs.suffix[:len(rs.suffix)-5]), Type: "Microsoft.ExtendedLocation/customLocations/resourceSyncRules", Name: name, Cluster: c.cl, Module: iot,
				ID: b.id(c, "Microsoft.ExtendedLocation/customLocations/resourceSyncRules", n.CustomLocation, name), DependsOn: []string{cl.Address},
				Attributes: map[string]Value{"priority": known(rs.priority)}, Local: cloudOnly("resource sync needs a custom location")})
		}
	}
	for _, fc := range []struct{ key, name, identity, identityAddr, subject string }{
		{"federated_sse", "aio-sse-ficred", n.IdentitySSE, c.addr["identity_sse"], "system:serviceaccount:" + cfg.AIONamespace + ":aio-ssc-sa"},
		{"federated_aio", "aio-instance-ficred", n.IdentityAIO, c.addr["identity_aio"], "system:serviceaccount:" + cfg.AIONamespace + ":aio-dataflow"},
		{"federated_cert_manager", "cert-manager-sse-ficred", n.IdentitySSE, c.addr["identity_sse"], "system:serviceaccount:cert-manager:sa-federated-cred-sse"},
	} {
		b.add(&Resource{Address: c.a(iot, fc.key), Type: "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials", Name: fc.name, Cluster: c.cl, Module: iot,
			ID: b.id(c, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials", fc.identity, fc.name), DependsOn: []string{fc.identityAddr, arc.Address},
			Attributes: map[string]Value{"audience": known([]string{"api://AzureADTokenExchange"}), "issuer": computed(nil), "subject": known(fc.subject)},
			Local:      cloudOnly("workload identity federation is an Entra ID feature")})
	}
	spcName := n.SecretProviderName
	spc := b.add(&Resource{Address: c.a(iot, "default_secret_provider_class"), Type: "Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses", Name: spcName, Cluster: c.cl, Module: iot,
		ID: b.id(c, "Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses", spcName), DependsOn: []string{cl.Address, kv.Address, c.addr["identity_sse"]},
		Attributes: map[string]Value{"extended_location": known(n.CustomLocation), "keyvault_name": known(n.KeyVault), "client_id": computed(nil), "tenant_id": computed(nil)},
		Local:      supported("the agent reads the local vault directory")})
	instID := blueprint.AIOInstanceID(b.sub, n.ResourceGroup, n.AIOInstance)
	features := map[string]any{}
	for k, f := range cfg.AIOFeatures {
		m := map[string]any{}
		if f.Mode != nil {
			m["mode"] = *f.Mode
		}
		if len(f.Settings) > 0 {
			m["settings"] = f.Settings
		}
		features[k] = m
	}
	inst := b.add(&Resource{Address: c.a(iot, "instance"), Type: "Microsoft.IoTOperations/instances", Name: n.AIOInstance, Cluster: c.cl, Module: iot, ID: instID,
		DependsOn: []string{cl.Address, spc.Address, sr.Address, adr.Address, c.addr["identity_aio"]},
		Attributes: map[string]Value{"location": known(loc), "extended_location": known(n.CustomLocation), "schema_registry": known(n.SchemaRegistry),
			"adr_namespace": known(n.ADRNamespace), "identity": known("UserAssigned(" + n.IdentityAIO + ")"), "features": known(features)},
		Local: supported("the cluster's `dualpeer agent`")})
	c.addr["instance"] = inst.Address
	aio := func(module, key, typ, name string, parents []string, deps []string, attrs map[string]Value, local LocalSupport) *Resource {
		names := append(append([]string{n.AIOInstance}, parents...), name)
		if attrs == nil {
			attrs = map[string]Value{}
		}
		attrs["extended_location"] = known(n.CustomLocation)
		return b.add(&Resource{Address: c.a(module, key), Type: typ, Name: name, Cluster: c.cl, Module: module,
			ID: b.id(c, typ, names...), DependsOn: append([]string{inst.Address}, deps...), Attributes: attrs, Local: local})
	}
	localOK := supported("the embedded broker / dataflow engine of the agent")
	broker := aio(iot, "broker", "Microsoft.IoTOperations/instances/brokers", "default", nil, nil,
		map[string]Value{"memory_profile": known("Medium"), "frontend_replicas": known(2), "backend_partitions": known(2)}, localOK)
	c.addr["broker"] = broker.Address
	authn := aio(iot, "broker_authentication", "Microsoft.IoTOperations/instances/brokers/authentications", "default", []string{"default"}, []string{broker.Address},
		map[string]Value{"method": known("ServiceAccountToken"), "audiences": known([]string{"aio-internal"})}, localOK)
	aio(iot, "broker_listener", "Microsoft.IoTOperations/instances/brokers/listeners", "default", []string{"default"}, []string{broker.Address, authn.Address},
		map[string]Value{"service_type": known("ClusterIp"), "service_name": known("aio-broker"), "port": known(18883), "authentication_ref": known("default"),
			"tls": known("Automatic (issuer-custom-root-ca-cert)")}, localOK)
	if cfg.ShouldCreateAnonymousBrokerListener {
		aio(iot, "broker_listener_anonymous", "Microsoft.IoTOperations/instances/brokers/listeners", "default-anon", []string{"default"}, []string{broker.Address},
			map[string]Value{"service_type": known("NodePort"), "service_name": known("aio-broker-anon"), "port": known(18884), "node_port": known(31884),
				"authentication_ref": known(nil), "tls": known("none")}, localOK)
	}
	profile := aio(iot, "dataflow_profile", "Microsoft.IoTOperations/instances/dataflowProfiles", "default", nil, nil, map[string]Value{"instance_count": known(1)}, localOK)
	c.addr["dataflow_profile"] = profile.Address
	defEP := aio(iot, "dataflow_endpoint", "Microsoft.IoTOperations/instances/dataflowEndpoints", "default", nil, []string{broker.Address},
		map[string]Value{"endpoint_type": known("Mqtt"), "host": known("aio-broker:18883"), "authentication": known("ServiceAccountToken (aio-internal)"),
			"tls_ca_configmap": known("azure-iot-operations-aio-ca-trust-bundle")}, localOK)
	c.addr["default_endpoint"] = defEP.Address
	aio(iot, "registry_endpoint", "Microsoft.IoTOperations/instances/registryEndpoints", "default", nil, nil,
		map[string]Value{"host": known("mcr.microsoft.com"), "authentication": known("Anonymous")}, cloudOnly("container registries are not used locally"))

	// 111 assets (nothing by default).
	assets := "edge_assets"
	ca := cloudOnly("Azure Device Registry; the local agent has no asset connectors")
	for _, d := range cfg.NamespacedDevices {
		name, _ := d["name"].(string)
		b.add(&Resource{Address: c.a(assets, "device_"+name), Type: "Microsoft.DeviceRegistry/namespaces/devices", Name: name, Cluster: c.cl, Module: assets,
			ID: b.id(c, "Microsoft.DeviceRegistry/namespaces/devices", n.ADRNamespace, name), DependsOn: []string{adr.Address, cl.Address},
			Attributes: map[string]Value{"extended_location": known(n.CustomLocation)}, Local: ca})
	}
	for _, a := range cfg.NamespacedAssets {
		name, _ := a["name"].(string)
		deps := []string{adr.Address, cl.Address}
		b.add(&Resource{Address: c.a(assets, "asset_"+name), Type: "Microsoft.DeviceRegistry/namespaces/assets", Name: name, Cluster: c.cl, Module: assets,
			ID: b.id(c, "Microsoft.DeviceRegistry/namespaces/assets", n.ADRNamespace, name), DependsOn: deps,
			Attributes: map[string]Value{"extended_location": known(n.CustomLocation)}, Local: ca})
	}
	for _, p := range cfg.AssetEndpointProfiles {
		name, _ := p["name"].(string)
		b.add(&Resource{Address: c.a(assets, "asset_endpoint_profile_"+name), Type: "Microsoft.DeviceRegistry/assetEndpointProfiles", Name: name, Cluster: c.cl, Module: assets,
			ID: b.id(c, "Microsoft.DeviceRegistry/assetEndpointProfiles", name), DependsOn: []string{cl.Address}, Local: ca})
	}
	for _, a := range cfg.Assets {
		name, _ := a["name"].(string)
		b.add(&Resource{Address: c.a(assets, "legacy_asset_"+name), Type: "Microsoft.DeviceRegistry/assets", Name: name, Cluster: c.cl, Module: assets,
			ID: b.id(c, "Microsoft.DeviceRegistry/assets", name), DependsOn: []string{cl.Address}, Local: ca})
	}

	// 120 edge observability.
	eo := "edge_observability"
	metrics := extension(eo, "azuremonitor_metrics", "azuremonitor-metrics", "Microsoft.AzureMonitor.Containers.Metrics", "", "", []string{amw.Address, amg.Address},
		map[string]Value{"azure_monitor_workspace": known(n.MonitorWorkspace), "grafana": known(n.Grafana)})
	containers := extension(eo, "azuremonitor_containers", "azuremonitor-containers", "Microsoft.AzureMonitor.Containers", "", "stable", []string{law.Address},
		map[string]Value{"log_analytics_workspace": known(n.LogAnalytics), "use_aad_auth": known(true)})
	for _, dcr := range []struct {
		key, name string
		dep       *Resource
	}{{"dcr_association_logs", n.DataCollectionLogs, dcrLogs}, {"dcr_association_metrics", n.DataCollectionMetr, dcrMetrics}} {
		assoc := dcr.name + "-association"
		b.add(&Resource{Address: c.a(eo, dcr.key), Type: "Microsoft.Insights/dataCollectionRuleAssociations", Name: assoc, Cluster: c.cl, Module: eo,
			ID: blueprint.ExtensionResourceID(arcID, "Microsoft.Insights/dataCollectionRuleAssociations", assoc), DependsOn: []string{dcr.dep.Address, arc.Address, metrics.Address, containers.Address},
			Attributes: map[string]Value{"data_collection_rule": known(dcr.name)}, Local: co})
	}
	for _, g := range []string{"node", "k8s"} {
		name := g + "-group-" + n.ArcCluster
		b.add(&Resource{Address: c.a(eo, "prometheus_rule_group_"+g), Type: "Microsoft.AlertsManagement/prometheusRuleGroups", Name: name, Cluster: c.cl, Module: eo,
			ID: b.id(c, "Microsoft.AlertsManagement/prometheusRuleGroups", name), DependsOn: []string{amw.Address, arc.Address},
			Attributes: map[string]Value{"location": known(loc), "cluster_name": known(n.ArcCluster)}, Local: co})
	}

	// 130 edge messaging.
	em := "edge_messaging"
	cem := cloudOnly("the endpoints are Azure Event Hubs and Event Grid")
	env, in, pfx := cfg.Environment, cfg.Instance, n.Prefix
	ehEP := aio(em, "eventhub_endpoint", "Microsoft.IoTOperations/instances/dataflowEndpoints", "dfe-eh-"+pfx+"-"+env+"-sample-"+in, nil, []string{evh.Address},
		map[string]Value{"endpoint_type": known("Kafka"), "host": known(n.EventHubNamespace + ".servicebus.windows.net:9093"), "authentication": known("UserAssignedManagedIdentity")}, cem)
	egEP := aio(em, "eventgrid_endpoint", "Microsoft.IoTOperations/instances/dataflowEndpoints", "dfe-eg-"+pfx+"-"+env+"-sample-"+in, nil, []string{ts.Address},
		map[string]Value{"endpoint_type": known("Mqtt"), "host": known(n.EventGridNamespace + "." + loc + "-1.ts.eventgrid.azure.net:8883")}, cem)
	for _, x := range []struct {
		key, name string
		ep        *Resource
	}{{"eventhub", "df-eh-" + pfx + "-" + env + "-passthrough-" + in, ehEP}, {"eventgrid", "df-eg-" + pfx + "-" + env + "-passthrough-" + in, egEP}} {
		aio(em, x.key+"_dataflow", "Microsoft.IoTOperations/instances/dataflowProfiles/dataflows", x.name, []string{"default"}, []string{profile.Address, x.ep.Address, defEP.Address},
			map[string]Value{"source": known("default"), "destination": known(x.ep.Name), "mode": known("Enabled")}, cem)
	}
}

func (b *builder) privateEndpoint(c *cluster, module, key, name, targetID, group, zone, link, subnetAddr, targetAddr string) {
	n := c.n
	cp := cloudOnly("private endpoints are an Azure network feature")
	zoneR := b.add(&Resource{Address: c.a(module, key+"_private_dns_zone"), Type: "Microsoft.Network/privateDnsZones", Name: zone, Cluster: c.cl, Module: module,
		ID: b.id(c, "Microsoft.Network/privateDnsZones", zone), DependsOn: []string{c.rg}, Local: cp})
	b.add(&Resource{Address: c.a(module, key+"_private_dns_link"), Type: "Microsoft.Network/privateDnsZones/virtualNetworkLinks", Name: link, Cluster: c.cl, Module: module,
		ID: b.id(c, "Microsoft.Network/privateDnsZones/virtualNetworkLinks", zone, link), DependsOn: []string{zoneR.Address, c.addr["vnet"]},
		Attributes: map[string]Value{"virtual_network": known(n.VNet)}, Local: cp})
	b.add(&Resource{Address: c.a(module, key+"_private_endpoint"), Type: "Microsoft.Network/privateEndpoints", Name: name, Cluster: c.cl, Module: module,
		ID: b.id(c, "Microsoft.Network/privateEndpoints", name), DependsOn: []string{subnetAddr, targetAddr, zoneR.Address},
		Attributes: map[string]Value{"target": known(targetID), "group_id": known(group), "private_ip_address": computed(nil)}, Local: cp})
}

func (b *builder) aks(c *cluster, vnetAddr, subnetAddr string) {
	cfg, n := b.cfg, c.n
	sz, aksP, podP := cfg.ClusterA, cfg.ClusterASubnetPrefixesAKS, cfg.ClusterASubnetPrefixesAKSPod
	if c.key == "b" {
		sz, aksP, podP = cfg.ClusterB, cfg.ClusterBSubnetPrefixesAKS, cfg.ClusterBSubnetPrefixesAKSPod
	}
	m := "cloud_kubernetes"
	ck := cloudOnly("AKS is an Azure service; locally each cluster is one agent")
	sn := b.add(&Resource{Address: c.a(m, "subnet_aks"), Type: "Microsoft.Network/virtualNetworks/subnets", Name: n.SubnetAKS, Cluster: c.cl, Module: m,
		ID: blueprint.SubnetID(b.sub, n.ResourceGroup, n.VNet, n.SubnetAKS), DependsOn: []string{vnetAddr, subnetAddr},
		Attributes: map[string]Value{"address_prefixes": known(aksP)}, Local: ck})
	pod := b.add(&Resource{Address: c.a(m, "subnet_aks_pod"), Type: "Microsoft.Network/virtualNetworks/subnets", Name: n.SubnetAKSPod, Cluster: c.cl, Module: m,
		ID: blueprint.SubnetID(b.sub, n.ResourceGroup, n.VNet, n.SubnetAKSPod), DependsOn: []string{vnetAddr, sn.Address},
		Attributes: map[string]Value{"address_prefixes": known(podP)}, Local: ck})
	attrs := map[string]Value{"location": known(cfg.Location), "dns_prefix": known(n.AKSDNSPrefix), "node_count": known(sz.NodeCount), "node_vm_size": known(sz.NodeVMSize),
		"enable_auto_scaling": known(sz.EnableAutoScaling)}
	if sz.MinCount != nil {
		attrs["min_count"] = known(*sz.MinCount)
	}
	if sz.MaxCount != nil {
		attrs["max_count"] = known(*sz.MaxCount)
	}
	aks := b.add(&Resource{Address: c.a(m, "aks"), Type: "Microsoft.ContainerService/managedClusters", Name: n.AKS, Cluster: c.cl, Module: m,
		ID: b.id(c, "Microsoft.ContainerService/managedClusters", n.AKS), DependsOn: []string{sn.Address, pod.Address}, Attributes: attrs, Local: ck})
	pools := make([]string, 0, len(sz.NodePools))
	for k := range sz.NodePools {
		pools = append(pools, k)
	}
	sort.Strings(pools)
	for _, k := range pools {
		p := sz.NodePools[k]
		b.add(&Resource{Address: c.a(m, "node_pool_"+k), Type: "Microsoft.ContainerService/managedClusters/agentPools", Name: k, Cluster: c.cl, Module: m,
			ID: b.id(c, "Microsoft.ContainerService/managedClusters/agentPools", n.AKS, k), DependsOn: []string{aks.Address},
			Attributes: map[string]Value{"node_count": known(p.NodeCount), "vm_size": known(p.VMSize), "vnet_subnet_prefixes": known(p.SubnetAddressPrefixes),
				"pod_subnet_prefixes": known(p.PodSubnetAddressPrefixes), "node_taints": known(p.NodeTaints), "enable_auto_scaling": known(p.EnableAutoScaling)},
			Local: ck})
	}
}

// peerings adds the two directions of the VNet peering with the spec's four settings.
func (b *builder) peerings(ca, cb *cluster) {
	cfg := b.cfg
	for _, p := range []struct{ from, to *cluster }{{ca, cb}, {cb, ca}} {
		remoteID := blueprint.VirtualNetworkID(b.sub, p.to.n.ResourceGroup, p.to.n.VNet)
		b.add(&Resource{Address: p.from.a("vnet_peering", "peering"), Type: "Microsoft.Network/virtualNetworks/virtualNetworkPeerings", Name: p.from.n.Peering,
			Cluster: p.from.cl, Module: "vnet_peering", ID: blueprint.PeeringID(b.sub, p.from.n.ResourceGroup, p.from.n.VNet, p.from.n.Peering),
			DependsOn: []string{p.from.addr["vnet"], p.to.addr["vnet"], p.from.addr["subnet"], p.to.addr["subnet"]},
			Attributes: map[string]Value{
				"virtual_network":              known(p.from.n.VNet),
				"remote_virtual_network_id":    known(remoteID),
				"remote_address_space":         known([]string{p.to.vnet.AddressSpace}),
				"allow_virtual_network_access": known(cfg.VnetPeeringAllowVirtualNetworkAccess),
				"allow_forwarded_traffic":      known(cfg.VnetPeeringAllowForwardedTraffic),
				"allow_gateway_transit":        known(cfg.VnetPeeringAllowGatewayTransit),
				"use_remote_gateways":          known(cfg.VnetPeeringUseRemoteGateways),
				"peering_state":                computed("Connected"),
			},
			Local: supported("a veth pair between the router namespaces; access and forwarding enforced with nftables")})
	}
}

// certSecrets are the 8 Key Vault secrets key-vault-publisher writes to both vaults.
var certSecrets = []struct{ name, chain, kind string }{
	{"server-root-ca-crt", "server", "root certificate"},
	{"server-intermediate-ca-crt", "server", "intermediate certificate"},
	{"server-leaf-ca-crt", "server", "leaf + intermediate + root bundle"},
	{"server-leaf-ca-key", "server", "leaf private key"},
	{"client-root-ca-crt", "client", "root certificate"},
	{"client-intermediate-ca-crt", "client", "intermediate certificate"},
	{"client-leaf-ca-crt", "client", "leaf + intermediate + root bundle"},
	{"client-leaf-ca-key", "client", "leaf private key"},
}

// CertSecretNames lists the Key Vault secret names of the certificates, in publishing order.
func CertSecretNames() []string {
	out := make([]string, len(certSecrets))
	for i, s := range certSecrets {
		out[i] = s.name
	}
	return out
}

// certificates adds one resource per chain (server, client) and the Key Vault secrets.
func (b *builder) certificates(ca, cb *cluster) {
	cfg := b.cfg
	mode := string(cfg.CertMode())
	if cfg.ExternalCertificates != nil {
		mode = "external"
	}
	if cfg.CertMode() == blueprint.CertModeKeyVault && cfg.ExternalCertificates == nil {
		return // the chains are expected in Key Vault already; nothing to generate or publish
	}
	vmIP := cfg.VMPrivateIP("a")
	var ipPred any
	if vmIP.IsValid() {
		ipPred = vmIP.String()
	}
	profile := map[string]Value{}
	step := cfg.CertMode() == blueprint.CertModeStep && cfg.ExternalCertificates == nil
	keyAlg, leafAlg, leafHours := "RSA 4096", "RSA 2048", 8760
	if step {
		keyAlg, leafAlg, leafHours = "ECDSA P-256", "ECDSA P-256", 2400
	}
	profile["mode"] = known(mode)
	for _, chain := range []struct {
		key, root, inter, leaf string
	}{{"server", "AIO Root CA", "AIO Intermediate CA 1", "mqtts-endpoint"}, {"client", "Client Root CA", "Client Intermediate CA 1", "client"}} {
		attrs := map[string]Value{
			"mode":                     known(mode),
			"root_common_name":         known(chain.root),
			"intermediate_common_name": known(chain.inter),
			"leaf_common_name":         known(chain.leaf),
			"ca_key_algorithm":         known(keyAlg),
			"leaf_key_algorithm":       known(leafAlg),
			"leaf_validity_hours":      known(leafHours),
			"root_private_key":         sensitive(),
			"intermediate_private_key": sensitive(),
			"leaf_private_key":         sensitive(),
		}
		if mode == "external" {
			for _, k := range []string{"ca_key_algorithm", "leaf_key_algorithm", "leaf_validity_hours", "root_common_name", "intermediate_common_name", "leaf_common_name"} {
				delete(attrs, k)
			}
		}
		deps := []string{}
		if chain.key == "server" {
			attrs["leaf_extended_key_usage"] = known([]string{"server_auth"})
			if step {
				attrs["leaf_extended_key_usage"] = known([]string{"server_auth", "client_auth"})
				attrs["leaf_dns_sans"] = known([]string{})
				attrs["leaf_ip_sans"] = computed([]any{ipPred})
			} else {
				attrs["leaf_dns_sans"] = known([]string{"mqtts-endpoint", "localhost"})
				attrs["leaf_ip_sans"] = computed([]any{ipPred, "127.0.0.1"})
			}
			// The IP SAN is Cluster A's VM address, known once its NIC exists (predicted .4).
			attrs["server_ip_san"] = computed(ipPred)
			deps = append(deps, ca.addr["nic"])
			if mode == "external" {
				attrs["server_ip_san"] = Value{Value: "(from the supplied certificate)"}
				delete(attrs, "leaf_ip_sans")
				delete(attrs, "leaf_dns_sans")
				deps = nil
			}
		} else {
			attrs["leaf_extended_key_usage"] = known([]string{"client_auth"})
			if step {
				attrs["leaf_extended_key_usage"] = known([]string{"server_auth", "client_auth"})
				attrs["leaf_dns_sans"] = known([]string{"client"})
			}
		}
		b.add(&Resource{Address: "shared.certificates." + chain.key, Type: TypeCertificate, Name: chain.key + "-chain", Cluster: ClusterShared, Module: "certificates",
			ID: "/dualpeer/certificates/" + chain.key, DependsOn: deps, Attributes: attrs,
			Local: supported("generated into the state directory (keys 0600)")})
	}
	// key-vault-publisher: the same 8 secrets into both vaults.
	for _, c := range []*cluster{ca, cb} {
		for _, s := range certSecrets {
			key := "secret_" + s.name
			b.add(&Resource{Address: c.a("key_vault_publisher", key), Type: "Microsoft.KeyVault/vaults/secrets", Name: s.name, Cluster: c.cl, Module: "key_vault_publisher",
				ID:         blueprint.ResourceID(b.sub, c.n.ResourceGroup, "Microsoft.KeyVault/vaults/secrets", c.n.KeyVault, s.name),
				DependsOn:  []string{c.addr["kv"], c.addr["kv_role"], "shared.certificates." + s.chain},
				Attributes: map[string]Value{"value": sensitive(), "content": known(s.kind), "tags": known(map[string]string{"certificate_type": s.chain, "cluster": c.key})},
				Local:      supported("a 0600 file in the cluster's local vault directory")})
		}
	}
}

// mqtt adds the MQTT link: the server side on A, the client side on B (the spec's roles).
func (b *builder) mqtt(ca, cb *cluster) {
	cfg := b.cfg
	const m = "mqtt_configuration"
	localOK := supported("configured into the cluster's agent")
	port := cfg.EnterpriseBrokerPort
	haveSecrets := !(cfg.CertMode() == blueprint.CertModeKeyVault && cfg.ExternalCertificates == nil)
	secretDeps := func(c *cluster, names ...string) []string {
		if !haveSecrets {
			return nil
		}
		var out []string
		for _, n := range names {
			out = append(out, c.a("key_vault_publisher", "secret_"+n))
		}
		return out
	}
	// Secret sync: server leaf to A's TLS secret, client leaf to B's client secret.
	spc := func(c *cluster, objects []string, syncName, secretType string, mapping map[string]string) string {
		name := c.n.SecretProviderName + "-mqtt"
		r := b.add(&Resource{Address: c.a(m, "secret_provider_class"), Type: "Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses", Name: name, Cluster: c.cl, Module: m,
			ID:         blueprint.ResourceID(b.sub, c.n.ResourceGroup, "Microsoft.SecretSyncController/azureKeyVaultSecretProviderClasses", name),
			DependsOn:  append([]string{c.addr["custom_location"], c.addr["kv"]}, secretDeps(c, objects...)...),
			Attributes: map[string]Value{"extended_location": known(c.n.CustomLocation), "keyvault_name": known(c.n.KeyVault), "objects": known(objects), "client_id": computed(nil)},
			Local:      supported("the agent reads the local vault directory")})
		s := b.add(&Resource{Address: c.a(m, "secret_sync"), Type: "Microsoft.SecretSyncController/secretSyncs", Name: syncName, Cluster: c.cl, Module: m,
			ID: blueprint.ResourceID(b.sub, c.n.ResourceGroup, "Microsoft.SecretSyncController/secretSyncs", syncName), DependsOn: []string{r.Address},
			Attributes: map[string]Value{"extended_location": known(c.n.CustomLocation), "secret_provider_class": known(name), "kubernetes_secret_type": known(secretType),
				"service_account": known("aio-ssc-sa"), "object_secret_mapping": known(mapping)},
			Local: supported("copies the named secrets from the local vault into the cluster's secret store")})
		return s.Address
	}
	syncA := spc(ca, []string{"server-leaf-ca-crt", "server-leaf-ca-key"}, cfg.EnterpriseBrokerTLSCertSecretName, "kubernetes.io/tls",
		map[string]string{"server-leaf-ca-crt": "tls.crt", "server-leaf-ca-key": "tls.key"})
	syncB := spc(cb, []string{"client-intermediate-ca-crt", "client-leaf-ca-crt", "client-leaf-ca-key"}, cfg.SiteClientSecretName, "Opaque",
		map[string]string{"client-intermediate-ca-crt": "client_intermediate_certs.pem", "client-leaf-ca-crt": "client_cert.pem", "client-leaf-ca-key": "client_key.pem"})

	nA, nB := ca.n, cb.n
	authn := b.add(&Resource{Address: ca.a(m, "broker_authentication"), Type: "Microsoft.IoTOperations/instances/brokers/authentications", Name: "cert-auth", Cluster: ClusterA, Module: m,
		ID:        blueprint.ResourceID(b.sub, nA.ResourceGroup, "Microsoft.IoTOperations/instances/brokers/authentications", nA.AIOInstance, "default", "cert-auth"),
		DependsOn: []string{ca.addr["broker"]},
		Attributes: map[string]Value{"extended_location": known(nA.CustomLocation), "method": known("X509"),
			"trusted_client_ca_cert": known(cfg.EnterpriseClientCAConfigMapName)},
		Local: localOK})
	b.add(&Resource{Address: ca.a(m, "broker_listener"), Type: "Microsoft.IoTOperations/instances/brokers/listeners", Name: "default-loadbalancer", Cluster: ClusterA, Module: m,
		ID:        blueprint.ResourceID(b.sub, nA.ResourceGroup, "Microsoft.IoTOperations/instances/brokers/listeners", nA.AIOInstance, "default", "default-loadbalancer"),
		DependsOn: []string{ca.addr["broker"], authn.Address, syncA},
		Attributes: map[string]Value{"extended_location": known(nA.CustomLocation), "port": known(port), "protocol": known("Mqtt"), "authentication_ref": known("cert-auth"),
			"tls_mode": known("Manual"), "tls_secret_ref": known(cfg.EnterpriseBrokerTLSCertSecretName), "service_name": known("aio-broker-loadbalancer"), "service_type": known("LoadBalancer")},
		Local: localOK})

	vmIP := cfg.VMPrivateIP("a")
	var hostPred any
	if vmIP.IsValid() {
		hostPred = fmt.Sprintf("%s:%d", vmIP, port)
	}
	ep := b.add(&Resource{Address: cb.a(m, "dataflow_endpoint"), Type: "Microsoft.IoTOperations/instances/dataflowEndpoints", Name: "mqtt-cert-auth", Cluster: ClusterB, Module: m,
		ID:        blueprint.ResourceID(b.sub, nB.ResourceGroup, "Microsoft.IoTOperations/instances/dataflowEndpoints", nB.AIOInstance, "mqtt-cert-auth"),
		DependsOn: []string{cb.addr["instance"], ca.addr["nic"], syncB},
		Attributes: map[string]Value{"extended_location": known(nB.CustomLocation), "endpoint_type": known("Mqtt"), "host": computed(hostPred),
			"authentication": known("X509Certificate"), "x509_secret_ref": known(cfg.SiteClientSecretName), "client_id_prefix": known("client-cert-auth"),
			"tls_mode": known("Enabled"), "trusted_ca_configmap": known(cfg.SiteTLSCAConfigMapName), "keep_alive_seconds": known(60), "max_inflight_messages": known(100),
			"qos": known(1), "retain": known("Keep"), "session_expiry_seconds": known(3600), "cloud_event_attributes": known("Propagate")},
		Local: localOK})
	b.add(&Resource{Address: cb.a(m, "dataflow"), Type: "Microsoft.IoTOperations/instances/dataflowProfiles/dataflows", Name: "client-to-server-cert-auth", Cluster: ClusterB, Module: m,
		ID:        blueprint.ResourceID(b.sub, nB.ResourceGroup, "Microsoft.IoTOperations/instances/dataflowProfiles/dataflows", nB.AIOInstance, "default", "client-to-server-cert-auth"),
		DependsOn: []string{cb.addr["dataflow_profile"], cb.addr["default_endpoint"], ep.Address},
		Attributes: map[string]Value{"extended_location": known(nB.CustomLocation), "mode": known("Enabled"),
			"source":         known(map[string]any{"endpoint_ref": "default", "data_sources": []string{"input"}, "serialization_format": "Json"}),
			"transformation": known(map[string]any{"type": "PassThrough", "inputs": []string{"*"}, "output": "*"}),
			"destination":    known(map[string]any{"endpoint_ref": "mqtt-cert-auth", "data_destination": "output"})},
		Local: localOK})
}

// scripts adds the spec's two setup scripts as VM run commands (a second CustomScript extension
// on the same VM is rejected by Azure).
func (b *builder) scripts(ca, cb *cluster) {
	cfg := b.cfg
	type s struct {
		c       *cluster
		on      bool
		name    string
		file    string
		deps    []string
		purpose string
	}
	haveCerts := !(cfg.CertMode() == blueprint.CertModeKeyVault && cfg.ExternalCertificates == nil)
	certDeps := func(chains ...string) []string {
		if !haveCerts {
			return nil
		}
		var out []string
		for _, c := range chains {
			out = append(out, "shared.certificates."+c)
		}
		return out
	}
	for _, x := range []s{
		{ca, cfg.DeployServerScript(), "server-central", "server-central.sh", append([]string{ca.a("mqtt_configuration", "broker_listener")}, certDeps("server", "client")...),
			"client CA config map " + cfg.EnterpriseClientCAConfigMapName + ", broker TLS secret " + cfg.EnterpriseBrokerTLSCertSecretName + ", X.509 authentication and the TLS listener"},
		{cb, cfg.DeployClientScript(), "client-technology", "client-technology.sh", append([]string{cb.a("mqtt_configuration", "dataflow")}, certDeps("server", "client")...),
			"client secret " + cfg.SiteClientSecretName + ", server CA config map " + cfg.SiteTLSCAConfigMapName + ", the mqtt-cert-auth endpoint and the dataflow"},
	} {
		if !x.on {
			continue
		}
		deps := append([]string{x.c.addr["vm"], x.c.a("edge_cncf_cluster", "vm_extension"), x.c.addr["instance"]}, x.deps...)
		b.add(&Resource{Address: x.c.a("custom_scripts", dashToUnderscore(x.name)), Type: "Microsoft.Compute/virtualMachines/runCommands", Name: x.name, Cluster: x.c.cl, Module: "custom_scripts",
			ID:        blueprint.ResourceID(b.sub, x.c.n.ResourceGroup, "Microsoft.Compute/virtualMachines/runCommands", x.c.n.VM, x.name),
			DependsOn: deps,
			Attributes: map[string]Value{"location": known(cfg.Location), "script_name": known(x.file), "applies": known(x.purpose),
				"source.script": sensitive(), "async_execution": known(false), "timeout_in_seconds": known(3600), "execution_state": computed("Succeeded")},
			Local: supported("the agent applies the same manifests")})
	}
}

func dashToUnderscore(s string) string {
	out := []byte(s)
	for i := range out {
		if out[i] == '-' {
			out[i] = '_'
		}
	}
	return string(out)
}
