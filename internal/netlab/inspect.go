package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Status is what exists of a deployment, compared with its topology.
type Status struct {
	ID      string        `json:"id"`
	A       ClusterStatus `json:"a"`
	B       ClusterStatus `json:"b"`
	Peering PeeringStatus `json:"peering"`
	// Problems lists every difference from the topology, each with what to do; empty when the
	// network is exactly as Apply would leave it.
	Problems []string `json:"problems,omitempty"`
}

// Ready says whether the network is complete and as configured.
func (s *Status) Ready() bool { return len(s.Problems) == 0 }

// ClusterStatus is one cluster's namespaces, links, routes and rules.
type ClusterStatus struct {
	Key        string     `json:"key"`
	RouterNS   NSStatus   `json:"router_ns"`
	VMNS       NSStatus   `json:"vm_ns"`
	Bridge     LinkStatus `json:"bridge"`
	BridgePort LinkStatus `json:"bridge_port"`
	VMNIC      LinkStatus `json:"vm_nic"`
	Peering    LinkStatus `json:"peering"`
	Forwarding bool       `json:"forwarding"` // ip_forward in the router
	// RouterRoutes are the routes netlab manages in the router (to the remote address space);
	// VMRoutes the VM's (its default route).
	RouterRoutes []RouteStatus `json:"router_routes,omitempty"`
	VMRoutes     []RouteStatus `json:"vm_routes,omitempty"`
	RouterRules  []RuleStatus  `json:"router_rules,omitempty"` // peering enforcement
	NSGRules     []RuleStatus  `json:"nsg_rules,omitempty"`    // default network security group
}

// NSStatus is one namespace.
type NSStatus struct {
	Name    string `json:"name"`
	Present bool   `json:"present"`
}

// LinkStatus is one link as the kernel has it.
type LinkStatus struct {
	Name      string         `json:"name"`
	Namespace string         `json:"namespace"`
	Present   bool           `json:"present"`
	Up        bool           `json:"up"`      // administratively up
	Carrier   bool           `json:"carrier"` // the other end is up too
	Index     int            `json:"index,omitempty"`
	Addrs     []netip.Prefix `json:"addrs,omitempty"` // IPv4 only
}

// RouteStatus is one route.
type RouteStatus struct {
	Dst     netip.Prefix `json:"dst"`
	Gateway netip.Addr   `json:"gateway"`
	Dev     string       `json:"dev"`
}

// RuleStatus is one nftables rule of the table "dualpeer".
type RuleStatus struct {
	Chain   string `json:"chain"`
	Comment string `json:"comment"`
	Handle  uint64 `json:"handle"`
	Packets uint64 `json:"packets,omitempty"` // for counted rules: packets matched so far
}

// PeeringStatus is the peering as enforced now.
type PeeringStatus struct {
	Connected bool `json:"connected"` // both ends present and up with carrier
	// The settings the rules in the routers implement (read back, not copied from the topology).
	AllowVirtualNetworkAccess bool `json:"allow_virtual_network_access"`
	AllowForwardedTraffic     bool `json:"allow_forwarded_traffic"`
	// Dropped counts packets the peering rules dropped in both routers: non-zero explains
	// failed connectivity when access or forwarded traffic is disallowed.
	Dropped uint64 `json:"dropped"`
}

// Inspect reads the deployment's network without changing it. A missing deployment is not an
// error: the Status then says what is absent.
func Inspect(ctx context.Context, t Topology) (*Status, error) {
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("inspect local network: %w", err)
	}
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	n := t.Names()
	st := &Status{ID: t.ID}
	l := &lab{t: t, names: n}
	l.a = side{c: t.A, remote: t.B, names: n.A, transit: transitA, peerGW: transitB.Addr()}
	l.b = side{c: t.B, remote: t.A, names: n.B, transit: transitB, peerGW: transitA.Addr()}
	defer l.close()
	var problems []string
	addProblem := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	// Open what exists; an absent namespace leaves its conn nil.
	open := func(name string) (*nsConn, NSStatus, error) {
		ns := NSStatus{Name: name}
		ok, err := nsExists(name)
		if err != nil || !ok {
			if err == nil {
				addProblem("namespace %s is missing: run Apply (`dualpeer up`)", name)
			}
			return nil, ns, err
		}
		ns.Present = true
		c := &nsConn{name: name}
		if c.ns, err = openNS(name); err != nil {
			return nil, ns, err
		}
		if c.nl, err = netlink.NewHandleAt(c.ns); err != nil {
			c.ns.Close()
			return nil, ns, privilegeError("open a netlink socket in namespace "+name, err)
		}
		return c, ns, nil
	}
	var err error
	for _, x := range []struct {
		s  *side
		cs *ClusterStatus
	}{{&l.a, &st.A}, {&l.b, &st.B}} {
		x.cs.Key = x.s.c.Key
		if x.s.router, x.cs.RouterNS, err = open(x.s.names.RouterNS); err != nil {
			return nil, err
		}
		if x.s.vm, x.cs.VMNS, err = open(x.s.names.VMNS); err != nil {
			return nil, err
		}
	}

	for _, x := range []struct {
		s  side
		cs *ClusterStatus
	}{{l.a, &st.A}, {l.b, &st.B}} {
		s, cs := x.s, x.cs
		bits := s.c.Subnet.Bits()
		cs.Bridge = inspectLink(ctx, s.router, s.names.Bridge, s.router != nil)
		cs.BridgePort = inspectLink(ctx, s.router, s.names.BridgePort, s.router != nil)
		cs.Peering = inspectLink(ctx, s.router, s.names.Peering, s.router != nil)
		cs.VMNIC = inspectLink(ctx, s.vm, s.names.VMNIC, s.vm != nil)
		checkLink := func(ls LinkStatus, want netip.Prefix) {
			switch {
			case ls.Namespace == "":
				return // the namespace is missing, already reported
			case !ls.Present:
				addProblem("link %s is missing in %s: run Apply", ls.Name, ls.Namespace)
			case !ls.Up:
				addProblem("link %s in %s is down: run Apply (or SetPeeringLink up)", ls.Name, ls.Namespace)
			case want.IsValid() && (len(ls.Addrs) != 1 || ls.Addrs[0] != want):
				addProblem("link %s in %s has addresses %v, want %s: run Apply", ls.Name, ls.Namespace, ls.Addrs, want)
			}
		}
		checkLink(cs.Bridge, netip.PrefixFrom(s.c.Gateway(), bits))
		checkLink(cs.BridgePort, netip.Prefix{})
		checkLink(cs.Peering, s.transit)
		checkLink(cs.VMNIC, netip.PrefixFrom(s.c.VMAddr, bits))
		if s.router != nil {
			if cs.Forwarding, err = readForwarding(s.router); err != nil {
				return nil, err
			}
			if !cs.Forwarding {
				addProblem("ip_forward is off in %s: run Apply", s.router.name)
			}
			cs.RouterRoutes = managedRoutes(ctx, s.router, cs.Peering)
			if !hasRoute(cs.RouterRoutes, s.remote.AddressSpace, s.peerGW) && cs.Peering.Up {
				addProblem("route to %s via %s is missing in %s: run Apply", s.remote.AddressSpace, s.peerGW, s.router.name)
			}
		}
		if s.vm != nil {
			cs.VMRoutes = managedRoutes(ctx, s.vm, cs.VMNIC)
			if !hasRoute(cs.VMRoutes, netip.MustParsePrefix("0.0.0.0/0"), s.c.Gateway()) {
				addProblem("default route via %s is missing in %s: run Apply", s.c.Gateway(), s.vm.name)
			}
		}
	}

	// Rules: compare each namespace's table with what Apply would write.
	for _, w := range wantedTables(l) {
		if w.conn == nil {
			continue
		}
		rules, match, err := inspectTable(ctx, w)
		if err != nil {
			return nil, err
		}
		if !match {
			addProblem("nftables table %s in %s differs from the peering settings: run Apply (or UpdatePeering)", TableName, w.conn.name)
		}
		switch w.conn {
		case l.a.router:
			st.A.RouterRules = rules
		case l.b.router:
			st.B.RouterRules = rules
		case l.a.vm:
			st.A.NSGRules = rules
		case l.b.vm:
			st.B.NSGRules = rules
		}
	}

	st.Peering.Connected = st.A.Peering.Up && st.A.Peering.Carrier && st.B.Peering.Up && st.B.Peering.Carrier
	st.Peering.AllowVirtualNetworkAccess, st.Peering.AllowForwardedTraffic = true, true
	for _, rs := range [][]RuleStatus{st.A.RouterRules, st.B.RouterRules} {
		for _, r := range rs {
			if strings.HasPrefix(r.Comment, ruleDenyVNetAccess) {
				st.Peering.AllowVirtualNetworkAccess = false
			}
			if strings.HasPrefix(r.Comment, ruleDenyForwarded) {
				st.Peering.AllowForwardedTraffic = false
			}
			st.Peering.Dropped += r.Packets
		}
	}
	if st.A.RouterNS.Present && st.B.RouterNS.Present && !st.Peering.Connected {
		addProblem("the peering link %s/%s is not connected: run Apply (or SetPeeringLink up)", n.A.Peering, n.B.Peering)
	}
	st.Problems = problems
	return st, nil
}

func inspectLink(ctx context.Context, c *nsConn, name string, nsPresent bool) LinkStatus {
	ls := LinkStatus{Name: name}
	if !nsPresent {
		return ls
	}
	ls.Namespace = c.name
	l, err := lookup(ctx, c, name)
	if err != nil || l == nil {
		return ls
	}
	a := l.Attrs()
	ls.Present, ls.Index = true, a.Index
	ls.Up = a.Flags&net.FlagUp != 0
	ls.Carrier = a.RawFlags&unix.IFF_LOWER_UP != 0
	addrs, err := retryValue(ctx, func() ([]netlink.Addr, error) { return c.nl.AddrList(l, netlink.FAMILY_V4) })
	if err == nil {
		for _, ad := range addrs {
			if p, ok := prefixOf(ad.IPNet); ok {
				ls.Addrs = append(ls.Addrs, p)
			}
		}
	}
	return ls
}

// managedRoutes lists the routes netlab made through the link.
func managedRoutes(ctx context.Context, c *nsConn, ls LinkStatus) []RouteStatus {
	if !ls.Present {
		return nil
	}
	routes, err := retryValue(ctx, func() ([]netlink.Route, error) {
		return c.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: ls.Index, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil
	}
	var out []RouteStatus
	for _, r := range routes {
		if r.Protocol != routeProto {
			continue
		}
		rs := RouteStatus{Dst: netip.MustParsePrefix("0.0.0.0/0"), Dev: ls.Name}
		if p, ok := prefixOf(r.Dst); ok {
			rs.Dst = p
		}
		if gw, ok := netip.AddrFromSlice(r.Gw); ok {
			rs.Gateway = gw.Unmap()
		}
		out = append(out, rs)
	}
	return out
}

func hasRoute(rs []RouteStatus, dst netip.Prefix, gw netip.Addr) bool {
	for _, r := range rs {
		if r.Dst == dst && r.Gateway == gw {
			return true
		}
	}
	return false
}

func inspectTable(ctx context.Context, w nsTable) ([]RuleStatus, bool, error) {
	conn, err := nftConn(w.conn)
	if err != nil {
		return nil, false, err
	}
	defer conn.CloseLasting()
	have, err := readTable(ctx, conn)
	if err != nil {
		return nil, false, fmt.Errorf("read nftables table %s in %s: %w", TableName, w.conn.name, err)
	}
	var out []RuleStatus
	for _, c := range have {
		for _, r := range c.rules {
			out = append(out, RuleStatus{Chain: c.name, Comment: r.comment, Handle: r.handle, Packets: r.packets})
		}
	}
	return out, have != nil && tableMatches(have, w.chains), nil
}
