package blueprint

import (
	"strings"
	"testing"
)

func TestNamesConvention(t *testing.T) {
	c := QuickStart()
	c.ResourcePrefix, c.Environment, c.Instance = "myorg", "dev", "001"
	a, b := c.Names("a"), c.Names("b")
	tests := []struct{ got, want string }{
		{a.VM, "vm-myorg-cluster-a-dev-001"},
		{b.VM, "vm-myorg-cluster-b-dev-001"},
		{a.ResourceGroup, "rg-myorg-cluster-a-dev-001"},
		{a.VNet, "vnet-myorg-cluster-a-dev-001"},
		{a.Subnet, "snet-myorg-cluster-a-dev-001"},
		{a.KeyVault, "kv-myorg-ca-dev-001"}, // the convention gives 26 > 24
		{b.KeyVault, "kv-myorg-cb-dev-001"},
		{a.Grafana, "amg-myorg-ca-dev-001"},
		{a.ACR, "acrmyorgclusteradev001"},
		{a.StorageAccount, "stmyorgclusteradev001"},
		{a.Peering, "peer-cluster-a-to-cluster-b"},
		{b.Peering, "peer-cluster-b-to-cluster-a"},
		{a.ArcCluster, "arck-myorg-cluster-a-dev-001"},
		{a.AIOInstance, "iotops-arck-myorg-cluster-a-dev-001"},
		{a.NATPublicIPs[0], "pip-nat-myorg-cluster-a-dev-001-1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestNamesShortenedStayUniqueAndValid(t *testing.T) {
	for _, prefix := range []string{"a", "myorg", "Contoso", "contoso-manufacturing", "averyveryverylongprefixname"} {
		c := QuickStart()
		c.ResourcePrefix, c.Environment, c.Instance = prefix, "production", "0042"
		a, b := c.Names("a"), c.Names("b")
		for _, r := range nameRules() {
			na, nb := r.get(a), r.get(b)
			if na == nb {
				t.Errorf("%s: %s name %q is the same for both clusters", prefix, r.what, na)
			}
			for _, n := range []string{na, nb} {
				if r.max <= 24 && (len(n) > r.max || !r.re.MatchString(n)) {
					t.Errorf("%s: shortened %s name %q breaks the Azure rule (%d-%d, %s)", prefix, r.what, n, r.min, r.max, r.charset)
				}
			}
		}
		if a.StorageAccount != strings.ToLower(a.StorageAccount) {
			t.Errorf("storage account %q not lowercase", a.StorageAccount)
		}
		// Deterministic.
		if again := c.Names("a"); again.KeyVault != a.KeyVault || again.ACR != a.ACR {
			t.Error("names are not deterministic")
		}
	}
}

func TestVMPrivateIP(t *testing.T) {
	c := Default()
	tests := []struct{ subnet, want string }{
		{"10.1.1.0/24", "10.1.1.4"},
		{"192.168.1.0/28", "192.168.1.4"},
		{"192.168.1.16/29", "192.168.1.20"},
		{"garbage", "invalid IP"},
		{"10.0.0.0/30", "invalid IP"}, // .4 is outside a /30
	}
	for _, tt := range tests {
		c.ClusterAVirtualNetworkConfig.SubnetAddressPrefix = tt.subnet
		if got := c.VMPrivateIP("a").String(); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.subnet, got, tt.want)
		}
	}
	if got := c.VMPrivateIP("b").String(); got != "10.2.1.4" {
		t.Errorf("b: %s", got)
	}
}

func TestARMIDs(t *testing.T) {
	tests := []struct{ got, want string }{
		{ResourceGroupID("s", "rg"), "/subscriptions/s/resourceGroups/rg"},
		{SubnetID("s", "rg", "v", "sn"), "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/sn"},
		{PeeringID("s", "rg", "v", "p"), "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/virtualNetworkPeerings/p"},
		{ExtensionResourceID(ConnectedClusterID("s", "rg", "arc"), "Microsoft.KubernetesConfiguration/extensions", "iot-ops"),
			"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kubernetes/connectedClusters/arc/providers/Microsoft.KubernetesConfiguration/extensions/iot-ops"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s\nwant %s", tt.got, tt.want)
		}
	}
}
