package netlab

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func defaultTopology(id string) Topology {
	return Topology{
		ID: id,
		A: Cluster{Key: "a", AddressSpace: netip.MustParsePrefix("10.1.0.0/16"),
			Subnet: netip.MustParsePrefix("10.1.1.0/24"), VMAddr: netip.MustParseAddr("10.1.1.4")},
		B: Cluster{Key: "b", AddressSpace: netip.MustParsePrefix("10.2.0.0/16"),
			Subnet: netip.MustParsePrefix("10.2.1.0/24"), VMAddr: netip.MustParseAddr("10.2.1.4")},
		Peering: Peering{AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true},
	}
}

// customTopology uses the spec's custom CIDRs: /24 address spaces with /28 subnets.
func customTopology(id string) Topology {
	return Topology{
		ID: id,
		A: Cluster{Key: "a", AddressSpace: netip.MustParsePrefix("192.168.1.0/24"),
			Subnet: netip.MustParsePrefix("192.168.1.0/28"), VMAddr: VMAddrFor(netip.MustParsePrefix("192.168.1.0/28"))},
		B: Cluster{Key: "b", AddressSpace: netip.MustParsePrefix("192.168.2.0/24"),
			Subnet: netip.MustParsePrefix("192.168.2.0/28"), VMAddr: VMAddrFor(netip.MustParsePrefix("192.168.2.0/28"))},
		Peering: Peering{AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true},
	}
}

func TestNames(t *testing.T) {
	for _, id := range []string{"a", "6f3a9c", "abcdefgh"} {
		n := defaultTopology(id).Names()
		all := append(n.Namespaces(), n.Links()...)
		if len(all) != 12 {
			t.Fatalf("id %q: %d names, want 12", id, len(all))
		}
		seen := map[string]bool{}
		for _, name := range all {
			if !strings.HasPrefix(name, "dp-"+id+"-") {
				t.Errorf("id %q: name %q does not start with dp-%s-", id, name, id)
			}
			if seen[name] {
				t.Errorf("id %q: name %q is used twice", id, name)
			}
			seen[name] = true
		}
		for _, name := range n.Links() {
			if len(name) > 15 {
				t.Errorf("id %q: link name %q has %d characters, Linux allows 15", id, name, len(name))
			}
		}
		if c, ok := n.Cluster("b"); !ok || c != n.B {
			t.Errorf("id %q: Cluster(\"b\") = %+v, %v", id, c, ok)
		}
	}
}

func TestVMAddrFor(t *testing.T) {
	for in, want := range map[string]string{"10.1.1.0/24": "10.1.1.4", "192.168.2.0/28": "192.168.2.4", "10.9.0.16/28": "10.9.0.20"} {
		if got := VMAddrFor(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("VMAddrFor(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Topology)
		want   []string // substrings of the error; none means valid
	}{
		"default":      {mutate: func(*Topology) {}},
		"custom cidrs": {mutate: func(t *Topology) { *t = customTopology(t.ID) }},
		"bad id":       {mutate: func(t *Topology) { t.ID = "Has-Dash" }, want: []string{`deployment id "Has-Dash" is invalid`}},
		"long id":      {mutate: func(t *Topology) { t.ID = "abcdefghi" }, want: []string{"1 to 8 characters"}},
		"overlap": {mutate: func(t *Topology) { t.B.AddressSpace = netip.MustParsePrefix("10.0.0.0/8") },
			want: []string{"overlap"}},
		"subnet outside": {mutate: func(t *Topology) { t.A.Subnet = netip.MustParsePrefix("10.3.1.0/24") },
			want: []string{"not inside its address space", "outside its subnet"}},
		"vm is gateway": {mutate: func(t *Topology) { t.B.VMAddr = netip.MustParseAddr("10.2.1.1") },
			want: []string{"gateway"}},
		"tiny subnet": {mutate: func(t *Topology) {
			t.A.Subnet, t.A.VMAddr = netip.MustParsePrefix("10.1.1.0/30"), netip.MustParseAddr("10.1.1.2")
		}, want: []string{"at least a /29"}},
		"same keys":       {mutate: func(t *Topology) { t.B.Key = "a" }, want: []string{"both have key"}},
		"ipv6":            {mutate: func(t *Topology) { t.A.AddressSpace = netip.MustParsePrefix("fd00::/48") }, want: []string{"not an IPv4 CIDR"}},
		"host bits":       {mutate: func(t *Topology) { t.A.AddressSpace = netip.MustParsePrefix("10.1.0.1/16") }, want: []string{"host bits set: use 10.1.0.0/16"}},
		"remote gateways": {mutate: func(t *Topology) { t.Peering.UseRemoteGateways = true }, want: []string{"use_remote_gateways=true", "vnet_peering_use_remote_gateways = false"}},
		"gateway transit": {mutate: func(t *Topology) { t.Peering.AllowGatewayTransit = true }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			top := defaultTopology("abc123")
			tc.mutate(&top)
			err := top.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestRulesGolden pins the nftables rules each peering setting produces.
func TestRulesGolden(t *testing.T) {
	tests := map[string]Peering{
		"default":          {AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true},
		"no-access":        {AllowVirtualNetworkAccess: false, AllowForwardedTraffic: true},
		"no-forwarded":     {AllowVirtualNetworkAccess: true, AllowForwardedTraffic: false},
		"nothing-allowed":  {},
		"gateway-transit":  {AllowVirtualNetworkAccess: true, AllowForwardedTraffic: true, AllowGatewayTransit: true},
		"custom-no-access": {AllowForwardedTraffic: true},
	}
	for name, p := range tests {
		t.Run(name, func(t *testing.T) {
			top := defaultTopology("6f3a9c")
			if strings.HasPrefix(name, "custom") {
				top = customTopology("6f3a9c")
			}
			top.Peering = p
			var buf bytes.Buffer
			if err := writeRules(&buf, top); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "rules-"+name+".golden")
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run `go test ./internal/netlab -run TestRulesGolden -update` to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("rules differ from %s (rerun with -update if intended):\n%s", golden, buf.String())
			}
		})
	}
}
