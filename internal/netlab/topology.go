package netlab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
)

// Cluster is one side of the lab: a virtual network with one subnet and one VM.
type Cluster struct {
	Key          string       `json:"key"`           // "a" or "b": part of every name
	AddressSpace netip.Prefix `json:"address_space"` // the VNet's address space, e.g. 10.1.0.0/16
	Subnet       netip.Prefix `json:"subnet"`        // the VM subnet inside AddressSpace, e.g. 10.1.1.0/24
	VMAddr       netip.Addr   `json:"vm_addr"`       // the VM's private IP, Azure's first free host: .4
}

// Gateway is the subnet's default gateway: its first host address, as Azure reserves it.
func (c Cluster) Gateway() netip.Addr { return c.Subnet.Masked().Addr().Next() }

// Peering holds the four settings of a VNet peering (the same for both directions, as the
// blueprint declares them).
type Peering struct {
	AllowVirtualNetworkAccess bool `json:"allow_virtual_network_access"`
	AllowForwardedTraffic     bool `json:"allow_forwarded_traffic"`
	// AllowGatewayTransit is recorded only: the lab has no virtual network gateways, so there is
	// nothing to transit (Azure also accepts it without a gateway; it then has no effect).
	AllowGatewayTransit bool `json:"allow_gateway_transit"`
	// UseRemoteGateways must be false: Azure rejects it when the remote VNet has no gateway,
	// and neither lab VNet has one.
	UseRemoteGateways bool `json:"use_remote_gateways"`
}

// Topology is everything netlab needs to build one deployment.
type Topology struct {
	// ID is the short deployment id that makes every name unique on the host, so two
	// deployments can coexist even with the same CIDRs: 1 to 8 characters of [a-z0-9]
	// (8 is the most that keeps interface names within Linux's 15 characters).
	ID      string  `json:"id"`
	A       Cluster `json:"a"`
	B       Cluster `json:"b"`
	Peering Peering `json:"peering"`
}

// Names are the namespace and link names of one deployment.
type Names struct {
	ID string       `json:"id"`
	A  ClusterNames `json:"a"`
	B  ClusterNames `json:"b"`
}

// ClusterNames are the names of one cluster's namespaces and links.
type ClusterNames struct {
	Key        string `json:"key"`
	RouterNS   string `json:"router_ns"`   // the VNet router namespace
	VMNS       string `json:"vm_ns"`       // the VM namespace
	Bridge     string `json:"bridge"`      // in RouterNS: the subnet's bridge, holds the gateway address
	BridgePort string `json:"bridge_port"` // in RouterNS: router end of the VM's veth, enslaved to Bridge
	VMNIC      string `json:"vm_nic"`      // in VMNS: the VM's NIC
	Peering    string `json:"peering"`     // in RouterNS: this side of the peering veth pair
}

// MaxIDLen keeps "dp-<id>-<key><role>" within IFNAMSIZ-1 = 15 characters.
const MaxIDLen = 8

// namePrefix starts every name netlab creates; the project's safety rule lets tests and tools
// delete anything that carries it.
const namePrefix = "dp-"

var idPattern = regexp.MustCompile(`^[a-z0-9]{1,8}$`)

// Names derives every name from the id and the cluster keys. It does not validate; Apply does.
func (t Topology) Names() Names {
	return Names{ID: t.ID, A: clusterNames(t.ID, t.A.Key), B: clusterNames(t.ID, t.B.Key)}
}

func clusterNames(id, key string) ClusterNames {
	p := idPrefix(id)
	return ClusterNames{
		Key:        key,
		RouterNS:   p + key + "-vnet",
		VMNS:       p + key + "-vm",
		Bridge:     p + key + "br",
		BridgePort: p + key + "pt",
		VMNIC:      p + key + "vm",
		Peering:    p + key + "pe",
	}
}

// idPrefix is what every name of deployment id starts with. The trailing dash keeps id "ab"
// from matching the names of deployment "abc".
func idPrefix(id string) string { return namePrefix + id + "-" }

// Namespaces lists the four namespace names, routers first.
func (n Names) Namespaces() []string {
	return []string{n.A.RouterNS, n.B.RouterNS, n.A.VMNS, n.B.VMNS}
}

// Links lists every link name of the deployment.
func (n Names) Links() []string {
	var out []string
	for _, c := range []ClusterNames{n.A, n.B} {
		out = append(out, c.Bridge, c.BridgePort, c.VMNIC, c.Peering)
	}
	return out
}

// Cluster returns the names of the cluster with key ("a" or "b"); ok is false for other keys.
func (n Names) Cluster(key string) (ClusterNames, bool) {
	switch {
	case key == "":
		return ClusterNames{}, false
	case key == n.A.Key:
		return n.A, true
	case key == n.B.Key:
		return n.B, true
	}
	return ClusterNames{}, false
}

// NewID returns a random 6-character hex deployment id.
func NewID() (string, error) {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a deployment id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// ValidateID checks a deployment id on its own (DestroyByID has nothing else).
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("deployment id %q is invalid: use 1 to %d characters of a-z and 0-9 "+
			"(it becomes part of Linux interface names, which are limited to 15 characters)", id, MaxIDLen)
	}
	return nil
}

// Validate reports every problem of the topology at once.
func (t Topology) Validate() error {
	var errs []error
	if err := ValidateID(t.ID); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, t.A.validate("A")...)
	errs = append(errs, t.B.validate("B")...)
	if t.A.Key == t.B.Key {
		errs = append(errs, fmt.Errorf("clusters A and B both have key %q: give them different keys (\"a\" and \"b\")", t.A.Key))
	}
	if t.A.AddressSpace.IsValid() && t.B.AddressSpace.IsValid() && t.A.AddressSpace.Overlaps(t.B.AddressSpace) {
		errs = append(errs, fmt.Errorf("address spaces %s (cluster A) and %s (cluster B) overlap: "+
			"peered virtual networks need disjoint address spaces (Azure rejects the peering too); change one of them",
			t.A.AddressSpace, t.B.AddressSpace))
	}
	if t.Peering.UseRemoteGateways {
		errs = append(errs, errors.New("peering setting use_remote_gateways=true is not possible: neither virtual network "+
			"has a gateway (Azure rejects the peering for the same reason); set vnet_peering_use_remote_gateways = false"))
	}
	return errors.Join(errs...)
}

func (c Cluster) validate(side string) []error {
	var errs []error
	if len(c.Key) != 1 || c.Key[0] < 'a' || c.Key[0] > 'z' {
		errs = append(errs, fmt.Errorf("cluster %s key %q is invalid: use one lowercase letter (\"a\" or \"b\")", side, c.Key))
	}
	if !c.AddressSpace.IsValid() || !c.AddressSpace.Addr().Is4() {
		errs = append(errs, fmt.Errorf("cluster %s address space %q is not an IPv4 CIDR: use e.g. 10.1.0.0/16", side, c.AddressSpace))
		return errs
	}
	if !c.Subnet.IsValid() || !c.Subnet.Addr().Is4() {
		errs = append(errs, fmt.Errorf("cluster %s subnet %q is not an IPv4 CIDR: use e.g. 10.1.1.0/24", side, c.Subnet))
		return errs
	}
	if c.AddressSpace != c.AddressSpace.Masked() {
		errs = append(errs, fmt.Errorf("cluster %s address space %s has host bits set: use %s", side, c.AddressSpace, c.AddressSpace.Masked()))
	}
	if c.Subnet != c.Subnet.Masked() {
		errs = append(errs, fmt.Errorf("cluster %s subnet %s has host bits set: use %s", side, c.Subnet, c.Subnet.Masked()))
	}
	if c.Subnet.Bits() < c.AddressSpace.Bits() || !c.AddressSpace.Contains(c.Subnet.Addr()) {
		errs = append(errs, fmt.Errorf("cluster %s subnet %s is not inside its address space %s: pick a subnet within it", side, c.Subnet, c.AddressSpace))
	}
	// Azure's smallest subnet is a /29 and it reserves the first four and the last address.
	if c.Subnet.Bits() > 29 {
		errs = append(errs, fmt.Errorf("cluster %s subnet %s is too small: Azure needs at least a /29 (it reserves 5 addresses)", side, c.Subnet))
	}
	switch {
	case !c.VMAddr.IsValid() || !c.VMAddr.Is4():
		errs = append(errs, fmt.Errorf("cluster %s VM address %q is not an IPv4 address: use the subnet's 4th host address", side, c.VMAddr))
	case !c.Subnet.Contains(c.VMAddr):
		errs = append(errs, fmt.Errorf("cluster %s VM address %s is outside its subnet %s", side, c.VMAddr, c.Subnet))
	case c.VMAddr == c.Subnet.Masked().Addr() || c.VMAddr == c.Gateway():
		errs = append(errs, fmt.Errorf("cluster %s VM address %s is the subnet's network or gateway address: use the 4th host address", side, c.VMAddr))
	}
	return errs
}

// VMAddrFor returns the address Azure gives the first NIC of a fresh subnet: the 4th host
// address (.1 is the gateway, .2 and .3 are reserved for Azure DNS).
func VMAddrFor(subnet netip.Prefix) netip.Addr {
	a := subnet.Masked().Addr()
	for range 4 {
		a = a.Next()
	}
	return a
}
