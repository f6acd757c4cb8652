// Package netlab builds the local target's network: two Azure-like virtual networks joined by a
// peering, made of Linux network namespaces, veth pairs, bridges and nftables rules on this host.
//
// Per cluster (key "a" or "b") there is a VNet router namespace, dp-<id>-<key>-vnet, holding a
// bridge for the subnet (the gateway is the subnet's first host address, as in Azure) with
// ip_forward=1, and a VM namespace, dp-<id>-<key>-vm, whose NIC is a veth into that bridge with the
// VM address and a default route via the gateway. The peering is a veth pair between the two
// router namespaces on a link-local /31 (never a 10.x address, so it cannot be confused with a
// VNet range) with routes for the remote address space. Nothing links the lab to the host's
// namespace: veths are created directly inside the lab namespaces, so the host only sees the
// namespace files under /run/netns.
//
// The four peering settings are enforced by an nftables table "dualpeer" in each router
// namespace; Azure's default network security group rules are an nftables table in each VM
// namespace. See firewall.go for the exact rules and the reasons behind them.
//
// All operations take plain data (Topology) and are idempotent: Apply converges whatever exists
// (also after a crash half way), Destroy and DestroyByID remove everything carrying the
// deployment id and treat "not found" as success. Everything needs CAP_NET_ADMIN and
// CAP_SYS_ADMIN (root); CheckPrivileges says so in words a user can act on.
//
// Safety: no packet to a lab address may be sent from the host's namespace. Run commands with
// Command (ip netns exec) and Go code with Do; both put the work inside a lab namespace.
package netlab
