// Package mosquitto is the benchmark's reference: Eclipse Mosquitto (Debian's package) set up
// as a user would to do dualpeer's job with a bridge, running in the same network namespaces
// with the same certificates as dualpeer.
//
//   - Cluster A's broker (a.conf.tmpl): one listener on A's VM address with mutual TLS, the
//     client root CA as cafile, require_certificate and use_identity_as_username, the server
//     leaf bundle and key — what dualpeer's BrokerListener + X509 BrokerAuthentication are.
//   - Cluster B's broker (b.conf.tmpl): an anonymous plain listener on 127.0.0.1 for local
//     publishers and a bridge to A over mutual TLS with the client leaf bundle, trusting the
//     server root, QoS 1, cleansession false, local topic `input` sent as `output` — what
//     dualpeer's Dataflow input → output does.
//
// The templates are committed so anyone can read and rerun exactly what was measured. Both
// brokers keep Mosquitto's defaults except where the bridge would otherwise lose QoS 1
// messages by design (max_queued_messages, see the templates): the comparison is with a bridge
// configured to be reliable, as dualpeer's dataflow is.
//
// Start runs `mosquitto -c FILE` inside a lab namespace through `ip netns exec` (which execs,
// so the pid is Mosquitto's own and can be measured in /proc); Stop signals exactly that pid.
package mosquitto
