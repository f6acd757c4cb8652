package blueprint

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
)

// FieldError is one problem with one variable: what was given, which rule it breaks and how to
// fix it. Source says where the value came from (file:line, -var #n) when known.
type FieldError struct {
	Source   string
	Variable string
	Value    string
	Rule     string
	Fix      string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source + ": ")
	}
	fmt.Fprintf(&b, "variable %q", e.Variable)
	if e.Value != "" {
		fmt.Fprintf(&b, " = %s", e.Value)
	}
	b.WriteString(": " + e.Rule)
	if e.Fix != "" {
		b.WriteString("; fix: " + e.Fix)
	}
	return b.String()
}

// FieldErrors unwraps the FieldErrors of an error returned by Load or Validate.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if fe, ok := e.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		walk(errors.Unwrap(e))
	}
	walk(err)
	return out
}

var (
	// The blueprint's own rule for resource_prefix (variables.tf, validation block).
	prefixRe = regexp.MustCompile(`^[a-zA-Z](?:-?[a-zA-Z0-9])*$`)
	// environment and instance end up inside every name: same characters, may start with a digit.
	nameTokenRe   = regexp.MustCompile(`^[a-zA-Z0-9](?:-?[a-zA-Z0-9])*$`)
	locationRe    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9 ]*$`)
	rgNameRe      = regexp.MustCompile(`^[-\w._()]*[-\w_()]$`)
	dns1123Label  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Sub    = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	guidRe        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	aksDNSRe      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,52}[a-zA-Z0-9]$|^[a-zA-Z0-9]$`)
	aksPoolNameRe = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)
	vmSizeRe      = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)
)

// validator collects FieldErrors with the source location of each variable.
type validator struct {
	c    *Config
	errs []error
}

func (v *validator) add(variable, value, rule, fix string) {
	v.errs = append(v.errs, &FieldError{Source: v.c.SourceOf(variable), Variable: variable, Value: value, Rule: rule, Fix: fix})
}

// Validate reports every problem of the configuration at once (errors.Join of *FieldError):
// everything the blueprint's Terraform validation rejects, and what Azure would reject later.
func (c *Config) Validate() error {
	v := &validator{c: c}
	v.core()
	v.networks()
	v.sizing("a", &c.ClusterA)
	v.sizing("b", &c.ClusterB)
	v.shared()
	v.mqtt()
	v.certificates()
	v.peering()
	v.tags()
	v.names()
	return errors.Join(v.errs...)
}

func q(s string) string { return fmt.Sprintf("%q", s) }

func (v *validator) core() {
	c := v.c
	if c.Environment == "" {
		v.add("environment", "", "required: the variable has no default", `give it, e.g. -var environment=dev`)
	} else if !nameTokenRe.MatchString(c.Environment) {
		v.add("environment", q(c.Environment), "must be letters and digits with single hyphens (it becomes part of every Azure resource name)", `use e.g. "dev", "test" or "prod"`)
	}
	if c.ResourcePrefix == "" {
		v.add("resource_prefix", "", "required: the variable has no default", `give a short alphanumeric prefix, e.g. -var resource_prefix=myorg`)
	} else if !prefixRe.MatchString(c.ResourcePrefix) {
		v.add("resource_prefix", q(c.ResourcePrefix), "must match ^[a-zA-Z](?:-?[a-zA-Z0-9])*$ (start with a letter; letters, digits and single hyphens)", `use e.g. "myorg"`)
	}
	if c.Location == "" {
		v.add("location", "", "required: the variable has no default", `give an Azure region, e.g. -var location=eastus2 (or "local")`)
	} else if !locationRe.MatchString(c.Location) {
		v.add("location", q(c.Location), "is not an Azure region name", `use a region such as "eastus2" or "westus3"`)
	}
	if c.Instance == "" {
		v.add("instance", "", "must not be empty (it ends every resource name)", `use e.g. "001"`)
	} else if !nameTokenRe.MatchString(c.Instance) {
		v.add("instance", q(c.Instance), "must be letters and digits with single hyphens", `use e.g. "001"`)
	}
	for _, s := range []struct {
		name     string
		rg       *string
		existing bool
	}{{"resource_group_name_a", c.ResourceGroupNameA, c.UseExistingResourceGroupA}, {"resource_group_name_b", c.ResourceGroupNameB, c.UseExistingResourceGroupB}} {
		if s.rg == nil {
			continue
		}
		rg := *s.rg
		switch {
		case rg == "":
			v.add(s.name, `""`, "must not be empty", "set null to use the generated name, or give a name")
		case len(rg) > 90:
			v.add(s.name, q(rg), fmt.Sprintf("is %d characters; Azure allows at most 90 for a resource group", len(rg)), "shorten it")
		case !rgNameRe.MatchString(rg):
			v.add(s.name, q(rg), "Azure resource group names allow letters, digits, '-', '_', '.', '(' and ')' and must not end with '.'", "remove the other characters")
		}
	}
}

// cidr parses an IPv4 CIDR the way Azure requires it: valid, IPv4, no host bits set.
func cidr(s string) (netip.Prefix, string, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, "is not a CIDR (Terraform's cidrhost() rejects it)", "write an IPv4 CIDR such as 10.1.0.0/16"
	}
	if !p.Addr().Is4() {
		return p, "is not IPv4: the blueprint's networks are IPv4 only", "use an IPv4 CIDR such as 10.1.0.0/16"
	}
	if p.Masked() != p {
		return p, "has host bits set; Azure rejects such address prefixes", "use " + p.Masked().String()
	}
	return p, "", ""
}

func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

type netCheck struct {
	variable string
	value    string
	prefix   netip.Prefix
}

func (v *validator) networks() {
	c := v.c
	vnets := map[string]netip.Prefix{}
	subnets := map[string]netip.Prefix{}
	for _, cl := range []string{"a", "b"} {
		name := "cluster_" + cl + "_virtual_network_config"
		cfg := c.ClusterAVirtualNetworkConfig
		if cl == "b" {
			cfg = c.ClusterBVirtualNetworkConfig
		}
		space, r1, f1 := cidr(cfg.AddressSpace)
		if r1 != "" {
			v.add(name, "address_space = "+q(cfg.AddressSpace), "address_space "+r1, f1)
		}
		sub, r2, f2 := cidr(cfg.SubnetAddressPrefix)
		if r2 != "" {
			v.add(name, "subnet_address_prefix = "+q(cfg.SubnetAddressPrefix), "subnet_address_prefix "+r2, f2)
		}
		if r1 == "" && r2 == "" {
			if !space.Contains(sub.Addr()) || sub.Bits() < space.Bits() {
				v.add(name, "subnet_address_prefix = "+q(cfg.SubnetAddressPrefix), "the subnet lies outside the address space "+cfg.AddressSpace, "pick a subnet inside "+cfg.AddressSpace)
			}
		}
		if r2 == "" && sub.Bits() > 29 {
			v.add(name, "subnet_address_prefix = "+q(cfg.SubnetAddressPrefix), "is smaller than /29: Azure reserves 5 addresses per subnet and the VM needs the 4th host address", "use a /29 or larger (e.g. /28)")
		}
		if r1 == "" {
			vnets[cl] = space
		}
		if r2 == "" {
			subnets[cl] = sub
		}
	}
	if a, ok := vnets["a"]; ok {
		if b, ok := vnets["b"]; ok && overlaps(a, b) {
			v.add("cluster_b_virtual_network_config", "address_space = "+q(c.ClusterBVirtualNetworkConfig.AddressSpace),
				"overlaps Cluster A's address space "+c.ClusterAVirtualNetworkConfig.AddressSpace+"; Azure cannot peer overlapping virtual networks",
				"give the clusters disjoint ranges, e.g. 10.1.0.0/16 and 10.2.0.0/16")
		}
	}
	privateEP := c.ShouldCreateACRPrivateEndpoint || c.ShouldEnablePrivateEndpoints
	for _, cl := range []string{"a", "b"} {
		space, hasSpace := vnets[cl]
		var used []netCheck
		if s, ok := subnets[cl]; ok {
			used = append(used, netCheck{"cluster_" + cl + "_virtual_network_config", "subnet_address_prefix", s})
		}
		lists := []struct {
			name    string
			list    []string
			enabled bool
			why     string
		}{
			{"cluster_" + cl + "_subnet_address_prefixes_acr", pick(cl, c.ClusterASubnetPrefixesACR, c.ClusterBSubnetPrefixesACR), privateEP, "the ACR private endpoint"},
			{"cluster_" + cl + "_subnet_address_prefixes_aks", pick(cl, c.ClusterASubnetPrefixesAKS, c.ClusterBSubnetPrefixesAKS), c.ShouldCreateAKS, "AKS nodes"},
			{"cluster_" + cl + "_subnet_address_prefixes_aks_pod", pick(cl, c.ClusterASubnetPrefixesAKSPod, c.ClusterBSubnetPrefixesAKSPod), c.ShouldCreateAKS, "AKS pods"},
		}
		if c.ShouldCreateAKS {
			sz := c.ClusterA
			if cl == "b" {
				sz = c.ClusterB
			}
			pools := make([]string, 0, len(sz.NodePools))
			for k := range sz.NodePools {
				pools = append(pools, k)
			}
			sort.Strings(pools)
			for _, k := range pools {
				np := sz.NodePools[k]
				lists = append(lists,
					struct {
						name    string
						list    []string
						enabled bool
						why     string
					}{"cluster_" + cl + "_node_pools", np.SubnetAddressPrefixes, true, "node pool " + k},
					struct {
						name    string
						list    []string
						enabled bool
						why     string
					}{"cluster_" + cl + "_node_pools", np.PodSubnetAddressPrefixes, true, "node pool " + k + " pods"})
			}
		}
		for _, l := range lists {
			if !l.enabled {
				continue // Azure never sees the value: upstream creates these subnets only with the feature
			}
			if len(l.list) == 0 && !strings.HasSuffix(l.name, "_node_pools") {
				v.add(l.name, "[]", "needs at least one CIDR for "+l.why, "give a free range inside the cluster's address space")
			}
			for _, s := range l.list {
				p, r, f := cidr(s)
				if r != "" {
					v.add(l.name, q(s), r, f)
					continue
				}
				if p.Bits() > 29 {
					v.add(l.name, q(s), "is smaller than /29: Azure reserves 5 addresses per subnet", "use a /29 or larger")
				}
				if hasSpace && (!space.Contains(p.Addr()) || p.Bits() < space.Bits()) {
					v.add(l.name, q(s), "lies outside the cluster's address space "+space.String()+" (used for "+l.why+")", "pick a range inside "+space.String())
				}
				for _, u := range used {
					if overlaps(u.prefix, p) {
						v.add(l.name, q(s), "overlaps "+u.variable+" "+u.value+" "+u.prefix.String()+"; Azure subnets of one VNet must not overlap", "pick a free range")
						break
					}
				}
				used = append(used, netCheck{l.name, "(" + l.why + ")", p})
			}
		}
	}
}

func pick(cl string, a, b []string) []string {
	if cl == "b" {
		return b
	}
	return a
}

func (v *validator) sizing(cl string, s *ClusterSizing) {
	if !v.c.ShouldCreateAKS {
		return // the AKS variables are not used
	}
	pre := "cluster_" + cl + "_"
	if s.NodeCount < 1 || s.NodeCount > 1000 {
		v.add(pre+"node_count", itoa0(s.NodeCount), "an AKS node pool needs 1 to 1000 nodes", "use 1")
	}
	if !vmSizeRe.MatchString(s.NodeVMSize) {
		v.add(pre+"node_vm_size", q(s.NodeVMSize), "is not an Azure VM size", `use e.g. "Standard_D8ds_v6"`)
	}
	if s.EnableAutoScaling {
		if s.MinCount == nil {
			v.add(pre+"min_count", "null", "is required when "+pre+"enable_auto_scaling = true", "set a minimum node count")
		}
		if s.MaxCount == nil {
			v.add(pre+"max_count", "null", "is required when "+pre+"enable_auto_scaling = true", "set a maximum node count")
		}
		if s.MinCount != nil && s.MaxCount != nil && *s.MinCount > *s.MaxCount {
			v.add(pre+"min_count", itoa0(*s.MinCount), fmt.Sprintf("is greater than %smax_count (%d)", pre, *s.MaxCount), "make min_count ≤ max_count")
		}
	}
	if s.DNSPrefix != nil && !aksDNSRe.MatchString(*s.DNSPrefix) {
		v.add(pre+"dns_prefix", q(*s.DNSPrefix), "an AKS DNS prefix is 1-54 letters, digits and hyphens, starting and ending with a letter or digit", "shorten or fix it, or set null to generate one")
	}
	keys := make([]string, 0, len(s.NodePools))
	for k := range s.NodePools {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		np := s.NodePools[k]
		if !aksPoolNameRe.MatchString(k) {
			v.add(pre+"node_pools", q(k), "an AKS Linux node pool name is 1-12 lowercase letters and digits starting with a letter", "rename the pool")
		}
		if np.NodeCount < 0 || np.NodeCount > 1000 {
			v.add(pre+"node_pools", q(k)+".node_count = "+itoa0(np.NodeCount), "must be 0 to 1000", "fix the count")
		}
		if !vmSizeRe.MatchString(np.VMSize) {
			v.add(pre+"node_pools", q(k)+".vm_size = "+q(np.VMSize), "is not an Azure VM size", `use e.g. "Standard_D8ds_v6"`)
		}
		if np.EnableAutoScaling && (np.MinCount == nil || np.MaxCount == nil) {
			v.add(pre+"node_pools", q(k), "autoscaling needs min_count and max_count", "set both")
		}
		if np.MinCount != nil && np.MaxCount != nil && *np.MinCount > *np.MaxCount {
			v.add(pre+"node_pools", q(k), "min_count is greater than max_count", "make min_count ≤ max_count")
		}
	}
}

func itoa0(i int) string { return fmt.Sprintf("%d", i) }

func (v *validator) shared() {
	c := v.c
	if !dns1123Label.MatchString(c.AIONamespace) || len(c.AIONamespace) > 63 {
		v.add("aio_namespace", q(c.AIONamespace), "a Kubernetes namespace is a DNS label: 1-63 lowercase letters, digits and hyphens", `use "azure-iot-operations"`)
	}
	if c.ClusterAdminGroupOID != nil && !guidRe.MatchString(*c.ClusterAdminGroupOID) {
		v.add("cluster_admin_group_oid", q(*c.ClusterAdminGroupOID), "is not an object id (a GUID)", "copy the group's Object ID from Entra ID, or set null")
	}
	if c.CustomLocationsOID != nil && !guidRe.MatchString(*c.CustomLocationsOID) {
		v.add("custom_locations_oid", q(*c.CustomLocationsOID), "is not an object id (a GUID)", "run `az ad sp show --id bc313c14-388c-4e7d-a58e-70017303ee3b --query id -o tsv`, or set null")
	}
	if c.NatGatewayIdleTimeoutMinutes < 4 || c.NatGatewayIdleTimeoutMinutes > 240 {
		v.add("nat_gateway_idle_timeout_minutes", itoa0(c.NatGatewayIdleTimeoutMinutes), "must be between 4 and 240 minutes", "use 4")
	}
	if c.NatGatewayPublicIPCount < 1 || c.NatGatewayPublicIPCount > 16 {
		v.add("nat_gateway_public_ip_count", itoa0(c.NatGatewayPublicIPCount), "must be between 1 and 16", "use 1")
	}
	seen := map[string]bool{}
	for _, z := range c.NatGatewayZones {
		if z != "1" && z != "2" && z != "3" {
			v.add("nat_gateway_zones", q(z), `availability zones are "1", "2" or "3"`, `use e.g. ["1"] or []`)
		} else if seen[z] {
			v.add("nat_gateway_zones", q(z), "is listed twice", "list each zone once")
		}
		seen[z] = true
	}
	if len(c.NatGatewayZones) > 1 {
		v.add("nat_gateway_zones", fmt.Sprintf("%q", c.NatGatewayZones), "a NAT gateway lives in at most one zone", "give one zone or none")
	}
	feats := make([]string, 0, len(c.AIOFeatures))
	for k := range c.AIOFeatures {
		feats = append(feats, k)
	}
	sort.Strings(feats)
	for _, k := range feats {
		f := c.AIOFeatures[k]
		if f.Mode != nil && *f.Mode != "Stable" && *f.Mode != "Preview" && *f.Mode != "Disabled" {
			v.add("aio_features", fmt.Sprintf("%s.mode = %q", k, *f.Mode), "mode must be Stable, Preview or Disabled", "use one of those (case matters)")
		}
		sk := make([]string, 0, len(f.Settings))
		for s := range f.Settings {
			sk = append(sk, s)
		}
		sort.Strings(sk)
		for _, s := range sk {
			if val := f.Settings[s]; val != "Enabled" && val != "Disabled" {
				v.add("aio_features", fmt.Sprintf("%s.settings.%s = %q", k, s, val), "each setting must be Enabled or Disabled", "use Enabled or Disabled (case matters)")
			}
		}
	}
	v.objectList("namespaced_devices", c.NamespacedDevices, nil)
	v.objectList("namespaced_assets", c.NamespacedAssets, func(i int, o map[string]any) {
		if _, ok := o["device_ref"]; !ok {
			v.add("namespaced_assets", fmt.Sprintf("[%d]", i), "device_ref is required", "name the device the asset belongs to")
		}
		groups, _ := o["management_groups"].([]any)
		for gi, g := range groups {
			gm, _ := g.(map[string]any)
			actions, _ := gm["actions"].([]any)
			for ai, a := range actions {
				am, _ := a.(map[string]any)
				t, _ := am["action_type"].(string)
				if t != "Call" && t != "Read" && t != "Write" {
					v.add("namespaced_assets", fmt.Sprintf("[%d].management_groups[%d].actions[%d].action_type = %q", i, gi, ai, t), "action_type must be Call, Read or Write", "use one of those")
				}
			}
		}
	})
	v.objectList("asset_endpoint_profiles", c.AssetEndpointProfiles, nil)
	v.objectList("assets", c.Assets, nil)
}

// objectList checks the free-form device/asset lists: objects with a unique non-empty name.
func (v *validator) objectList(name string, list []map[string]any, more func(int, map[string]any)) {
	seen := map[string]bool{}
	for i, o := range list {
		if o == nil {
			v.add(name, fmt.Sprintf("[%d] = null", i), "each entry must be an object", "remove the null entry")
			continue
		}
		n, _ := o["name"].(string)
		if n == "" {
			v.add(name, fmt.Sprintf("[%d]", i), "each entry needs a non-empty name", "add name = \"...\"")
		} else if seen[n] {
			v.add(name, fmt.Sprintf("[%d].name = %q", i, n), "names must be unique", "rename one of them")
		}
		seen[n] = true
		if more != nil {
			more(i, o)
		}
	}
}

func (v *validator) mqtt() {
	c := v.c
	p := c.EnterpriseBrokerPort
	switch {
	case p < 1 || p > 65535:
		v.add("enterprise_broker_port", itoa0(p), "must be > 0 and <= 65535", "use 28883")
	case p == 18883:
		v.add("enterprise_broker_port", itoa0(p), "is the port of the broker's internal default listener", "use 28883")
	case p == 18884 && c.ShouldCreateAnonymousBrokerListener:
		v.add("enterprise_broker_port", itoa0(p), "is the port of the anonymous listener default-anon", "use 28883")
	}
	for _, s := range []struct{ name, val string }{
		{"enterprise_broker_tls_cert_secret_name", c.EnterpriseBrokerTLSCertSecretName},
		{"enterprise_client_ca_configmap_name", c.EnterpriseClientCAConfigMapName},
		{"site_client_secret_name", c.SiteClientSecretName},
		{"site_tls_ca_configmap_name", c.SiteTLSCAConfigMapName},
	} {
		if len(s.val) > 253 || !dns1123Sub.MatchString(s.val) {
			v.add(s.name, q(s.val), "a Kubernetes object name is lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", "use e.g. "+q(strings.Trim(strings.ToLower(s.val), "-.")))
		}
	}
}

func (v *validator) certificates() {
	c := v.c
	if c.UseTerraformCertificates && !c.ShouldCreateCertificates {
		v.add("use_terraform_certificates", "true", "only applies when should_create_certificates = true; with false the certificates come from Key Vault", "set use_terraform_certificates = false, or should_create_certificates = true")
	}
	if c.ExternalCertificates != nil {
		if c.CertMode() == CertModeStep {
			v.add("external_certificates", "(sensitive)", "conflicts with Step CLI generation (should_create_certificates = true, use_terraform_certificates = false): the certificates would be generated and supplied at once",
				"set use_terraform_certificates = true (your chains replace the generated ones, as upstream does) or should_create_certificates = false (your chains are published to Key Vault)")
		}
		e := c.ExternalCertificates
		for _, f := range []struct{ name, val string }{
			{"server_root_ca_cert", e.ServerRootCACert}, {"server_root_ca_key", e.ServerRootCAKey},
			{"server_intermediate_ca_cert", e.ServerIntermediateCACert}, {"server_intermediate_ca_key", e.ServerIntermediateCAKey},
			{"server_leaf_cert", e.ServerLeafCert}, {"server_leaf_key", e.ServerLeafKey},
			{"client_root_ca_cert", e.ClientRootCACert}, {"client_root_ca_key", e.ClientRootCAKey},
			{"client_intermediate_ca_cert", e.ClientIntermediateCACert}, {"client_intermediate_ca_key", e.ClientIntermediateCAKey},
			{"client_leaf_cert", e.ClientLeafCert}, {"client_leaf_key", e.ClientLeafKey},
		} {
			// Never echo the value: it may be a private key.
			if !strings.Contains(f.val, "-----BEGIN ") {
				v.add("external_certificates", f.name+" = (sensitive)", f.name+" is not PEM (no -----BEGIN line)", "paste the PEM text, e.g. with file(\"server-leaf.pem\") replaced by its contents")
			}
		}
	}
}

func (v *validator) peering() {
	c := v.c
	if c.VnetPeeringAllowGatewayTransit {
		v.add("vnet_peering_allow_gateway_transit", "true", "the blueprint creates no virtual network gateway, so there is nothing to transit; Azure rejects the peering", "set it to false")
	}
	if c.VnetPeeringUseRemoteGateways {
		v.add("vnet_peering_use_remote_gateways", "true", "the peered network has no gateway; Azure rejects use_remote_gateways without one", "set it to false")
	}
}

func (v *validator) tags() {
	keys := make([]string, 0, len(v.c.Tags))
	for k := range v.c.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// The blueprint adds Environment, Instance, blueprint and cluster itself.
	if len(keys) > 46 {
		v.add("tags", fmt.Sprintf("%d tags", len(keys)), "Azure allows 50 tags per resource and dualpeer adds 4", "keep at most 46")
	}
	for _, k := range keys {
		val := v.c.Tags[k]
		lk := strings.ToLower(k)
		switch {
		case k == "":
			v.add("tags", `""`, "a tag name must not be empty", "remove it")
		case len(k) > 512:
			v.add("tags", q(k[:20]+"…"), "tag names are at most 512 characters", "shorten it")
		case strings.ContainsAny(k, `<>%&\?/`):
			v.add("tags", q(k), `tag names must not contain < > % & \ ? /`, "rename it")
		case strings.HasPrefix(lk, "microsoft") || strings.HasPrefix(lk, "azure") || strings.HasPrefix(lk, "windows"):
			v.add("tags", q(k), "tag names starting with microsoft, azure or windows are reserved", "rename it")
		}
		if len(val) > 256 {
			v.add("tags", q(k)+" = "+q(val[:20]+"…"), "tag values are at most 256 characters", "shorten it")
		}
	}
}

// nameRule is one Azure naming rule a generated name must meet.
type nameRule struct {
	what     string
	get      func(n Names) string
	min, max int
	re       *regexp.Regexp
	charset  string
}

var (
	alnumHyphen      = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$`)
	alnumHyphenUnder = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*[a-zA-Z0-9_]$`)
	lowerHyphen      = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`)
	lowerAlnum       = regexp.MustCompile(`^[a-z0-9]+$`)
	alnumOnly        = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	kvRe             = regexp.MustCompile(`^[a-zA-Z](?:-?[a-zA-Z0-9])*$`)
)

func nameRules() []nameRule {
	return []nameRule{
		{"virtual machine", func(n Names) string { return n.VM }, 1, 64, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"Linux computer name", func(n Names) string { return n.ComputerName }, 1, 64, lowerHyphen, "lowercase letters, digits, '-'"},
		{"network interface", func(n Names) string { return n.NIC }, 1, 80, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"public IP", func(n Names) string { return n.PublicIP }, 1, 80, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"public IP DNS label", func(n Names) string { return n.DNSLabel }, 3, 63, lowerHyphen, "lowercase letters, digits, '-'"},
		{"network security group", func(n Names) string { return n.NSG }, 1, 80, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"virtual network", func(n Names) string { return n.VNet }, 2, 64, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"subnet", func(n Names) string { return n.Subnet }, 1, 80, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"NAT gateway", func(n Names) string { return n.NATGateway }, 1, 80, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"Key Vault", func(n Names) string { return n.KeyVault }, 3, maxKeyVault, kvRe, "letters, digits, single hyphens, starting with a letter"},
		{"Managed Grafana", func(n Names) string { return n.Grafana }, 2, maxGrafana, alnumHyphen, "letters, digits, '-'"},
		{"storage account", func(n Names) string { return n.StorageAccount }, 3, maxStorage, lowerAlnum, "lowercase letters and digits"},
		{"container registry", func(n Names) string { return n.ACR }, minACR, maxACR, alnumOnly, "letters and digits"},
		{"Log Analytics workspace", func(n Names) string { return n.LogAnalytics }, 4, 63, alnumHyphen, "letters, digits, '-'"},
		{"Azure Monitor workspace", func(n Names) string { return n.MonitorWorkspace }, 4, 44, alnumHyphen, "letters, digits, '-'"},
		{"data collection endpoint", func(n Names) string { return n.DataCollectionEndpt }, 3, 44, alnumHyphen, "letters, digits, '-'"},
		{"data collection rule", func(n Names) string { return n.DataCollectionMetr }, 3, 64, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"Event Hubs namespace", func(n Names) string { return n.EventHubNamespace }, 6, 50, alnumHyphen, "letters, digits, '-'"},
		{"Event Grid namespace", func(n Names) string { return n.EventGridNamespace }, 3, 50, alnumHyphen, "letters, digits, '-'"},
		{"managed identity", func(n Names) string { return n.IdentityAIO }, 3, 128, alnumHyphenUnder, "letters, digits, '_', '-'"},
		{"schema registry", func(n Names) string { return n.SchemaRegistry }, 3, 63, lowerHyphen, "lowercase letters, digits, '-'"},
		{"schema registry namespace", func(n Names) string { return n.SchemaRegistryNamespace }, 3, 32, lowerHyphen, "lowercase letters, digits, '-'"},
		{"Arc connected cluster", func(n Names) string { return n.ArcCluster }, 1, 63, alnumHyphenUnder, "letters, digits, '_', '.', '-'"},
		{"custom location", func(n Names) string { return n.CustomLocation }, 1, 63, lowerHyphen, "lowercase letters, digits, '-'"},
		{"IoT Operations instance", func(n Names) string { return n.AIOInstance }, 3, 63, lowerHyphen, "lowercase letters, digits, '-'"},
		{"AKS cluster", func(n Names) string { return n.AKS }, 1, 63, alnumHyphenUnder, "letters, digits, '_', '-'"},
	}
}

// names checks the generated names against Azure's rules. Names that dualpeer shortens always
// fit; the others can still be too long when the prefix, environment or instance are long.
func (v *validator) names() {
	c := v.c
	if c.ResourcePrefix == "" || c.Environment == "" || c.Instance == "" ||
		!prefixRe.MatchString(c.ResourcePrefix) || !nameTokenRe.MatchString(c.Environment) || !nameTokenRe.MatchString(c.Instance) {
		return // already reported; the names would only repeat it
	}
	reported := map[string]bool{}
	for _, cl := range []string{"a", "b"} {
		n := c.Names(cl)
		for _, r := range nameRules() {
			name := r.get(n)
			if reported[r.what] {
				continue
			}
			if len(name) < r.min || len(name) > r.max || !r.re.MatchString(name) {
				reported[r.what] = true
				v.add("resource_prefix", q(c.ResourcePrefix),
					fmt.Sprintf("gives the %s name %q (%d characters); Azure allows %d-%d characters: %s", r.what, name, len(name), r.min, r.max, r.charset),
					"shorten resource_prefix (6 characters or fewer is safe), environment or instance")
			}
		}
	}
}
