package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// requireRoot skips tests that build namespaces when the process may not.
func requireRoot(t testing.TB) {
	t.Helper()
	if err := CheckPrivileges(); err != nil {
		t.Skipf("skipping: this test creates network namespaces and needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); "+
			"run `sudo go test ./internal/netlab/` (%v)", err)
	}
}

// testID returns a random deployment id, so tests never share names.
func testID(t testing.TB) string {
	t.Helper()
	id, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// cleanupLab destroys the deployment when the test ends, also on failure, and checks that no
// namespace and no host link with the id remains.
func cleanupLab(t testing.TB, id string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := DestroyByID(ctx, id); err != nil {
			t.Errorf("DestroyByID(%s): %v", id, err)
		}
		assertGone(t, id)
	})
}

// assertGone checks `ip netns list` and the host's links for anything carrying the id.
func assertGone(t testing.TB, id string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Errorf("ip netns list: %v: %s", err, out)
	}
	if strings.Contains(string(out), "dp-"+id+"-") {
		t.Errorf("after Destroy, `ip netns list` still shows deployment %s:\n%s", id, out)
	}
	out, err = exec.Command("ip", "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Errorf("ip link show: %v: %s", err, out)
	}
	if strings.Contains(string(out), "dp-"+id+"-") {
		t.Errorf("after Destroy, the host namespace has a link of deployment %s:\n%s", id, out)
	}
}

// up applies the topology and registers its cleanup.
func up(t testing.TB, top Topology) {
	t.Helper()
	cleanupLab(t, top.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Apply(ctx, top); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// ping sends one echo request from inside namespace ns (never from the host's namespace) and
// reports whether a reply came back within a second.
func ping(t *testing.T, ns string, dst netip.Addr, src ...string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	args := []string{"-c1", "-W1", "-n", "-q"}
	if len(src) > 0 {
		args = append(args, "-I", src[0])
	}
	return Command(ctx, ns, "ping", append(args, dst.String())...).Run() == nil
}

// run runs a command inside a lab namespace and fails the test if it fails.
func run(t *testing.T, ns, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := Command(ctx, ns, name, args...).CombinedOutput(); err != nil {
		t.Fatalf("ip netns exec %s %s %s: %v: %s", ns, name, strings.Join(args, " "), err, out)
	}
}

func inspect(t *testing.T, top Topology) *Status {
	t.Helper()
	st, err := Inspect(context.Background(), top)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	return st
}

func requireReady(t *testing.T, top Topology) *Status {
	t.Helper()
	st := inspect(t, top)
	if !st.Ready() {
		t.Fatalf("Inspect reports problems:\n%s", strings.Join(st.Problems, "\n"))
	}
	return st
}

func requirePing(t *testing.T, ns string, dst netip.Addr, want bool, src ...string) {
	t.Helper()
	if got := ping(t, ns, dst, src...); got != want {
		from := ns
		if len(src) > 0 {
			from += " (source " + src[0] + ")"
		}
		t.Errorf("ping %s from %s: reachable=%v, want %v", dst, from, got, want)
	}
}

func TestConnectivity(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	st := requireReady(t, top)
	if !st.Peering.Connected || !st.Peering.AllowVirtualNetworkAccess || !st.Peering.AllowForwardedTraffic {
		t.Errorf("peering status = %+v, want connected with access and forwarded traffic allowed", st.Peering)
	}
	n := top.Names()
	requirePing(t, n.A.VMNS, top.B.VMAddr, true)
	requirePing(t, n.B.VMNS, top.A.VMAddr, true)
	requirePing(t, n.A.VMNS, top.A.Gateway(), true)

	// TCP across the peering: a listener in B's VM, a client in A's VM, both made with Do so
	// their sockets belong to the lab namespaces.
	var ln net.Listener
	if err := Do(n.B.VMNS, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(top.B.VMAddr, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", n.B.VMNS, err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "echo %s", line)
		got <- c.RemoteAddr().String()
	}()
	var conn net.Conn
	if err := Do(n.A.VMNS, func() (err error) {
		conn, err = net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second)
		return err
	}); err != nil {
		t.Fatalf("dial %s from %s: %v", ln.Addr(), n.A.VMNS, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(conn, "hello")
	reply, err := io.ReadAll(conn)
	if err != nil || string(reply) != "echo hello\n" {
		t.Errorf("reply = %q, %v; want %q", reply, err, "echo hello\n")
	}
	if remote := <-got; !strings.HasPrefix(remote, top.A.VMAddr.String()+":") {
		t.Errorf("B saw the client as %s, want %s (no NAT on the peering)", remote, top.A.VMAddr)
	}
}

func TestVirtualNetworkAccessDenied(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	top.Peering.AllowVirtualNetworkAccess = false
	up(t, top)
	st := requireReady(t, top)
	if st.Peering.AllowVirtualNetworkAccess {
		t.Errorf("Inspect says access is allowed; the rules should deny it")
	}
	n := top.Names()
	requirePing(t, n.A.VMNS, top.B.VMAddr, false)
	requirePing(t, n.B.VMNS, top.A.VMAddr, false)
	// The VMs' NSGs already refuse the remote range; the routers must refuse it too, so test
	// from router to router (no NSG there), gateway address to gateway address.
	requirePing(t, n.A.RouterNS, top.B.Gateway(), false, top.A.Gateway().String())
	if st := inspect(t, top); st.Peering.Dropped == 0 {
		t.Errorf("the peering rules dropped nothing; the router-to-router ping should have been dropped there")
	}
	// Within a VNet nothing changes.
	requirePing(t, n.A.VMNS, top.A.Gateway(), true)

	// Restore access live, as the cut/restore tests of the CLI do.
	top.Peering.AllowVirtualNetworkAccess = true
	if err := UpdatePeering(context.Background(), top); err != nil {
		t.Fatalf("UpdatePeering: %v", err)
	}
	requireReady(t, top)
	requirePing(t, n.A.VMNS, top.B.VMAddr, true)
	requirePing(t, n.B.VMNS, top.A.VMAddr, true)
	requirePing(t, n.A.RouterNS, top.B.Gateway(), true, top.A.Gateway().String())
}

// outside is an address in neither VNet, put on A's router to stand for traffic that A's side
// forwards from elsewhere (an on-premises network behind an appliance, in Azure terms).
const outside = "172.31.255.1"

// addOutsideSource gives A's router the outside address and B's router the route back, so
// only the peering rules and the NSG decide what gets through.
func addOutsideSource(t *testing.T, top Topology) {
	t.Helper()
	n := top.Names()
	run(t, n.A.RouterNS, "ip", "addr", "add", outside+"/32", "dev", "lo")
	run(t, n.B.RouterNS, "ip", "route", "add", outside+"/32", "via", transitA.Addr().String(), "dev", n.B.Peering)
}

func TestForwardedTraffic(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	addOutsideSource(t, top)
	n := top.Names()
	// Allowed: forwarded traffic reaches B's gateway.
	requirePing(t, n.A.RouterNS, top.B.Gateway(), true, outside)

	top.Peering.AllowForwardedTraffic = false
	if err := UpdatePeering(context.Background(), top); err != nil {
		t.Fatalf("UpdatePeering: %v", err)
	}
	requirePing(t, n.A.RouterNS, top.B.Gateway(), false, outside)
	// VNet-to-VNet traffic is not forwarded traffic and still flows.
	requirePing(t, n.A.VMNS, top.B.VMAddr, true)
	requirePing(t, n.B.VMNS, top.A.VMAddr, true)
	st := inspect(t, top)
	if st.Peering.AllowForwardedTraffic || st.Peering.Dropped == 0 {
		t.Errorf("peering status = %+v, want forwarded traffic denied with drops counted", st.Peering)
	}
}

func TestNSGBlocksNonVNetSource(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	addOutsideSource(t, top)
	n := top.Names()
	// The path works (B's gateway answers the outside source) ...
	requirePing(t, n.A.RouterNS, top.B.Gateway(), true, outside)
	// ... but B's VM does not: the source is not in the VirtualNetwork tag.
	requirePing(t, n.A.RouterNS, top.B.VMAddr, false, outside)
	// While a VNet source reaches it.
	requirePing(t, n.A.RouterNS, top.B.VMAddr, true, top.A.Gateway().String())
	st := inspect(t, top)
	var denied uint64
	for _, r := range st.B.NSGRules {
		if r.Comment == ruleDenyAllIn {
			denied = r.Packets
		}
	}
	if denied == 0 {
		t.Errorf("B's NSG rule %s counted no packets; rules: %+v", ruleDenyAllIn, st.B.NSGRules)
	}
}

// comparable strips counters, which traffic may change, from a status.
func withoutCounters(st *Status) Status {
	c := *st
	for _, cs := range []*ClusterStatus{&c.A, &c.B} {
		for _, rs := range []*[]RuleStatus{&cs.RouterRules, &cs.NSGRules} {
			r := append([]RuleStatus(nil), (*rs)...)
			for i := range r {
				r[i].Packets = 0
			}
			*rs = r
		}
	}
	c.Peering.Dropped = 0
	return c
}

func TestApplyTwiceIsNoop(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	top.Peering.AllowForwardedTraffic = false // so the routers have rules whose handles must survive
	up(t, top)
	before := withoutCounters(requireReady(t, top))
	if err := Apply(context.Background(), top); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	after := withoutCounters(requireReady(t, top))
	// Same link indexes and rule handles: nothing was recreated or rewritten.
	if !reflect.DeepEqual(before, after) {
		t.Errorf("the second Apply changed the network:\nbefore %+v\nafter  %+v", before, after)
	}
	requirePing(t, top.Names().A.VMNS, top.B.VMAddr, true)
}

func TestApplyConvergesChanges(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	n := top.Names()
	// Break things the way a crash or a stray command could.
	run(t, n.A.RouterNS, "ip", "link", "set", n.A.Bridge, "down")
	run(t, n.B.VMNS, "ip", "addr", "flush", "dev", n.B.VMNIC)
	run(t, n.A.VMNS, "nft", "delete", "table", "ip", TableName)
	if st := inspect(t, top); st.Ready() {
		t.Fatalf("Inspect reports no problems after breaking the network")
	}
	if err := Apply(context.Background(), top); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	requireReady(t, top)
	requirePing(t, n.A.VMNS, top.B.VMAddr, true)

	// Same id, new CIDRs: addresses, routes and rules follow.
	custom := customTopology(top.ID)
	if err := Apply(context.Background(), custom); err != nil {
		t.Fatalf("Apply with new CIDRs: %v", err)
	}
	st := requireReady(t, custom)
	if got := st.B.RouterRoutes; len(got) != 1 || got[0].Dst != custom.A.AddressSpace {
		t.Errorf("B's router routes = %+v, want only the one to %s", got, custom.A.AddressSpace)
	}
	requirePing(t, n.A.VMNS, custom.B.VMAddr, true)
	requirePing(t, n.A.VMNS, top.B.VMAddr, false)
}

func TestDestroyAfterPartialApply(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	cleanupLab(t, top.ID)
	n := top.Names()
	// What a crash after cluster A's namespaces could leave: A's two namespaces, a bridge, and
	// B's router namespace file created but never mounted.
	if err := ensureRunDir(); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{n.A.RouterNS, n.A.VMNS} {
		if err := createNS(ns); err != nil {
			t.Fatal(err)
		}
	}
	h, err := openNS(n.A.RouterNS)
	if err != nil {
		t.Fatal(err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		t.Fatal(err)
	}
	err = nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n.A.Bridge}})
	nl.Close()
	h.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nsPath(n.B.RouterNS), nil, 0); err != nil {
		t.Fatal(err)
	}

	if err := Destroy(context.Background(), top); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	assertGone(t, top.ID)
	if err := Destroy(context.Background(), top); err != nil {
		t.Errorf("Destroy of nothing: %v, want nil", err)
	}
}

func TestApplyCompletesPartialApply(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	cleanupLab(t, top.ID)
	n := top.Names()
	if err := ensureRunDir(); err != nil {
		t.Fatal(err)
	}
	if err := createNS(n.A.RouterNS); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nsPath(n.B.VMNS), nil, 0); err != nil { // crashed before the bind mount
		t.Fatal(err)
	}
	if err := Apply(context.Background(), top); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	requireReady(t, top)
	requirePing(t, n.B.VMNS, top.A.VMAddr, true)
}

func TestNameClash(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	n := top.Names()
	run(t, n.B.RouterNS, "ip", "link", "del", n.B.Bridge)
	// A veth where the bridge should be (the kernel here may lack the dummy module).
	run(t, n.B.RouterNS, "ip", "link", "add", n.B.Bridge, "type", "veth", "peer", "name", "dp-"+top.ID+"-bzz")
	err := Apply(context.Background(), top)
	if err == nil || !strings.Contains(err.Error(), "of type veth, not the bridge") || !strings.Contains(err.Error(), "dualpeer down") {
		t.Errorf("Apply = %v, want a clash error naming the veth link and `dualpeer down`", err)
	}
}

func TestCustomCIDRs(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := customTopology(testID(t))
	up(t, top)
	st := requireReady(t, top)
	if got := st.A.VMNIC.Addrs; len(got) != 1 || got[0].String() != "192.168.1.4/28" {
		t.Errorf("A's VM NIC addresses = %v, want [192.168.1.4/28]", got)
	}
	n := top.Names()
	requirePing(t, n.A.VMNS, top.B.VMAddr, true)
	requirePing(t, n.B.VMNS, top.A.VMAddr, true)
}

func TestDeploymentsWithSameCIDRsCoexist(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	one, two := defaultTopology(testID(t)), defaultTopology(testID(t))
	if one.ID == two.ID {
		t.Skip("random ids collided")
	}
	up(t, one)
	up(t, two)
	requireReady(t, one)
	requireReady(t, two)
	requirePing(t, two.Names().A.VMNS, two.B.VMAddr, true)
	if err := Destroy(context.Background(), one); err != nil {
		t.Fatalf("Destroy(%s): %v", one.ID, err)
	}
	assertGone(t, one.ID)
	requireReady(t, two)
	requirePing(t, two.Names().B.VMNS, two.A.VMAddr, true)
}

func TestSetPeeringLink(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	n := top.Names()
	ctx := context.Background()
	if err := SetPeeringLink(ctx, top, false); err != nil {
		t.Fatalf("SetPeeringLink(down): %v", err)
	}
	if st := inspect(t, top); st.Peering.Connected || st.Ready() {
		t.Errorf("after SetPeeringLink(down): connected=%v ready=%v, want both false", st.Peering.Connected, st.Ready())
	}
	requirePing(t, n.A.VMNS, top.B.VMAddr, false)
	if err := SetPeeringLink(ctx, top, true); err != nil {
		t.Fatalf("SetPeeringLink(up): %v", err)
	}
	requireReady(t, top)
	requirePing(t, n.A.VMNS, top.B.VMAddr, true)
}

func TestDestroyReportsProcesses(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	n := top.Names()
	cmd := Command(context.Background(), n.A.VMNS, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait (bounded) until ip netns exec has switched and exec'd sleep.
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := Processes(n.A.VMNS)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sleep process never showed up in %s", n.A.VMNS)
		}
		time.Sleep(10 * time.Millisecond)
	}
	err := Destroy(context.Background(), top)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Namespace != n.A.VMNS || busy.Pids[0] != cmd.Process.Pid {
		t.Errorf("Destroy = %v, want a BusyError for %s naming pid %d", err, n.A.VMNS, cmd.Process.Pid)
	}
	assertGone(t, top.ID)
}

func TestDoRestoresThread(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	top := defaultTopology(testID(t))
	up(t, top)
	// The namespace of this process's threads before any Do.
	threadNS := func() uint64 {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	host := threadNS()
	var inside []string
	for i := range 20 {
		if err := Do(top.Names().A.VMNS, func() error {
			if i > 0 {
				return nil
			}
			ifs, err := net.Interfaces()
			for _, i := range ifs {
				inside = append(inside, i.Name)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Contains(inside, top.Names().A.VMNIC) {
		t.Errorf("interfaces seen inside Do = %v, want %s among them", inside, top.Names().A.VMNIC)
	}
	// Afterwards every thread the runtime hands out is back in the host namespace: pin many
	// goroutines to threads at once so that all of the process's threads get checked.
	const n = 32
	seen := make(chan uint64, n)
	release := make(chan struct{})
	for range n {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var st unix.Stat_t
			unix.Stat("/proc/thread-self/ns/net", &st)
			seen <- st.Ino
			<-release
		}()
	}
	for range n {
		if ino := <-seen; ino != host {
			t.Errorf("a thread is in namespace inode %d after Do, want the host's %d", ino, host)
		}
	}
	close(release)
	if err := Do("dp-"+top.ID+"-nope", func() error { return nil }); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Do in a missing namespace = %v, want a 'does not exist' error", err)
	}
	if err := Do(top.Names().A.VMNS, func() error { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Do with a panicking fn = %v, want the panic as an error", err)
	}
}

func TestCommandRefusesHostNamespace(t *testing.T) {
	for _, ns := range []string{"", "default", "other-ns"} {
		if err := Command(context.Background(), ns, "true").Run(); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("Command(%q).Run() = %v, want a refusal", ns, err)
		}
	}
}

// TestUnprivileged runs the test binary again without capabilities and checks that Apply tells
// the user to use sudo.
func TestUnprivileged(t *testing.T) {
	if os.Getenv("NETLAB_UNPRIVILEGED_CHILD") == "1" {
		err := Apply(context.Background(), defaultTopology("x1"))
		fmt.Println("APPLY-ERROR:", err)
		if !errors.Is(err, ErrNotPrivileged) {
			os.Exit(3)
		}
		return
	}
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipping: setpriv (util-linux) is needed to drop capabilities")
	}
	cmd := exec.Command("setpriv", "--inh-caps=-all", "--bounding-set=-all", os.Args[0], "-test.run=^TestUnprivileged$", "-test.count=1")
	cmd.Env = append(os.Environ(), "NETLAB_UNPRIVILEGED_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child without capabilities: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "dualpeer needs root (CAP_NET_ADMIN) to create network namespaces; run it with sudo") {
		t.Errorf("child output lacks the privilege message:\n%s", out)
	}
	assertGone(t, "x1")
}

// TestNftRulesetGolden pins what the kernel reports for the hand-built rules, in nft's own
// syntax, so a wrong offset or mask in firewall.go shows up as a readable diff.
func TestNftRulesetGolden(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: the nft tool (Debian package nftables) is needed to read the rules back")
	}
	t.Parallel()
	top := defaultTopology(testID(t))
	top.Peering = Peering{} // every peering rule present
	up(t, top)
	var b strings.Builder
	for _, ns := range top.Names().Namespaces() {
		out, err := Command(context.Background(), ns, "nft", "-s", "list", "ruleset").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list ruleset in %s: %v: %s", ns, err, out)
		}
		fmt.Fprintf(&b, "# %s\n%s", ns, out)
	}
	got := strings.ReplaceAll(b.String(), "dp-"+top.ID+"-", "dp-ID-")
	golden := "testdata/nft-ruleset.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("nft ruleset differs from %s (rerun with -update if intended):\n%s", golden, got)
	}
}
