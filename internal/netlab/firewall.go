package netlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// TableName is the nftables table netlab owns in every lab namespace.
const TableName = "dualpeer"

// Rule comments: the names Azure uses where there is one, so `nft list ruleset` inside a lab
// namespace reads like the portal. Inspect finds rules by these prefixes.
const (
	ruleDenyVNetAccess  = "DenyVirtualNetworkAccess"
	ruleDenyForwarded   = "DenyForwardedTraffic"
	ruleAllowLoopIn     = "AllowLoopbackInBound"
	ruleAllowEstIn      = "AllowEstablishedInBound"
	ruleAllowVnetIn     = "AllowVnetInBound"
	ruleDenyAllIn       = "DenyAllInBound"
	ruleAllowLoopOut    = "AllowLoopbackOutBound"
	ruleAllowEstOut     = "AllowEstablishedOutBound"
	ruleAllowVnetOut    = "AllowVnetOutBound"
	ruleDenyInternetOut = "DenyInternetOutBound"
)

// fwChain is one base chain with its rules, as plain data: Apply writes it, Inspect compares the
// kernel's copy with it, and the golden test renders it.
type fwChain struct {
	name   string
	hook   *nftables.ChainHook
	hookNm string
	policy nftables.ChainPolicy
	rules  []fwRule
}

type fwRule struct {
	comment string // unique within the table; encodes every parameter, so equal comments mean equal rules
	exprs   []expr.Any
}

// routerChains enforces the peering settings on traffic arriving over the peering veth, in
// the router of side s. Both routers carry the same rules for their direction, so each
// direction is filtered where it enters a VNet, which is where Azure applies the settings.
//
// The chain hooks prerouting (not forward) so that traffic to the router's own addresses, e.g. a
// ping of the remote gateway, is filtered the same way as traffic to the VMs.
func routerChains(s side, p Peering) []fwChain {
	in := s.names.Peering
	var rules []fwRule
	if !p.AllowVirtualNetworkAccess {
		// allow_virtual_network_access=false: the two address spaces cannot talk over the peering.
		rules = append(rules, fwRule{
			comment: fmt.Sprintf("%s: %s -> %s via %s", ruleDenyVNetAccess, s.remote.AddressSpace, s.c.AddressSpace, in),
			exprs: concat(matchIIF(in), matchPrefix(offSaddr, s.remote.AddressSpace, expr.CmpOpEq),
				matchPrefix(offDaddr, s.c.AddressSpace, expr.CmpOpEq), counterVerdict(expr.VerdictDrop)),
		})
	}
	if !p.AllowForwardedTraffic {
		// allow_forwarded_traffic=false: only traffic that originates in the peered VNet may
		// come over the peering; anything the remote side forwards from elsewhere is dropped.
		rules = append(rules, fwRule{
			comment: fmt.Sprintf("%s: source not in %s via %s", ruleDenyForwarded, s.remote.AddressSpace, in),
			exprs:   concat(matchIIF(in), matchPrefix(offSaddr, s.remote.AddressSpace, expr.CmpOpNeq), counterVerdict(expr.VerdictDrop)),
		})
	}
	// allow_gateway_transit has no rule: there is no gateway to transit (see Peering).
	return []fwChain{{name: "peering", hook: nftables.ChainHookPrerouting, hookNm: "prerouting", policy: nftables.ChainPolicyAccept, rules: rules}}
}

// vmChains is Azure's default network security group for the VM's NIC: inbound only from the
// VirtualNetwork service tag (the VNet's own address space, plus the peered one while the
// peering allows access) and loopback; outbound likewise, and nothing else, because the lab has
// no internet (Azure's AllowInternetOutBound has nothing to reach; denying it makes an
// accidental default route harmless). Replies to allowed flows pass through conntrack.
// AllowAzureLoadBalancerInBound is left out: there is no load balancer probe address here.
func vmChains(s side, p Peering) []fwChain {
	vnetIn := []fwRule{{
		comment: fmt.Sprintf("%s: from %s", ruleAllowVnetIn, s.c.AddressSpace),
		exprs:   concat(matchPrefix(offSaddr, s.c.AddressSpace, expr.CmpOpEq), verdict(expr.VerdictAccept)),
	}}
	vnetOut := []fwRule{{
		comment: fmt.Sprintf("%s: to %s", ruleAllowVnetOut, s.c.AddressSpace),
		exprs:   concat(matchPrefix(offDaddr, s.c.AddressSpace, expr.CmpOpEq), verdict(expr.VerdictAccept)),
	}}
	if p.AllowVirtualNetworkAccess {
		vnetIn = append(vnetIn, fwRule{
			comment: fmt.Sprintf("%s: from peered %s", ruleAllowVnetIn, s.remote.AddressSpace),
			exprs:   concat(matchPrefix(offSaddr, s.remote.AddressSpace, expr.CmpOpEq), verdict(expr.VerdictAccept)),
		})
		vnetOut = append(vnetOut, fwRule{
			comment: fmt.Sprintf("%s: to peered %s", ruleAllowVnetOut, s.remote.AddressSpace),
			exprs:   concat(matchPrefix(offDaddr, s.remote.AddressSpace, expr.CmpOpEq), verdict(expr.VerdictAccept)),
		})
	}
	input := append([]fwRule{
		{comment: ruleAllowLoopIn, exprs: concat(matchIIF("lo"), verdict(expr.VerdictAccept))},
		{comment: ruleAllowEstIn, exprs: concat(matchEstablished(), verdict(expr.VerdictAccept))},
	}, vnetIn...)
	input = append(input, fwRule{comment: ruleDenyAllIn, exprs: counterVerdict(expr.VerdictDrop)})
	output := append([]fwRule{
		{comment: ruleAllowLoopOut, exprs: concat(matchOIF("lo"), verdict(expr.VerdictAccept))},
		{comment: ruleAllowEstOut, exprs: concat(matchEstablished(), verdict(expr.VerdictAccept))},
	}, vnetOut...)
	output = append(output, fwRule{comment: ruleDenyInternetOut, exprs: counterVerdict(expr.VerdictDrop)})
	// The explicit counted drop rules make denials visible in Inspect; the drop policies are the
	// backstop should a rule be removed by hand.
	return []fwChain{
		{name: "input", hook: nftables.ChainHookInput, hookNm: "input", policy: nftables.ChainPolicyDrop, rules: input},
		{name: "output", hook: nftables.ChainHookOutput, hookNm: "output", policy: nftables.ChainPolicyDrop, rules: output},
	}
}

// Hand-written expressions: google/nftables has no high-level matchers (no "ip saddr in
// prefix", no "iifname"), so these build the same bytecode the nft tool emits.
const (
	offSaddr = 12 // IPv4 header offsets
	offDaddr = 16
)

func concat(parts ...[]expr.Any) []expr.Any { return slices.Concat(parts...) }

// ifname pads to IFNAMSIZ, as the kernel stores interface names.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func matchIIF(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}
}

func matchOIF(name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
	}
}

// matchPrefix loads the IPv4 address at off, masks it to the prefix length and compares.
func matchPrefix(off uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	mask := ipNet(p).Mask
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte(mask), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

func matchEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

func verdict(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }

func counterVerdict(k expr.VerdictKind) []expr.Any {
	return []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: k}}
}

// nsTable is the wanted table of one namespace.
type nsTable struct {
	conn   *nsConn
	chains []fwChain
}

func wantedTables(l *lab) []nsTable {
	p := l.t.Peering
	return []nsTable{
		{l.a.router, routerChains(l.a, p)},
		{l.b.router, routerChains(l.b, p)},
		{l.a.vm, vmChains(l.a, p)},
		{l.b.vm, vmChains(l.b, p)},
	}
}

// applyFirewall writes each namespace's table in one transaction (one Flush), and only where
// the kernel's copy differs, so a repeated Apply keeps rule handles and counters.
func applyFirewall(ctx context.Context, l *lab) error {
	for _, w := range wantedTables(l) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := syncTable(ctx, w); err != nil {
			return err
		}
	}
	return nil
}

func nftConn(c *nsConn) (*nftables.Conn, error) {
	conn, err := nftables.New(nftables.WithNetNSFd(int(c.ns)), nftables.AsLasting())
	if err != nil {
		return nil, privilegeError("open nftables in "+c.name, err)
	}
	return conn, nil
}

func syncTable(ctx context.Context, w nsTable) error {
	conn, err := nftConn(w.conn)
	if err != nil {
		return err
	}
	defer conn.CloseLasting()
	have, err := readTable(ctx, conn)
	if err != nil {
		return fmt.Errorf("read nftables table %s in %s: %w", TableName, w.conn.name, err)
	}
	if have != nil && tableMatches(have, w.chains) {
		return nil
	}
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	// Add, delete, add in one batch: the delete cannot fail on a missing table, and the kernel
	// swaps old rules for new atomically, so no packet ever sees a half-written table.
	conn.AddTable(t)
	conn.DelTable(t)
	conn.AddTable(t)
	for _, ch := range w.chains {
		policy := ch.policy
		c := conn.AddChain(&nftables.Chain{Name: ch.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityFilter, Policy: &policy})
		for _, r := range ch.rules {
			conn.AddRule(&nftables.Rule{Table: t, Chain: c, Exprs: r.exprs,
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.comment)})
		}
	}
	if err := retry(ctx, conn.Flush); err != nil {
		return privilegeError(fmt.Sprintf("write nftables table %s in %s", TableName, w.conn.name), err)
	}
	return nil
}

// liveChain is a chain as the kernel has it.
type liveChain struct {
	name   string
	policy nftables.ChainPolicy
	hook   uint32
	rules  []liveRule
}

type liveRule struct {
	comment string
	handle  uint64
	packets uint64
}

// readTable returns the table's chains, or nil when the table does not exist.
func readTable(ctx context.Context, conn *nftables.Conn) ([]liveChain, error) {
	t, err := retryValue(ctx, func() (*nftables.Table, error) {
		return conn.ListTableOfFamily(TableName, nftables.TableFamilyIPv4)
	})
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	chains, err := retryValue(ctx, func() ([]*nftables.Chain, error) {
		return conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	})
	if err != nil {
		return nil, err
	}
	out := []liveChain{}
	for _, c := range chains {
		if c.Table == nil || c.Table.Name != TableName {
			continue
		}
		lc := liveChain{name: c.Name}
		if c.Policy != nil {
			lc.policy = *c.Policy
		}
		if c.Hooknum != nil {
			lc.hook = uint32(*c.Hooknum)
		}
		rules, err := retryValue(ctx, func() ([]*nftables.Rule, error) { return conn.GetRules(t, c) })
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			comment, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			lr := liveRule{comment: comment, handle: r.Handle}
			for _, e := range r.Exprs {
				if ctr, ok := e.(*expr.Counter); ok {
					lr.packets = ctr.Packets
				}
			}
			lc.rules = append(lc.rules, lr)
		}
		out = append(out, lc)
	}
	return out, nil
}

// tableMatches compares by chain name, hook, policy and the ordered rule comments (which
// encode every rule parameter).
func tableMatches(have []liveChain, want []fwChain) bool {
	if len(have) != len(want) {
		return false
	}
	for _, w := range want {
		i := slices.IndexFunc(have, func(h liveChain) bool { return h.name == w.name })
		if i < 0 {
			return false
		}
		h := have[i]
		if h.policy != w.policy || h.hook != uint32(*w.hook) || len(h.rules) != len(w.rules) {
			return false
		}
		for j := range w.rules {
			if h.rules[j].comment != w.rules[j].comment {
				return false
			}
		}
	}
	return true
}

// writeRules renders the wanted tables in nft's syntax, for documentation and golden tests.
func writeRules(w io.Writer, t Topology) error {
	n := t.Names()
	l := &lab{t: t, names: n}
	l.a = side{c: t.A, remote: t.B, names: n.A}
	l.b = side{c: t.B, remote: t.A, names: n.B}
	l.a.router, l.b.router = &nsConn{name: n.A.RouterNS}, &nsConn{name: n.B.RouterNS}
	l.a.vm, l.b.vm = &nsConn{name: n.A.VMNS}, &nsConn{name: n.B.VMNS}
	var b strings.Builder
	for _, tb := range wantedTables(l) {
		fmt.Fprintf(&b, "# namespace %s\ntable ip %s {\n", tb.conn.name, TableName)
		for _, ch := range tb.chains {
			pol := "accept"
			if ch.policy == nftables.ChainPolicyDrop {
				pol = "drop"
			}
			fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy %s;\n", ch.name, ch.hookNm, pol)
			for _, r := range ch.rules {
				fmt.Fprintf(&b, "\t\tcomment %q\n", r.comment)
			}
			b.WriteString("\t}\n")
		}
		b.WriteString("}\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
