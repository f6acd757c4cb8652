// Package faults holds the fault-injection tests of dualpeer's local target (issue 7). They drive
// the real binary — `dualpeer up`, `output`, `status`, `down` — on a fresh state directory, run a
// QoS 1 stream from Cluster B's anonymous listener to Cluster A's X.509 listener, and break
// things while it runs: the peering link, either agent (SIGKILL), the remote endpoint at B's start,
// and `up` itself. Every test prints the stream counts (sent, acknowledged, received, lost,
// duplicates) so CI logs carry the figures that docs/reliability.md quotes.
//
// The tests need root (network namespaces), iproute2 and mosquitto-clients; without them they
// skip with a message. Every client runs inside a lab namespace (netlab.Do): no packet to a lab
// address leaves from the host's namespace. Every test removes what it built (`dualpeer down`,
// then netlab.DestroyByID as a safety net) in t.Cleanup, also on failure.
//
// The package has no non-test code beyond this comment.
package faults
