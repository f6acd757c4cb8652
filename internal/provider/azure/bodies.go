package azure

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"

	"github.com/dualpeer/dualpeer/internal/aio"
	"github.com/dualpeer/dualpeer/internal/blueprint"
	"github.com/dualpeer/dualpeer/internal/plan"
)

// values is where a body's run-time inputs come from: Azure's answers during an apply, or
// template expressions and parameters when exporting an ARM template.
type values interface {
	sub() string
	tenant() string
	deployer() string
	principalID(r *plan.Resource) (string, error) // principal of an identity (or a resource's system identity)
	clientID(r *plan.Resource) (string, error)
	oidcIssuer(arc *plan.Resource) (string, error)
	blobEndpoint(st *plan.Resource) (string, error)
	serverIP() netip.Addr
	secret(ctx context.Context, name string) (string, error)
	runCommand(ctx context.Context, cluster string) (script string, protected map[string]string, err error)
	setupScript(ctx context.Context, cluster string) (string, error)
	sshKey() string
}

// builtinRoles maps the role names the plan uses to Azure's fixed built-in role ids.
var builtinRoles = map[string]string{
	"Key Vault Secrets Officer":                      "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
	"Key Vault Secrets User":                         "4633458b-17de-408a-b874-0445c86b69e6",
	"Key Vault Reader":                               "21090545-7ca7-4776-b22c-e363652d74d2",
	"Kubernetes Cluster - Azure Arc Onboarding":      "34e09817-6cbe-4d01-b1a2-e0eac5743d41",
	"Contributor":                                    "b24988ac-6180-42a0-ab88-20f7382dd24c",
	"Reader":                                         "acdd72a7-3385-48ef-bd42-f606fba81ae7",
	"Storage Blob Data Owner":                        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
	"Storage Blob Data Contributor":                  "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
	"Azure Event Hubs Data Sender":                   "2b629674-e913-4c01-ae53-ef4638d8f975",
	"EventGrid TopicSpaces Publisher":                "a12b0b94-b317-4dcd-84a8-502ce99884c6",
	"Grafana Admin":                                  "22926164-76b3-42b3-bc55-97df8dab3e41",
	"Monitoring Data Reader":                         "b0d8363b-8ddd-447d-831f-62ca05bff136",
	"Monitoring Reader":                              "43d0d8ad-25c7-4714-9337-8ba259a9fe05",
	"Virtual Machine Administrator Login":            "1c0163c0-47e6-4577-8991-ea5c82e286e4",
	"Azure Arc Kubernetes Viewer":                    "63f0a09d-1495-4db4-a681-037d84835eb4",
	"Azure Arc Enabled Kubernetes Cluster User Role": "00493d72-78f6-4148-b6c5-d3ce8e4799dd",
}

func attr(r *plan.Resource, k string) any {
	if v, ok := r.Attributes[k]; ok {
		return v.Value
	}
	return nil
}

func attrString(r *plan.Resource, k string) string {
	s, _ := attr(r, k).(string)
	return s
}

// bodyBuilder renders request bodies; the same code serves apply and template export.
type bodyBuilder struct {
	cfg *blueprint.Config
	p   *plan.Plan
	v   values
}

func (b *bodyBuilder) names(r *plan.Resource) blueprint.Names {
	if r.Cluster == plan.ClusterB {
		return b.cfg.Names("b")
	}
	return b.cfg.Names("a")
}

func (b *bodyBuilder) find(cluster plan.Cluster, typ, name string) *plan.Resource {
	for _, r := range b.p.Resources {
		if r.Cluster == cluster && strings.EqualFold(r.Type, typ) && (name == "" || r.Name == name) {
			return r
		}
	}
	return nil
}

func (b *bodyBuilder) id(r *plan.Resource) string {
	return subst(r.ID, b.v.sub())
}

func subst(id, sub string) string {
	const pfx = "/subscriptions/"
	if !strings.HasPrefix(strings.ToLower(id), pfx) {
		return id
	}
	rest := id[len(pfx):]
	if i := strings.Index(rest, "/"); i >= 0 {
		return pfx + sub + rest[i:]
	}
	return pfx + sub
}

func (b *bodyBuilder) rid(r *plan.Resource, typ string, names ...string) string {
	return blueprint.ResourceID(b.v.sub(), b.names(r).ResourceGroup, typ, names...)
}

func (b *bodyBuilder) tags(r *plan.Resource, extra map[string]any) map[string]any {
	t := map[string]any{}
	for k, v := range b.cfg.Tags {
		t[k] = v
	}
	t["Environment"] = b.cfg.Environment
	t["Instance"] = b.cfg.Instance
	t["blueprint"] = "dual-peered-single-cluster"
	if r.Cluster == plan.ClusterA || r.Cluster == plan.ClusterB {
		t["cluster"] = string(r.Cluster)
	}
	for k, v := range extra {
		t[k] = v
	}
	return t
}

func (b *bodyBuilder) tracked(r *plan.Resource, props map[string]any) map[string]any {
	if props == nil {
		props = map[string]any{}
	}
	return map[string]any{"location": b.cfg.Location, "tags": b.tags(r, nil), "properties": props}
}

func (b *bodyBuilder) customLocationID(r *plan.Resource) string {
	n := b.names(r)
	return blueprint.CustomLocationID(b.v.sub(), n.ResourceGroup, n.CustomLocation)
}

func (b *bodyBuilder) extLoc(r *plan.Resource) map[string]any {
	return map[string]any{"type": "CustomLocation", "name": b.customLocationID(r)}
}

// body renders the PUT body of r.
func (b *bodyBuilder) body(ctx context.Context, r *plan.Resource) (map[string]any, error) {
	cfg, n := b.cfg, b.names(r)
	vnetCfg := cfg.ClusterAVirtualNetworkConfig
	if r.Cluster == plan.ClusterB {
		vnetCfg = cfg.ClusterBVirtualNetworkConfig
	}
	switch strings.ToLower(r.Type) {
	case "microsoft.resources/resourcegroups":
		return map[string]any{"location": cfg.Location, "tags": b.tags(r, nil)}, nil

	case "microsoft.managedidentity/userassignedidentities":
		return map[string]any{"location": cfg.Location, "tags": b.tags(r, nil)}, nil

	case "microsoft.managedidentity/userassignedidentities/federatedidentitycredentials":
		issuer, err := b.v.oidcIssuer(b.find(r.Cluster, typeArc, ""))
		if err != nil {
			return nil, err
		}
		return map[string]any{"properties": map[string]any{"issuer": issuer, "subject": attrString(r, "subject"), "audiences": []any{"api://AzureADTokenExchange"}}}, nil

	case "microsoft.authorization/roleassignments":
		return b.roleAssignment(r)

	case "microsoft.keyvault/vaults":
		return map[string]any{"location": cfg.Location, "tags": b.tags(r, nil), "properties": map[string]any{
			"tenantId":                  b.v.tenant(),
			"sku":                       map[string]any{"family": "A", "name": "standard"},
			"enableRbacAuthorization":   true,
			"enableSoftDelete":          true,
			"softDeleteRetentionInDays": 7,
			"publicNetworkAccess":       enabled(!cfg.ShouldEnablePrivateEndpoints),
		}}, nil

	case "microsoft.keyvault/vaults/secrets":
		var val string
		var err error
		switch r.Name {
		case "ubuntu-k3s-server-script", "ubuntu-k3s-node-script":
			val, err = b.v.setupScript(ctx, string(r.Cluster))
		default:
			val, err = b.v.secret(ctx, r.Name)
		}
		if err != nil {
			return nil, err
		}
		tags := map[string]any{}
		if t, ok := attr(r, "tags").(map[string]string); ok {
			for k, v := range t {
				tags[k] = v
			}
		}
		props := map[string]any{"value": val}
		if strings.HasSuffix(r.Name, "-crt") || strings.HasSuffix(r.Name, "-key") {
			props["contentType"] = "application/x-pem-file"
		}
		return map[string]any{"tags": tags, "properties": props}, nil

	case "microsoft.network/networksecuritygroups":
		return map[string]any{"location": cfg.Location, "tags": b.tags(r, map[string]any{"azd-env-name": cfg.Environment}), "properties": map[string]any{}}, nil

	case "microsoft.network/virtualnetworks":
		return b.tracked(r, map[string]any{"addressSpace": map[string]any{"addressPrefixes": []any{vnetCfg.AddressSpace}}}), nil

	case "microsoft.network/virtualnetworks/subnets":
		return b.subnet(r, n, vnetCfg)

	case "microsoft.network/virtualnetworks/virtualnetworkpeerings":
		remote := attrString(r, "remote_virtual_network_id")
		return map[string]any{"properties": map[string]any{
			"remoteVirtualNetwork":      map[string]any{"id": subst(remote, b.v.sub())},
			"allowVirtualNetworkAccess": cfg.VnetPeeringAllowVirtualNetworkAccess,
			"allowForwardedTraffic":     cfg.VnetPeeringAllowForwardedTraffic,
			"allowGatewayTransit":       cfg.VnetPeeringAllowGatewayTransit,
			"useRemoteGateways":         cfg.VnetPeeringUseRemoteGateways,
		}}, nil

	case "microsoft.network/publicipaddresses":
		body := b.tracked(r, map[string]any{"publicIPAllocationMethod": "Static", "publicIPAddressVersion": "IPv4"})
		body["sku"] = map[string]any{"name": "Standard", "tier": "Regional"}
		if r.Name == n.PublicIP {
			body["properties"].(map[string]any)["dnsSettings"] = map[string]any{"domainNameLabel": n.DNSLabel}
		} else if len(cfg.NatGatewayZones) > 0 {
			body["zones"] = toAny(cfg.NatGatewayZones)
		}
		return body, nil

	case "microsoft.network/natgateways":
		var pips []any
		for _, name := range n.NATPublicIPs {
			pips = append(pips, map[string]any{"id": b.rid(r, "Microsoft.Network/publicIPAddresses", name)})
		}
		body := b.tracked(r, map[string]any{"idleTimeoutInMinutes": cfg.NatGatewayIdleTimeoutMinutes, "publicIpAddresses": pips})
		body["sku"] = map[string]any{"name": "Standard"}
		if len(cfg.NatGatewayZones) > 0 {
			body["zones"] = toAny(cfg.NatGatewayZones)
		}
		return body, nil

	case "microsoft.network/networkinterfaces":
		ipProps := map[string]any{
			"privateIPAllocationMethod": "Dynamic",
			"subnet":                    map[string]any{"id": blueprint.SubnetID(b.v.sub(), n.ResourceGroup, n.VNet, n.Subnet)},
			"publicIPAddress":           map[string]any{"id": b.rid(r, "Microsoft.Network/publicIPAddresses", n.PublicIP)},
			"primary":                   true,
		}
		if fixed, ok := b.v.(interface{ staticServerIP() bool }); ok && fixed.staticServerIP() && r.Cluster == plan.ClusterA {
			// A template cannot read the assigned address back before issuing the certificate,
			// so it pins the address the certificate was made for.
			ipProps["privateIPAllocationMethod"] = "Static"
			ipProps["privateIPAddress"] = b.v.serverIP().String()
		}
		return b.tracked(r, map[string]any{"ipConfigurations": []any{map[string]any{"name": n.IPConfig, "properties": ipProps}}}), nil

	case "microsoft.network/privatednszones":
		return map[string]any{"location": "global", "tags": b.tags(r, nil)}, nil
	case "microsoft.network/privatednszones/virtualnetworklinks":
		return map[string]any{"location": "global", "properties": map[string]any{
			"registrationEnabled": false,
			"virtualNetwork":      map[string]any{"id": blueprint.VirtualNetworkID(b.v.sub(), n.ResourceGroup, n.VNet)}}}, nil
	case "microsoft.network/privateendpoints":
		group := attrString(r, "group_id")
		return b.tracked(r, map[string]any{
			"subnet": map[string]any{"id": blueprint.SubnetID(b.v.sub(), n.ResourceGroup, n.VNet, n.Subnet)},
			"privateLinkServiceConnections": []any{map[string]any{"name": r.Name, "properties": map[string]any{
				"privateLinkServiceId": subst(attrString(r, "target"), b.v.sub()), "groupIds": []any{group}}}},
		}), nil

	case "microsoft.compute/virtualmachines":
		return b.vm(r, n)

	case "microsoft.compute/virtualmachines/extensions":
		return b.vmExtension(r, n)

	case "microsoft.compute/virtualmachines/runcommands":
		script, protected, err := b.v.runCommand(ctx, string(r.Cluster))
		if err != nil {
			return nil, err
		}
		var params []any
		for _, k := range sortedKeys(protected) {
			params = append(params, map[string]any{"name": k, "value": protected[k]})
		}
		props := map[string]any{
			"source":                          map[string]any{"script": script},
			"asyncExecution":                  false,
			"timeoutInSeconds":                3600,
			"treatFailureAsDeploymentFailure": true,
		}
		if len(params) > 0 {
			props["protectedParameters"] = params
		}
		return b.tracked(r, props), nil

	case "microsoft.containerregistry/registries":
		body := b.tracked(r, map[string]any{
			"adminUserEnabled":         false,
			"publicNetworkAccess":      "Disabled",
			"networkRuleBypassOptions": "AzureServices",
			"policies":                 map[string]any{"exportPolicy": map[string]any{"status": "disabled"}},
		})
		body["sku"] = map[string]any{"name": "Premium"}
		return body, nil

	case "microsoft.containerservice/managedclusters":
		sz := cfg.ClusterA
		if r.Cluster == plan.ClusterB {
			sz = cfg.ClusterB
		}
		body := b.tracked(r, map[string]any{
			"dnsPrefix": n.AKSDNSPrefix,
			"agentPoolProfiles": []any{map[string]any{"name": "system", "mode": "System", "count": sz.NodeCount, "vmSize": sz.NodeVMSize,
				"enableAutoScaling": sz.EnableAutoScaling, "vnetSubnetID": blueprint.SubnetID(b.v.sub(), n.ResourceGroup, n.VNet, n.SubnetAKS),
				"podSubnetID": blueprint.SubnetID(b.v.sub(), n.ResourceGroup, n.VNet, n.SubnetAKSPod)}},
			"networkProfile": map[string]any{"networkPlugin": "azure"},
		})
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		return body, nil
	case "microsoft.containerservice/managedclusters/agentpools":
		return map[string]any{"properties": map[string]any{"count": attr(r, "node_count"), "vmSize": attr(r, "vm_size"), "mode": "User",
			"enableAutoScaling": attr(r, "enable_auto_scaling")}}, nil

	case "microsoft.monitor/accounts":
		return map[string]any{"location": cfg.Location, "tags": b.tags(r, nil)}, nil
	case "microsoft.operationalinsights/workspaces":
		body := b.tracked(r, map[string]any{"sku": map[string]any{"name": "PerGB2018"}, "retentionInDays": 30, "workspaceCapping": map[string]any{"dailyQuotaGb": 10}})
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		return body, nil
	case "microsoft.operationsmanagement/solutions":
		return map[string]any{"location": cfg.Location, "plan": map[string]any{"name": r.Name, "publisher": "Microsoft", "product": "OMSGallery/ContainerInsights", "promotionCode": ""},
			"properties": map[string]any{"workspaceResourceId": b.rid(r, "Microsoft.OperationalInsights/workspaces", n.LogAnalytics)}}, nil
	case "microsoft.insights/components":
		body := b.tracked(r, map[string]any{"Application_Type": "web", "RetentionInDays": 30, "WorkspaceResourceId": b.rid(r, "Microsoft.OperationalInsights/workspaces", n.LogAnalytics)})
		body["kind"] = "web"
		return body, nil
	case "microsoft.dashboard/grafana":
		body := b.tracked(r, map[string]any{"grafanaMajorVersion": "12", "publicNetworkAccess": "Enabled",
			"grafanaIntegrations": map[string]any{"azureMonitorWorkspaceIntegrations": []any{map[string]any{"azureMonitorWorkspaceResourceId": b.rid(r, "Microsoft.Monitor/accounts", n.MonitorWorkspace)}}}})
		body["sku"] = map[string]any{"name": "Standard"}
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		return body, nil
	case "microsoft.insights/datacollectionendpoints":
		body := b.tracked(r, map[string]any{"networkAcls": map[string]any{"publicNetworkAccess": "Enabled"}})
		body["kind"] = "Linux"
		return body, nil
	case "microsoft.insights/datacollectionrules":
		return b.dcr(r, n), nil
	case "microsoft.insights/datacollectionruleassociations":
		name := attrString(r, "data_collection_rule")
		return map[string]any{"properties": map[string]any{"dataCollectionRuleId": b.rid(r, "Microsoft.Insights/dataCollectionRules", name)}}, nil
	case "microsoft.alertsmanagement/prometheusrulegroups":
		return b.tracked(r, map[string]any{
			"scopes":      []any{b.rid(r, "Microsoft.Monitor/accounts", n.MonitorWorkspace), blueprint.ConnectedClusterID(b.v.sub(), n.ResourceGroup, n.ArcCluster)},
			"clusterName": n.ArcCluster,
			"enabled":     true,
			"interval":    "PT1M",
			"rules": []any{map[string]any{"record": recordFor(r.Name),
				"expression": `sum by (cluster, instance) (rate(node_cpu_seconds_total{job="node",mode!="idle"}[5m]))`}},
		}), nil

	case "microsoft.storage/storageaccounts":
		body := b.tracked(r, map[string]any{"isHnsEnabled": true, "minimumTlsVersion": "TLS1_2", "allowSharedKeyAccess": false, "supportsHttpsTrafficOnly": true})
		body["sku"] = map[string]any{"name": "Standard_LRS"}
		body["kind"] = "StorageV2"
		return body, nil
	case "microsoft.storage/storageaccounts/blobservices/containers":
		return map[string]any{"properties": map[string]any{"publicAccess": "None"}}, nil
	case "microsoft.deviceregistry/schemaregistries":
		ep, err := b.v.blobEndpoint(b.find(r.Cluster, "Microsoft.Storage/storageAccounts", ""))
		if err != nil {
			return nil, err
		}
		body := b.tracked(r, map[string]any{"namespace": n.SchemaRegistryNamespace, "storageAccountContainerUrl": strings.TrimRight(ep, "/") + "/schemas"})
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		return body, nil
	case "microsoft.deviceregistry/namespaces":
		body := b.tracked(r, nil)
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		return body, nil

	case "microsoft.eventhub/namespaces":
		body := b.tracked(r, map[string]any{"disableLocalAuth": true})
		body["sku"] = map[string]any{"name": "Standard", "tier": "Standard", "capacity": 1}
		return body, nil
	case "microsoft.eventhub/namespaces/eventhubs":
		return map[string]any{"properties": map[string]any{"partitionCount": 1, "messageRetentionInDays": 1}}, nil
	case "microsoft.eventgrid/namespaces":
		body := b.tracked(r, map[string]any{"topicSpacesConfiguration": map[string]any{"state": "Enabled", "maximumClientSessionsPerAuthenticationName": 8}})
		body["sku"] = map[string]any{"name": "Standard", "capacity": 1}
		return body, nil
	case "microsoft.eventgrid/namespaces/topicspaces":
		return map[string]any{"properties": map[string]any{"topicTemplates": []any{"default"}}}, nil

	case "microsoft.kubernetesconfiguration/extensions":
		return b.arcExtension(r, n)
	case "microsoft.extendedlocation/customlocations":
		var ids []any
		for _, x := range []string{"azure-secret-store", "iot-ops"} {
			ids = append(ids, blueprint.ExtensionResourceID(blueprint.ConnectedClusterID(b.v.sub(), n.ResourceGroup, n.ArcCluster), "Microsoft.KubernetesConfiguration/extensions", x))
		}
		body := b.tracked(r, map[string]any{"hostType": "Kubernetes", "hostResourceId": blueprint.ConnectedClusterID(b.v.sub(), n.ResourceGroup, n.ArcCluster),
			"namespace": cfg.AIONamespace, "displayName": n.CustomLocation, "clusterExtensionIds": ids})
		body["identity"] = map[string]any{"type": "SystemAssigned"}
		return body, nil
	case "microsoft.extendedlocation/customlocations/resourcesyncrules":
		return map[string]any{"location": cfg.Location, "properties": map[string]any{"priority": attr(r, "priority"),
			"targetResourceGroup": blueprint.ResourceGroupID(b.v.sub(), n.ResourceGroup),
			"selector":            map[string]any{"matchLabels": map[string]any{"management.azure.com/provider-name": "microsoft.iotoperations"}}}}, nil

	case "microsoft.secretsynccontroller/azurekeyvaultsecretproviderclasses":
		return b.secretProviderClass(r, n)
	case "microsoft.secretsynccontroller/secretsyncs":
		var mapping []any
		if m, ok := attr(r, "object_secret_mapping").(map[string]string); ok {
			for _, k := range sortedKeys(m) {
				mapping = append(mapping, map[string]any{"sourcePath": k, "targetKey": m[k]})
			}
		}
		body := b.tracked(r, map[string]any{"secretProviderClassName": attrString(r, "secret_provider_class"), "serviceAccountName": attrString(r, "service_account"),
			"kubernetesSecretType": attrString(r, "kubernetes_secret_type"), "objectSecretMapping": mapping, "forceSynchronization": "dualpeer"})
		body["extendedLocation"] = b.extLoc(r)
		return body, nil

	case "microsoft.iotoperations/instances":
		n := b.names(r)
		// 2025-04-01 has no defaultSecretProviderClassRef (later versions do); the SPC is
		// still created and found by the secret sync controller by name.
		props := map[string]any{
			"schemaRegistryRef": map[string]any{"resourceId": b.rid(r, "Microsoft.DeviceRegistry/schemaRegistries", n.SchemaRegistry)},
		}
		if f, ok := attr(r, "features").(map[string]any); ok && len(f) > 0 {
			props["features"] = f
		}
		body := b.tracked(r, props)
		body["extendedLocation"] = b.extLoc(r)
		body["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{b.rid(r, "Microsoft.ManagedIdentity/userAssignedIdentities", n.IdentityAIO): map[string]any{}}}
		return body, nil
	case "microsoft.iotoperations/instances/brokers":
		return map[string]any{"extendedLocation": b.extLoc(r), "properties": map[string]any{
			"memoryProfile": "Medium",
			"cardinality": map[string]any{
				"backendChain": map[string]any{"partitions": 2, "redundancyFactor": 2, "workers": 2},
				"frontend":     map[string]any{"replicas": 2, "workers": 2},
			},
			"generateResourceLimits": map[string]any{"cpu": "Disabled"},
		}}, nil
	case "microsoft.iotoperations/instances/registryendpoints":
		return map[string]any{"extendedLocation": b.extLoc(r), "properties": map[string]any{"host": "mcr.microsoft.com", "authentication": map[string]any{"method": "Anonymous", "anonymousSettings": map[string]any{}}}}, nil
	case "microsoft.iotoperations/instances/brokers/authentications",
		"microsoft.iotoperations/instances/brokers/listeners",
		"microsoft.iotoperations/instances/brokers/authorizations",
		"microsoft.iotoperations/instances/dataflowendpoints",
		"microsoft.iotoperations/instances/dataflowprofiles",
		"microsoft.iotoperations/instances/dataflowprofiles/dataflows":
		return b.aioBody(r, n)
	}
	return nil, fmt.Errorf("the azure target has no request body for resource type %s (%s): this is a bug in dualpeer, please report it", r.Type, r.Address)
}

func enabled(b bool) string {
	if b {
		return "Enabled"
	}
	return "Disabled"
}

func toAny[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

func recordFor(name string) string {
	if strings.HasPrefix(name, "k8s") {
		return "cluster:node_cpu:ratio_rate5m"
	}
	return "instance:node_cpu_utilisation:rate5m"
}

func (b *bodyBuilder) subnet(r *plan.Resource, n blueprint.Names, vnetCfg blueprint.VirtualNetworkConfig) (map[string]any, error) {
	props := map[string]any{}
	if r.Name == n.Subnet {
		props["addressPrefix"] = vnetCfg.SubnetAddressPrefix
		props["networkSecurityGroup"] = map[string]any{"id": b.rid(r, "Microsoft.Network/networkSecurityGroups", n.NSG)}
		if b.cfg.ShouldEnableManagedOutboundAccess {
			props["natGateway"] = map[string]any{"id": b.rid(r, "Microsoft.Network/natGateways", n.NATGateway)}
			props["defaultOutboundAccess"] = false
		}
		return map[string]any{"properties": props}, nil
	}
	prefixes, _ := attr(r, "address_prefixes").([]string)
	if len(prefixes) == 0 {
		return nil, fmt.Errorf("subnet %s has no address prefix in the plan", r.Name)
	}
	if len(prefixes) == 1 {
		props["addressPrefix"] = prefixes[0]
	} else {
		props["addressPrefixes"] = toAny(prefixes)
	}
	return map[string]any{"properties": props}, nil
}

func (b *bodyBuilder) roleAssignment(r *plan.Resource) (map[string]any, error) {
	role := attrString(r, "role")
	guid, ok := builtinRoles[role]
	if !ok {
		return nil, fmt.Errorf("role assignment %s: unknown built-in role %q", r.Address, role)
	}
	props := map[string]any{"roleDefinitionId": "/subscriptions/" + b.v.sub() + "/providers/Microsoft.Authorization/roleDefinitions/" + guid}
	principal := attrString(r, "principal")
	switch {
	case principal == "deploying user":
		props["principalId"] = b.v.deployer()
	case strings.HasSuffix(principal, " extension identity"):
		ext := b.find(r.Cluster, "Microsoft.KubernetesConfiguration/extensions", strings.TrimSuffix(principal, " extension identity"))
		if ext == nil {
			return nil, fmt.Errorf("role assignment %s: no extension for principal %q in the plan", r.Address, principal)
		}
		id, err := b.v.principalID(ext)
		if err != nil {
			return nil, err
		}
		props["principalId"], props["principalType"] = id, "ServicePrincipal"
	default:
		var target *plan.Resource
		for _, x := range b.p.Resources {
			if x.Cluster == r.Cluster && x.Name == principal && x.Type != r.Type {
				target = x
				break
			}
		}
		if target == nil {
			return nil, fmt.Errorf("role assignment %s: principal %q is not a resource of the plan", r.Address, principal)
		}
		id, err := b.v.principalID(target)
		if err != nil {
			return nil, err
		}
		// ServicePrincipal tells ARM not to wait for directory replication of a new identity.
		props["principalId"], props["principalType"] = id, "ServicePrincipal"
	}
	return map[string]any{"properties": props}, nil
}

func (b *bodyBuilder) vm(r *plan.Resource, n blueprint.Names) (map[string]any, error) {
	user := strings.ToLower(b.cfg.ResourcePrefix)
	if s := attrString(r, "admin_username"); s != "" {
		user = strings.ToLower(s)
	}
	size := "Standard_D8s_v6"
	if s := attrString(r, "size"); s != "" {
		size = s
	}
	arcID := b.rid(r, "Microsoft.ManagedIdentity/userAssignedIdentities", n.IdentityArc)
	body := b.tracked(r, map[string]any{
		"hardwareProfile": map[string]any{"vmSize": size},
		"storageProfile": map[string]any{
			"imageReference": map[string]any{"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
			"osDisk": map[string]any{"name": n.OSDisk, "createOption": "FromImage", "caching": "ReadWrite",
				"managedDisk": map[string]any{"storageAccountType": "Standard_LRS"}},
		},
		"osProfile": map[string]any{
			"computerName":  n.ComputerName,
			"adminUsername": user,
			"linuxConfiguration": map[string]any{
				"disablePasswordAuthentication": true,
				"ssh":                           map[string]any{"publicKeys": []any{map[string]any{"path": "/home/" + user + "/.ssh/authorized_keys", "keyData": b.v.sshKey()}}},
				"patchSettings":                 map[string]any{"patchMode": "AutomaticByPlatform", "assessmentMode": "AutomaticByPlatform"},
			},
		},
		"networkProfile": map[string]any{"networkInterfaces": []any{map[string]any{"id": b.rid(r, "Microsoft.Network/networkInterfaces", n.NIC), "properties": map[string]any{"primary": true}}}},
	})
	body["identity"] = map[string]any{"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": map[string]any{arcID: map[string]any{}}}
	return body, nil
}

func (b *bodyBuilder) vmExtension(r *plan.Resource, n blueprint.Names) (map[string]any, error) {
	if r.Name == "AADSSHLoginForLinux" {
		return b.tracked(r, map[string]any{"publisher": "Microsoft.Azure.ActiveDirectory", "type": "AADSSHLoginForLinux", "typeHandlerVersion": "1.0", "autoUpgradeMinorVersion": true}), nil
	}
	arc := b.find(r.Cluster, "Microsoft.ManagedIdentity/userAssignedIdentities", n.IdentityArc)
	clientID, err := b.v.clientID(arc)
	if err != nil {
		return nil, err
	}
	script := bootstrapScript(n.KeyVault, clientIDMarker)
	return b.tracked(r, map[string]any{
		"publisher":               "Microsoft.Azure.Extensions",
		"type":                    "CustomScript",
		"typeHandlerVersion":      "2.1",
		"autoUpgradeMinorVersion": false,
		"protectedSettings":       map[string]any{"script": base64WithValue(script, clientIDMarker, clientID)},
	}), nil
}

const clientIDMarker = "@@DUALPEER_ARC_CLIENT_ID@@"

// base64WithValue base64-encodes text with marker replaced by value; when value is an ARM
// template expression the encoding happens in the template ([base64(concat(…))]).
func base64WithValue(text, marker, value string) string {
	if !strings.HasPrefix(value, "[") {
		return base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(text, marker, value)))
	}
	parts := strings.Split(text, marker)
	var args []string
	for i, p := range parts {
		if i > 0 {
			args = append(args, strings.TrimSuffix(strings.TrimPrefix(value, "["), "]"))
		}
		args = append(args, "'"+strings.ReplaceAll(p, "'", "''")+"'")
	}
	return "[base64(concat(" + strings.Join(args, ", ") + "))]"
}

// bootstrapScript is the CustomScript extension's script (reference §3): install az if
// missing, sign in with the Arc identity, fetch the K3s + Arc setup script from Key Vault
// (10 tries, 30 s apart: the secret and the role assignment may still be replicating) and
// run it.
func bootstrapScript(vault, clientID string) string {
	return `#!/usr/bin/env bash
set -euo pipefail
export KEY_VAULT_NAME='` + vault + `'
export KUBERNETES_DISTRO=k3s
export NODE_TYPE=server
export CLIENT_ID='` + clientID + `'
if ! command -v az >/dev/null 2>&1; then
  curl -fsSL https://aka.ms/InstallAzureCLIDeb | bash
fi
az login --identity --client-id "$CLIENT_ID" --allow-no-subscriptions >/dev/null
script=$(mktemp)
trap 'rm -f "$script"' EXIT
for i in $(seq 1 10); do
  if az keyvault secret show --vault-name "$KEY_VAULT_NAME" --name ubuntu-k3s-server-script --query value -o tsv >"$script"; then
    break
  fi
  if [ "$i" = 10 ]; then echo "could not read ubuntu-k3s-server-script from $KEY_VAULT_NAME" >&2; exit 1; fi
  sleep 30
done
sudo -E bash "$script"
`
}

func (b *bodyBuilder) dcr(r *plan.Resource, n blueprint.Names) map[string]any {
	var body map[string]any
	if r.Name == n.DataCollectionMetr {
		body = b.tracked(r, map[string]any{
			"dataCollectionEndpointId": b.rid(r, "Microsoft.Insights/dataCollectionEndpoints", n.DataCollectionEndpt),
			"dataSources":              map[string]any{"prometheusForwarder": []any{map[string]any{"name": "PrometheusDataSource", "streams": []any{"Microsoft-PrometheusMetrics"}, "labelIncludeFilter": map[string]any{}}}},
			"destinations":             map[string]any{"monitoringAccounts": []any{map[string]any{"name": "MonitoringAccount1", "accountResourceId": b.rid(r, "Microsoft.Monitor/accounts", n.MonitorWorkspace)}}},
			"dataFlows":                []any{map[string]any{"streams": []any{"Microsoft-PrometheusMetrics"}, "destinations": []any{"MonitoringAccount1"}}},
		})
	} else {
		body = b.tracked(r, map[string]any{
			"dataSources": map[string]any{"extensions": []any{map[string]any{
				"name": "ContainerInsightsExtension", "extensionName": "ContainerInsights", "streams": []any{"Microsoft-ContainerInsights-Group-Default"},
				"extensionSettings": map[string]any{"dataCollectionSettings": map[string]any{"interval": "1m", "namespaceFilteringMode": "Include",
					"namespaces": []any{"kube-system", "gatekeeper-system", "azure-arc", b.cfg.AIONamespace}}}}}},
			"destinations": map[string]any{"logAnalytics": []any{map[string]any{"name": "ciworkspace", "workspaceResourceId": b.rid(r, "Microsoft.OperationalInsights/workspaces", n.LogAnalytics)}}},
			"dataFlows":    []any{map[string]any{"streams": []any{"Microsoft-ContainerInsights-Group-Default"}, "destinations": []any{"ciworkspace"}}},
		})
	}
	body["kind"] = "Linux"
	return body
}

func (b *bodyBuilder) arcExtension(r *plan.Resource, n blueprint.Names) (map[string]any, error) {
	props := map[string]any{"extensionType": attrString(r, "extension_type"), "autoUpgradeMinorVersion": false}
	if props["extensionType"] == "" {
		return nil, fmt.Errorf("Arc extension %s has no extension_type in the plan", r.Name)
	}
	if v := attrString(r, "version"); v != "" {
		props["version"] = v
	} else {
		props["autoUpgradeMinorVersion"] = true
	}
	if t := attrString(r, "release_train"); t != "" {
		props["releaseTrain"] = t
	}
	settings := map[string]any{}
	if ns := attrString(r, "namespace"); ns != "" {
		props["scope"] = map[string]any{"cluster": map[string]any{"releaseNamespace": ns}}
	}
	switch r.Name {
	case "arc-cert-manager":
		settings["AgentOperationTimeoutInMinutes"] = "20"
		settings["global.telemetry.enabled"] = "true"
	case "azure-arc-containerstorage":
		settings["edgeStorageConfiguration.create"] = "true"
		settings["feature.diskStorageClass"] = "default,local-path"
	case "azure-secret-store":
		settings["rotationPollIntervalInSeconds"] = "120"
		settings["validatingAdmissionPolicies.applyPolicies"] = "false"
	case "iot-ops":
		settings["AgentOperationTimeoutInMinutes"] = "120"
		settings["connectors.values.mqttBroker.address"] = "mqtts://aio-broker." + b.cfg.AIONamespace + ":18883"
		settings["connectors.values.mqttBroker.serviceAccountTokenAudience"] = "aio-internal"
		settings["observability.metrics.enabled"] = "true"
		settings["observability.metrics.openTelemetryCollectorAddress"] = "aio-otel-collector." + b.cfg.AIONamespace + ".svc.cluster.local:4317"
		settings["trustSource"] = "CustomerManaged"
		settings["trustBundleSettings.issuer.name"] = "issuer-custom-root-ca-cert"
		settings["trustBundleSettings.issuer.kind"] = "ClusterIssuer"
		settings["trustBundleSettings.configMap.name"] = "azure-iot-operations-aio-ca-trust-bundle"
		settings["trustBundleSettings.configMap.key"] = "ca.crt"
		settings["schemaRegistry.values.resourceId"] = b.rid(r, "Microsoft.DeviceRegistry/schemaRegistries", n.SchemaRegistry)
	case "azuremonitor-metrics":
		settings["azure-monitor-workspace-resource-id"] = b.rid(r, "Microsoft.Monitor/accounts", n.MonitorWorkspace)
		settings["grafana-resource-id"] = b.rid(r, "Microsoft.Dashboard/grafana", n.Grafana)
	case "azuremonitor-containers":
		settings["logAnalyticsWorkspaceResourceID"] = b.rid(r, "Microsoft.OperationalInsights/workspaces", n.LogAnalytics)
		settings["omsagent.domain"] = "opinsights.azure.com"
		settings["amalogs.useAADAuth"] = "true"
	}
	if len(settings) > 0 {
		props["configurationSettings"] = settings
	}
	return map[string]any{"identity": map[string]any{"type": "SystemAssigned"}, "properties": props}, nil
}

func (b *bodyBuilder) secretProviderClass(r *plan.Resource, n blueprint.Names) (map[string]any, error) {
	sse := b.find(r.Cluster, "Microsoft.ManagedIdentity/userAssignedIdentities", n.IdentitySSE)
	clientID, err := b.v.clientID(sse)
	if err != nil {
		return nil, err
	}
	objects, _ := attr(r, "objects").([]string)
	if objects == nil {
		// The instance's default SPC: the trust chain secrets the cluster reads.
		objects = []string{"aio-ca-key", "aio-ca-cert-chain", "aio-root-ca-cert"}
	}
	var sb strings.Builder
	sb.WriteString("array:\n")
	for _, o := range objects {
		sb.WriteString("  - |\n    objectName: " + o + "\n    objectType: secret\n")
	}
	body := b.tracked(r, map[string]any{"keyvaultName": n.KeyVault, "clientId": clientID, "tenantId": b.v.tenant(), "objects": sb.String()})
	body["extendedLocation"] = b.extLoc(r)
	return body, nil
}

// aioBody takes the MQTT resources from the typed AIO model (internal/aio), so the ARM
// bodies, the YAML the scripts apply and the local agent agree.
func (b *bodyBuilder) aioBody(r *plan.Resource, n blueprint.Names) (map[string]any, error) {
	cfg := b.cfg
	params := aio.LinkParams{
		Namespace: cfg.AIONamespace, ServerIP: b.v.serverIP(), Port: cfg.EnterpriseBrokerPort,
		ServerCertSecret: cfg.EnterpriseBrokerTLSCertSecretName, ClientCAConfigMap: cfg.EnterpriseClientCAConfigMapName,
		ClientSecret: cfg.SiteClientSecretName, TrustedCAConfigMap: cfg.SiteTLSCAConfigMapName,
		AnonymousListener: cfg.ShouldCreateAnonymousBrokerListener,
	}
	own, other := aio.ServerResources(params), aio.ClientResources(params)
	if r.Cluster == plan.ClusterB {
		own, other = other, own
	}
	parent := ""
	segs := strings.Split(strings.Trim(r.ID, "/"), "/")
	// …/instances/<inst>/brokers/<broker>/listeners/<name>: the parent is two segments up.
	if strings.Count(r.Type, "/") == 3 && len(segs) >= 3 {
		parent = segs[len(segs)-3]
	}
	// AIO's core objects (the default profile and endpoint) are alike on both clusters; the
	// model builds them for the client side only, where the dataflow uses them.
	for i, m := range []*aio.Manifests{own, other} {
		for _, x := range m.ARMResources(b.customLocationID(r)) {
			if i == 1 && x.Name != "default" {
				continue
			}
			if strings.EqualFold(x.Type, r.Type) && x.Name == r.Name && (parent == "" || x.Parent == parent) {
				return x.Body, nil
			}
		}
	}
	if body := b.messagingBody(r, n); body != nil {
		return body, nil
	}
	return nil, fmt.Errorf("the AIO model has no %s named %q for cluster %s", r.Type, r.Name, r.Cluster)
}

// messagingBody: the 130-messaging sample endpoints and dataflows (Event Hubs, Event Grid).
func (b *bodyBuilder) messagingBody(r *plan.Resource, n blueprint.Names) map[string]any {
	cfg := b.cfg
	aioID := b.rid(r, "Microsoft.ManagedIdentity/userAssignedIdentities", n.IdentityAIO)
	_ = aioID
	switch strings.ToLower(r.Type) {
	case "microsoft.iotoperations/instances/dataflowendpoints":
		switch attrString(r, "endpoint_type") {
		case "Kafka":
			return map[string]any{"extendedLocation": b.extLoc(r), "properties": map[string]any{
				"endpointType": "Kafka",
				"kafkaSettings": map[string]any{
					"host":           n.EventHubNamespace + ".servicebus.windows.net:9093",
					"batching":       map[string]any{"latencyMs": 0, "maxMessages": 100},
					"tls":            map[string]any{"mode": "Enabled"},
					"authentication": map[string]any{"method": "UserAssignedManagedIdentity", "userAssignedManagedIdentitySettings": map[string]any{"clientId": mustClientID(b, r, n), "tenantId": b.v.tenant()}},
				}}}
		case "Mqtt":
			return map[string]any{"extendedLocation": b.extLoc(r), "properties": map[string]any{
				"endpointType": "Mqtt",
				"mqttSettings": map[string]any{
					"host":           n.EventGridNamespace + "." + strings.ToLower(strings.ReplaceAll(cfg.Location, " ", "")) + "-1.ts.eventgrid.azure.net:8883",
					"tls":            map[string]any{"mode": "Enabled"},
					"authentication": map[string]any{"method": "SystemAssignedManagedIdentity", "systemAssignedManagedIdentitySettings": map[string]any{}},
				}}}
		}
	case "microsoft.iotoperations/instances/dataflowprofiles/dataflows":
		dest := attrString(r, "destination")
		if dest == "" {
			return nil
		}
		topic := "default"
		if strings.Contains(dest, "-eh-") {
			topic = n.EventHub
		}
		return map[string]any{"extendedLocation": b.extLoc(r), "properties": map[string]any{
			"mode": "Enabled",
			"operations": []any{
				map[string]any{"operationType": "Source", "sourceSettings": map[string]any{"endpointRef": "default", "dataSources": []any{cfg.AIONamespace + "/data/oven"}, "serializationFormat": "Json"}},
				map[string]any{"operationType": "BuiltInTransformation", "builtInTransformationSettings": map[string]any{"map": []any{map[string]any{"inputs": []any{"*"}, "output": "*", "type": "PassThrough"}}, "serializationFormat": "Json"}},
				map[string]any{"operationType": "Destination", "destinationSettings": map[string]any{"endpointRef": dest, "dataDestination": topic}},
			}}}
	}
	return nil
}

func mustClientID(b *bodyBuilder, r *plan.Resource, n blueprint.Names) string {
	id, err := b.v.clientID(b.find(r.Cluster, "Microsoft.ManagedIdentity/userAssignedIdentities", n.IdentityAIO))
	if err != nil {
		return ""
	}
	return id
}
