package blueprint

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
)

// Names holds every resource name of one cluster. They follow the spec's convention
// `{type}-{resource_prefix}-cluster-{a|b}-{environment}-{instance}`; where a resource type's
// Azure rules forbid that name, a deterministic shortening applies (see docs/naming.md and
// shortName). Equal inputs always give equal names, and the two clusters never share one.
type Names struct {
	Cluster      string // "a" or "b"
	ClusterLabel string // "cluster-a"
	Role         string // "server" (A) or "client" (B), as the spec assigns them
	Prefix       string // "<resource_prefix>-cluster-a", the P of the convention

	ResourceGroup string

	// Security and identity.
	KeyVault           string
	IdentityArc        string
	IdentitySSE        string
	IdentityAIO        string
	SecretProviderName string // the AIO instance's default SecretProviderClass

	// Observability.
	MonitorWorkspace    string
	LogAnalytics        string
	AppInsights         string
	Grafana             string
	DataCollectionLogs  string
	DataCollectionMetr  string
	DataCollectionEndpt string

	// Data.
	StorageAccount          string
	SchemaRegistry          string
	SchemaRegistryNamespace string
	ADRNamespace            string

	// Messaging.
	EventHubNamespace   string
	EventHub            string
	EventGridNamespace  string
	EventGridTopicSpace string

	// Network.
	NSG          string
	VNet         string
	Subnet       string
	NATGateway   string
	NATPublicIPs []string // one per nat_gateway_public_ip_count
	SubnetACR    string
	SubnetAKS    string
	SubnetAKSPod string
	Peering      string // this cluster's VNet → the other's: peer-cluster-a-to-cluster-b

	// VM.
	VM           string
	NIC          string
	IPConfig     string
	PublicIP     string
	DNSLabel     string // public IP DNS label: lowercase
	OSDisk       string
	ComputerName string // Linux hostname: lowercase

	// Containers.
	ACR          string
	AKS          string
	AKSDNSPrefix string

	// Arc and IoT Operations.
	ArcCluster     string
	CustomLocation string
	AIOInstance    string
}

// Azure name limits the shortened types must meet (reference §9).
const (
	maxKeyVault = 24 // 3-24, alphanumerics and hyphens, starts with a letter
	maxGrafana  = 23 // 2-23, alphanumerics and hyphens
	maxACR      = 50 // 5-50, alphanumerics only
	minACR      = 5
	maxStorage  = 24 // 3-24, lowercase alphanumerics only
	maxDNSLabel = 63 // a DNS label
	maxMonitor  = 44 // Azure Monitor workspace: 4-44
	maxDCE      = 44 // data collection endpoint: 3-44
	// Device Registry schema registry namespace: 3-32 lowercase (the service's documented limit).
	maxSRNamespace = 32
)

// Names returns the names of cluster "a" or "b" (anything else is treated as "a"'s mirror "b").
func (c *Config) Names(cluster string) Names {
	cl := "a"
	other := "b"
	rgOverride := c.ResourceGroupNameA
	role := "server"
	if strings.EqualFold(cluster, "b") {
		cl, other, rgOverride, role = "b", "a", c.ResourceGroupNameB, "client"
	}
	label := "cluster-" + cl
	p := c.ResourcePrefix + "-" + label
	e, i := c.Environment, c.Instance
	std := func(typ string, mid ...string) string {
		parts := append([]string{typ, p}, mid...)
		parts = append(parts, e, i)
		return joinNonEmpty(parts...)
	}
	short := func(typ string) []string { // the convention, then with cluster-a → ca
		return []string{
			joinNonEmpty(typ, p, e, i),
			joinNonEmpty(typ, c.ResourcePrefix, "c"+cl, e, i),
		}
	}
	n := Names{
		Cluster:      cl,
		ClusterLabel: label,
		Role:         role,
		Prefix:       p,

		ResourceGroup: std("rg"),

		KeyVault:           shortName(short("kv"), maxKeyVault, false),
		IdentityArc:        std("id", "arc"),
		IdentitySSE:        std("id", "sse"),
		IdentityAIO:        std("id", "aio"),
		SecretProviderName: "spc-ops-aio-" + label,

		MonitorWorkspace:    shortName(short("azmon"), maxMonitor, false),
		LogAnalytics:        std("log"),
		AppInsights:         std("appi"),
		Grafana:             shortName(short("amg"), maxGrafana, false),
		DataCollectionLogs:  joinNonEmpty("dcr", p, e, "logs", i),
		DataCollectionMetr:  joinNonEmpty("dcr", p, e, "metrics", i),
		DataCollectionEndpt: shortName(short("dce"), maxDCE, false),

		StorageAccount: strings.ToLower(shortName(alnum(short("st")), maxStorage, true)),
		SchemaRegistry: strings.ToLower(std("sr")),
		// Lowercase: Device Registry names allow only lowercase letters, digits and hyphens.
		SchemaRegistryNamespace: strings.ToLower(shortName(short("srns"), maxSRNamespace, false)),
		ADRNamespace:            strings.ToLower(std("adrns")),

		EventHubNamespace:   std("evhns", "aio"),
		EventHub:            "evh-aio-sample",
		EventGridNamespace:  joinNonEmpty("evgns", p, e, "aio", i),
		EventGridTopicSpace: joinNonEmpty("evgts", p, e, "aio", i),

		NSG:          std("nsg"),
		VNet:         std("vnet"),
		Subnet:       std("snet"),
		NATGateway:   std("nat"),
		SubnetACR:    joinNonEmpty("subnet", p, "acr", e, i),
		SubnetAKS:    joinNonEmpty("subnet", p, "aks", e, i),
		SubnetAKSPod: joinNonEmpty("subnet", p, "aks-pod", e, i),
		Peering:      "peer-" + label + "-to-cluster-" + other,

		VM:           std("vm"),
		NIC:          std("nic"),
		IPConfig:     std("ipconfig"),
		PublicIP:     std("pip"),
		DNSLabel:     strings.ToLower(shortName(short("dns"), maxDNSLabel, false)),
		OSDisk:       std("osdisk"),
		ComputerName: strings.ToLower(shortName(short("vm"), 64, false)),

		ACR:          strings.ToLower(shortName(alnum(short("acr")), maxACR, true)),
		AKS:          std("aks"),
		AKSDNSPrefix: std("dns"),

		ArcCluster:     std("arck"),
		CustomLocation: strings.ToLower(joinNonEmpty("cl", "arck", p, e, i)),
		AIOInstance:    strings.ToLower(joinNonEmpty("iotops", "arck", p, e, i)),
	}
	if rgOverride != nil && *rgOverride != "" {
		n.ResourceGroup = *rgOverride
	}
	if cl == "a" && c.ClusterA.DNSPrefix != nil && *c.ClusterA.DNSPrefix != "" {
		n.AKSDNSPrefix = *c.ClusterA.DNSPrefix
	}
	if cl == "b" && c.ClusterB.DNSPrefix != nil && *c.ClusterB.DNSPrefix != "" {
		n.AKSDNSPrefix = *c.ClusterB.DNSPrefix
	}
	count := c.NatGatewayPublicIPCount
	if count < 0 || count > 16 {
		count = 0 // invalid; Validate reports it
	}
	for k := 1; k <= count; k++ {
		n.NATPublicIPs = append(n.NATPublicIPs, joinNonEmpty("pip-nat", p, e, i, itoa(k)))
	}
	return n
}

// shortName returns the first candidate that fits max; when none fits it cuts the last (shortest)
// candidate and ends it with a 6-hex-digit hash of the first (the full convention name), so two
// names that differ anywhere, including the cluster letter, stay different.
func shortName(candidates []string, max int, alnumOnly bool) string {
	for _, c := range candidates {
		if len(c) <= max {
			return c
		}
	}
	sum := sha256.Sum256([]byte(candidates[0]))
	h := hex.EncodeToString(sum[:])[:6]
	last := candidates[len(candidates)-1]
	if alnumOnly {
		return last[:max-len(h)] + h
	}
	cut := strings.TrimRight(last[:max-len(h)-1], "-")
	return cut + "-" + h
}

func alnum(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ReplaceAll(n, "-", "")
	}
	return out
}

func joinNonEmpty(parts ...string) string {
	kept := parts[:0:0]
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "-")
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// VMPrivateIP is the private address Azure gives the first NIC of a fresh subnet: the 4th host
// address (Azure reserves .0 network, .1 gateway, .2 and .3 DNS). The invalid Addr is returned
// when the subnet prefix does not parse; Validate reports that.
func (c *Config) VMPrivateIP(cluster string) netip.Addr {
	cfg := c.ClusterAVirtualNetworkConfig
	if strings.EqualFold(cluster, "b") {
		cfg = c.ClusterBVirtualNetworkConfig
	}
	p, err := netip.ParsePrefix(cfg.SubnetAddressPrefix)
	if err != nil || !p.Addr().Is4() {
		return netip.Addr{}
	}
	a := p.Masked().Addr()
	for k := 0; k < 4; k++ {
		a = a.Next()
	}
	if !p.Contains(a) {
		return netip.Addr{}
	}
	return a
}

// SubscriptionPlaceholder stands for the subscription id in ARM ids built before one is known.
const SubscriptionPlaceholder = "00000000-0000-0000-0000-000000000000"

// SubscriptionID returns the ARM id of a subscription.
func SubscriptionID(sub string) string { return "/subscriptions/" + sub }

// ResourceGroupID returns the ARM id of a resource group.
func ResourceGroupID(sub, rg string) string {
	return SubscriptionID(sub) + "/resourceGroups/" + rg
}

// ResourceID returns the ARM id of a resource in a resource group. typ is the full type
// ("Microsoft.Network/virtualNetworks/subnets") and names gives one name per type segment
// ("vnet-…", "snet-…").
func ResourceID(sub, rg, typ string, names ...string) string {
	return ExtensionResourceID(ResourceGroupID(sub, rg), typ, names...)
}

// ExtensionResourceID returns the id of a resource of type typ under scope (a resource id), as
// Arc cluster extensions and role assignments are: "<scope>/providers/<ns>/<type>/<name>…".
func ExtensionResourceID(scope, typ string, names ...string) string {
	segs := strings.Split(typ, "/")
	var b strings.Builder
	b.WriteString(scope)
	b.WriteString("/providers/")
	b.WriteString(segs[0])
	for k, t := range segs[1:] {
		b.WriteString("/" + t + "/")
		if k < len(names) {
			b.WriteString(names[k])
		}
	}
	return b.String()
}

// VirtualNetworkID returns the ARM id of a virtual network.
func VirtualNetworkID(sub, rg, vnet string) string {
	return ResourceID(sub, rg, "Microsoft.Network/virtualNetworks", vnet)
}

// SubnetID returns the ARM id of a subnet.
func SubnetID(sub, rg, vnet, subnet string) string {
	return ResourceID(sub, rg, "Microsoft.Network/virtualNetworks/subnets", vnet, subnet)
}

// PeeringID returns the ARM id of a virtual network peering.
func PeeringID(sub, rg, vnet, peering string) string {
	return ResourceID(sub, rg, "Microsoft.Network/virtualNetworks/virtualNetworkPeerings", vnet, peering)
}

// VirtualMachineID returns the ARM id of a virtual machine.
func VirtualMachineID(sub, rg, vm string) string {
	return ResourceID(sub, rg, "Microsoft.Compute/virtualMachines", vm)
}

// KeyVaultID returns the ARM id of a Key Vault.
func KeyVaultID(sub, rg, kv string) string {
	return ResourceID(sub, rg, "Microsoft.KeyVault/vaults", kv)
}

// ConnectedClusterID returns the ARM id of an Arc connected cluster.
func ConnectedClusterID(sub, rg, name string) string {
	return ResourceID(sub, rg, "Microsoft.Kubernetes/connectedClusters", name)
}

// CustomLocationID returns the ARM id of a custom location.
func CustomLocationID(sub, rg, name string) string {
	return ResourceID(sub, rg, "Microsoft.ExtendedLocation/customLocations", name)
}

// AIOInstanceID returns the ARM id of an Azure IoT Operations instance.
func AIOInstanceID(sub, rg, name string) string {
	return ResourceID(sub, rg, "Microsoft.IoTOperations/instances", name)
}
