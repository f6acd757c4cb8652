package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The peering's transit network: a link-local /31, so it can never be mistaken for (or collide
// with) a VNet range, whatever CIDRs the user picks. Every deployment uses the same pair; they
// live in different namespaces.
var (
	transitA = netip.MustParsePrefix("169.254.0.2/31")
	transitB = netip.MustParsePrefix("169.254.0.3/31")
)

// routeProto marks the routes netlab installs ("static" in `ip route`), so convergence can remove
// stale ones it made without touching the kernel's connected routes.
const routeProto = netlink.RouteProtocol(unix.RTPROT_STATIC)

// nsConn is one open lab namespace: a handle on it and a netlink socket inside it. Netlink
// sockets created in a namespace act there from any thread, so no thread switching is needed.
type nsConn struct {
	name string
	ns   netns.NsHandle
	nl   *netlink.Handle
}

func (c *nsConn) close() {
	if c == nil {
		return
	}
	if c.nl != nil {
		c.nl.Close()
	}
	c.ns.Close()
}

// side is one cluster together with what it needs to see of the other.
type side struct {
	c       Cluster
	remote  Cluster
	names   ClusterNames
	router  *nsConn
	vm      *nsConn
	transit netip.Prefix // this router's end of the peering
	peerGW  netip.Addr   // the remote router's end: next hop to the remote address space
}

// lab is an opened deployment.
type lab struct {
	t     Topology
	names Names
	a, b  side
}

func (l *lab) close() {
	for _, c := range []*nsConn{l.a.router, l.a.vm, l.b.router, l.b.vm} {
		c.close()
	}
}

func (l *lab) conns() []*nsConn { return []*nsConn{l.a.router, l.b.router, l.a.vm, l.b.vm} }

// openLab opens the four namespaces of t (creating them first when create is set).
func openLab(t Topology, create bool) (*lab, error) {
	n := t.Names()
	l := &lab{t: t, names: n}
	l.a = side{c: t.A, remote: t.B, names: n.A, transit: transitA, peerGW: transitB.Addr()}
	l.b = side{c: t.B, remote: t.A, names: n.B, transit: transitB, peerGW: transitA.Addr()}
	var err error
	open := func(name string) *nsConn {
		if err != nil {
			return nil
		}
		if create {
			if err = createNS(name); err != nil {
				return nil
			}
		}
		c := &nsConn{name: name}
		if c.ns, err = openNS(name); err != nil {
			return nil
		}
		if c.nl, err = netlink.NewHandleAt(c.ns); err != nil {
			c.ns.Close()
			err = privilegeError("open a netlink socket in namespace "+name, err)
			return nil
		}
		return c
	}
	l.a.router = open(n.A.RouterNS)
	l.b.router = open(n.B.RouterNS)
	l.a.vm = open(n.A.VMNS)
	l.b.vm = open(n.B.VMNS)
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// Apply creates the deployment's network or converges what exists towards t: safe to call
// again, and after an interrupted Apply it completes the work. Links and rules that already
// match are left alone, so a second Apply changes nothing.
//
// Apply, Destroy, UpdatePeering and SetPeeringLink must not run concurrently for the same id
// (the caller's state lock ensures that); different ids are independent.
func Apply(ctx context.Context, t Topology) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("local network: %w", err)
	}
	if err := CheckPrivileges(); err != nil {
		return err
	}
	if err := ensureRunDir(); err != nil {
		return err
	}
	l, err := openLab(t, true)
	if err != nil {
		return err
	}
	defer l.close()
	for _, c := range l.conns() {
		if err := ensureLoopback(ctx, c); err != nil {
			return err
		}
	}
	for _, s := range []side{l.a, l.b} {
		if err := convergeCluster(ctx, s); err != nil {
			return fmt.Errorf("cluster %s: %w", s.c.Key, err)
		}
	}
	if err := convergePeering(ctx, l, true); err != nil {
		return err
	}
	return applyFirewall(ctx, l)
}

// convergeCluster builds one VNet: the router's bridge with the gateway address, the VM's veth
// into it, the VM's address and default route, and forwarding in the router.
func convergeCluster(ctx context.Context, s side) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	br, err := ensureLink(ctx, s.router, s.names.Bridge, "bridge", func() error {
		return s.router.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: s.names.Bridge}})
	})
	if err != nil {
		return err
	}
	port, nic, err := ensureVethPair(ctx, s.router, s.names.BridgePort, s.vm, s.names.VMNIC)
	if err != nil {
		return err
	}
	if port.Attrs().MasterIndex != br.Attrs().Index {
		if err := retry(ctx, func() error { return s.router.nl.LinkSetMasterByIndex(port, br.Attrs().Index) }); err != nil {
			return fmt.Errorf("attach %s to bridge %s in %s: %w", s.names.BridgePort, s.names.Bridge, s.router.name, err)
		}
	}
	bits := s.c.Subnet.Bits()
	if err := ensureAddr(ctx, s.router, br, netip.PrefixFrom(s.c.Gateway(), bits)); err != nil {
		return err
	}
	if err := ensureAddr(ctx, s.vm, nic, netip.PrefixFrom(s.c.VMAddr, bits)); err != nil {
		return err
	}
	for _, x := range []struct {
		c *nsConn
		l netlink.Link
	}{{s.router, br}, {s.router, port}, {s.vm, nic}} {
		if err := ensureUp(ctx, x.c, x.l); err != nil {
			return err
		}
	}
	def := netip.MustParsePrefix("0.0.0.0/0")
	if err := ensureRoutes(ctx, s.vm, nic, []wantRoute{{dst: def, gw: s.c.Gateway()}}); err != nil {
		return err
	}
	return ensureForwarding(s.router)
}

// convergePeering builds the veth pair between the routers, its /31 and the routes to the
// remote address spaces. With up false it only sets both ends down (fault injection).
func convergePeering(ctx context.Context, l *lab, up bool) error {
	la, lb, err := ensureVethPair(ctx, l.a.router, l.a.names.Peering, l.b.router, l.b.names.Peering)
	if err != nil {
		return fmt.Errorf("peering: %w", err)
	}
	ends := []struct {
		s side
		l netlink.Link
	}{{l.a, la}, {l.b, lb}}
	for _, e := range ends {
		if err := ensureAddr(ctx, e.s.router, e.l, e.s.transit); err != nil {
			return fmt.Errorf("peering: %w", err)
		}
		if !up {
			if e.l.Attrs().Flags&net.FlagUp != 0 {
				if err := retry(ctx, func() error { return e.s.router.nl.LinkSetDown(e.l) }); err != nil {
					return fmt.Errorf("peering: set %s down in %s: %w", e.s.names.Peering, e.s.router.name, err)
				}
			}
			continue
		}
		if err := ensureUp(ctx, e.s.router, e.l); err != nil {
			return fmt.Errorf("peering: %w", err)
		}
	}
	if !up {
		return nil // the kernel dropped the routes with the links; bringing them up restores them
	}
	for _, e := range ends {
		// The route covers the remote ADDRESS SPACE, not just its subnet, as Azure's peering
		// does. The source is the local gateway so that traffic the router itself sends comes
		// from inside its VNet (and passes the remote side's forwarded-traffic check).
		want := wantRoute{dst: e.s.remote.AddressSpace, gw: e.s.peerGW, src: e.s.c.Gateway()}
		if err := ensureRoutes(ctx, e.s.router, e.l, []wantRoute{want}); err != nil {
			return fmt.Errorf("peering: %w", err)
		}
	}
	return nil
}

// clashError explains a name that exists but is not what netlab would have made.
func clashError(ns, name, got, want, id string) error {
	return fmt.Errorf("namespace %s already has a link %s of type %s, not the %s dualpeer creates; "+
		"it was not made by this deployment: remove the deployment with `dualpeer down` "+
		"(netlab.DestroyByID(ctx, %q)) or delete the link with `ip -n %s link del %s`, then run again",
		ns, name, got, want, id, ns, name)
}

func idOf(nsName string) string {
	rest := strings.TrimPrefix(nsName, namePrefix)
	id, _, _ := strings.Cut(rest, "-")
	return id
}

// lookup returns the link or nil when it does not exist.
func lookup(ctx context.Context, c *nsConn, name string) (netlink.Link, error) {
	link, err := retryValue(ctx, func() (netlink.Link, error) { return c.nl.LinkByName(name) })
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %s in %s: %w", name, c.name, err)
	}
	return link, nil
}

func ensureLink(ctx context.Context, c *nsConn, name, kind string, create func() error) (netlink.Link, error) {
	link, err := lookup(ctx, c, name)
	if err != nil {
		return nil, err
	}
	if link == nil {
		if err := retry(ctx, create); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, privilegeError(fmt.Sprintf("create %s %s in %s", kind, name, c.name), err)
		}
		if link, err = lookup(ctx, c, name); err != nil {
			return nil, err
		}
		if link == nil {
			return nil, fmt.Errorf("created %s %s in %s but it is gone: is something else deleting dp- links?", kind, name, c.name)
		}
	}
	if link.Type() != kind {
		return nil, clashError(c.name, name, link.Type(), kind, idOf(c.name))
	}
	return link, nil
}

// ensureVethPair makes sure aName in a and bName in b are the two ends of one veth pair. The
// pair is created inside a with its peer placed straight into b, so it never appears in the
// host's namespace. A lone end (the other was lost with its namespace) is replaced.
func ensureVethPair(ctx context.Context, a *nsConn, aName string, b *nsConn, bName string) (netlink.Link, netlink.Link, error) {
	la, err := lookup(ctx, a, aName)
	if err != nil {
		return nil, nil, err
	}
	lb, err := lookup(ctx, b, bName)
	if err != nil {
		return nil, nil, err
	}
	for _, x := range []struct {
		c *nsConn
		l netlink.Link
		n string
	}{{a, la, aName}, {b, lb, bName}} {
		if x.l != nil && x.l.Type() != "veth" {
			return nil, nil, clashError(x.c.name, x.n, x.l.Type(), "veth", idOf(x.c.name))
		}
	}
	// IFLA_LINK of a veth is its peer's ifindex (in the peer's namespace): a cheap pairing check.
	if la != nil && lb != nil && la.Attrs().ParentIndex == lb.Attrs().Index && lb.Attrs().ParentIndex == la.Attrs().Index {
		return la, lb, nil
	}
	for _, x := range []struct {
		c *nsConn
		l netlink.Link
	}{{a, la}, {b, lb}} {
		if x.l == nil {
			continue
		}
		if err := retry(ctx, func() error { return x.c.nl.LinkDel(x.l) }); err != nil && !notFound(err) {
			return nil, nil, fmt.Errorf("remove unpaired veth %s in %s: %w", x.l.Attrs().Name, x.c.name, err)
		}
	}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: aName},
		PeerName:      bName,
		PeerNamespace: netlink.NsFd(b.ns),
	}
	if err := retry(ctx, func() error { return a.nl.LinkAdd(veth) }); err != nil {
		return nil, nil, privilegeError(fmt.Sprintf("create veth pair %s (in %s) / %s (in %s)", aName, a.name, bName, b.name), err)
	}
	if la, err = lookup(ctx, a, aName); err != nil {
		return nil, nil, err
	}
	if lb, err = lookup(ctx, b, bName); err != nil {
		return nil, nil, err
	}
	if la == nil || lb == nil {
		return nil, nil, fmt.Errorf("created veth pair %s/%s but an end is missing: is something else deleting dp- links?", aName, bName)
	}
	return la, lb, nil
}

func notFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH)
}

func ensureLoopback(ctx context.Context, c *nsConn) error {
	lo, err := lookup(ctx, c, "lo")
	if err != nil {
		return err
	}
	if lo == nil {
		return fmt.Errorf("namespace %s has no loopback device", c.name)
	}
	return ensureUp(ctx, c, lo)
}

func ensureUp(ctx context.Context, c *nsConn, l netlink.Link) error {
	if l.Attrs().Flags&net.FlagUp != 0 {
		return nil
	}
	if err := retry(ctx, func() error { return c.nl.LinkSetUp(l) }); err != nil {
		return fmt.Errorf("set %s up in %s: %w", l.Attrs().Name, c.name, err)
	}
	return nil
}

// ensureAddr leaves exactly one IPv4 address, want, on the link (IPv6 link-local is left alone).
func ensureAddr(ctx context.Context, c *nsConn, l netlink.Link, want netip.Prefix) error {
	addrs, err := retryValue(ctx, func() ([]netlink.Addr, error) { return c.nl.AddrList(l, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("list addresses of %s in %s: %w", l.Attrs().Name, c.name, err)
	}
	have := false
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		if ok && p == want {
			have = true
			continue
		}
		a := a
		if err := retry(ctx, func() error { return c.nl.AddrDel(l, &a) }); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("remove stale address %s from %s in %s: %w", a.IPNet, l.Attrs().Name, c.name, err)
		}
	}
	if have {
		return nil
	}
	addr := &netlink.Addr{IPNet: ipNet(want)}
	if err := retry(ctx, func() error { return c.nl.AddrAdd(l, addr) }); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add address %s to %s in %s: %w", want, l.Attrs().Name, c.name, err)
	}
	return nil
}

type wantRoute struct {
	dst netip.Prefix
	gw  netip.Addr
	src netip.Addr // optional
}

// ensureRoutes installs the wanted routes through link l and removes routes netlab made earlier
// through it that are no longer wanted (e.g. after the address space changed).
func ensureRoutes(ctx context.Context, c *nsConn, l netlink.Link, want []wantRoute) error {
	routes, err := retryValue(ctx, func() ([]netlink.Route, error) {
		return c.nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_MAIN},
			netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return fmt.Errorf("list routes via %s in %s: %w", l.Attrs().Name, c.name, err)
	}
	satisfied := make([]bool, len(want))
	for _, r := range routes {
		matched := false
		for i, w := range want {
			if routeMatches(r, w) {
				satisfied[i], matched = true, true
			}
		}
		if matched || r.Protocol != routeProto {
			continue
		}
		r := r
		if err := retry(ctx, func() error { return c.nl.RouteDel(&r) }); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("remove stale route %s in %s: %w", r.Dst, c.name, err)
		}
	}
	for i, w := range want {
		if satisfied[i] {
			continue
		}
		r := &netlink.Route{
			LinkIndex: l.Attrs().Index,
			Dst:       ipNet(w.dst),
			Gw:        net.IP(w.gw.AsSlice()),
			Protocol:  routeProto,
			Table:     unix.RT_TABLE_MAIN,
		}
		if w.src.IsValid() {
			r.Src = net.IP(w.src.AsSlice())
		}
		if err := retry(ctx, func() error { return c.nl.RouteReplace(r) }); err != nil {
			return fmt.Errorf("add route %s via %s dev %s in %s: %w", w.dst, w.gw, l.Attrs().Name, c.name, err)
		}
	}
	return nil
}

func routeMatches(r netlink.Route, w wantRoute) bool {
	dst := netip.MustParsePrefix("0.0.0.0/0")
	if r.Dst != nil {
		var ok bool
		if dst, ok = prefixOf(r.Dst); !ok {
			return false
		}
	}
	gw, _ := netip.AddrFromSlice(r.Gw)
	src, _ := netip.AddrFromSlice(r.Src)
	return dst == w.dst && gw.Unmap() == w.gw && (!w.src.IsValid() || src.Unmap() == w.src)
}

// ensureForwarding sets net.ipv4.ip_forward=1 in the router namespace. /proc/sys/net shows the
// namespace of the thread that opens it, hence the switch into the namespace.
func ensureForwarding(c *nsConn) error {
	return doIn(c.ns, func() error {
		const p = "/proc/sys/net/ipv4/ip_forward"
		b, err := os.ReadFile(p)
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			return nil
		}
		if err := os.WriteFile(p, []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("enable ip_forward in %s: %w", c.name, err)
		}
		return nil
	})
}

func readForwarding(c *nsConn) (bool, error) {
	var on bool
	err := doIn(c.ns, func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		on = strings.TrimSpace(string(b)) == "1"
		return err
	})
	return on, err
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// UpdatePeering changes the peering settings of a running deployment live: it rewrites the
// router and NSG rules, which is all the settings touch. Tests use it to cut and restore access.
func UpdatePeering(ctx context.Context, t Topology) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("update peering: %w", err)
	}
	if err := CheckPrivileges(); err != nil {
		return err
	}
	l, err := openLab(t, false)
	if err != nil {
		return fmt.Errorf("update peering: %w", err)
	}
	defer l.close()
	return applyFirewall(ctx, l)
}

// SetPeeringLink sets both ends of the peering veth down or up, to inject a link fault. Up
// also restores the routes the kernel removed when the links went down.
func SetPeeringLink(ctx context.Context, t Topology, up bool) error {
	if err := t.Validate(); err != nil {
		return fmt.Errorf("set peering link: %w", err)
	}
	if err := CheckPrivileges(); err != nil {
		return err
	}
	l, err := openLab(t, false)
	if err != nil {
		return fmt.Errorf("set peering link: %w", err)
	}
	defer l.close()
	return convergePeering(ctx, l, up)
}
