// Package netcheck is the spec's "Testing Connectivity", automated: ping both ways between the
// cluster subnets, TCP to Cluster A's listener, a TLS handshake that checks the server
// certificate's IP SAN and chain, and an MQTT round trip from Cluster B's local broker through
// the dataflow to Cluster A's broker, with its latency. Every probe runs through an Env, which
// for the local target dials and pings from inside the lab namespaces (never from the host's own
// namespace). A failed check carries a diagnosis that says what blocks it and what to do.
package netcheck
