// Package loadgen is the benchmark's MQTT load generator: a publisher that sends numbered,
// timestamped messages to Cluster B's local broker and a subscriber that receives them from
// Cluster A's broker over mutual TLS and reports what arrived.
//
// Both sides use eclipse/paho.golang (MQTT 5), the same code for dualpeer and for Mosquitto, so
// the only thing that differs between the two measured paths is the path itself.
//
// Every payload starts with a fixed header (see Header): the run id, the sequence number and
// the send time in nanoseconds since the Unix epoch, then zero padding up to the asked size.
// The run id lets a subscriber ignore messages left over from an earlier run (a bridge that
// was still draining), so they are neither counted as duplicates nor as latency samples.
// Publisher and subscriber run on the same host (in different network namespaces, which share
// the clock), so the difference between receive time and send time is the end-to-end latency.
//
// Neither side dials by itself from the caller's namespace: callers pass a Dialer, and the
// benchmark runs the whole process inside the lab namespace with `ip netns exec`.
package loadgen
