// Package workload runs one benchmark workload on one system (dualpeer or Mosquitto): it
// starts the subscriber inside Cluster A's VM namespace and, once it is subscribed, the
// publisher inside Cluster B's VM namespace, both as child processes of the benchmark binary
// itself (`ip netns exec NS BENCH sub|pub ...`), and samples the brokers' CPU time and peak
// RSS around the run.
//
// The children speak JSON lines on stdout: the subscriber prints {"event":"ready"} once its
// subscription is granted and {"event":"result",...} at the end; the publisher prints its
// result. Closing the subscriber's stdin tells it the publisher is done, so it stops after
// an idle period instead of waiting for messages that were lost.
//
// Running the load generator in the lab namespaces (never in the host's) is the project's
// safety rule: no packet to a lab address may leave from the host namespace.
package workload
