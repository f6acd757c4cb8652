// Package dataflow is the dataflow engine of a local cluster: AIO's Dataflow resource
// (Source → BuiltInTransformation → Destination) made real with MQTT clients.
//
// The delivery guarantee, precisely (QoS 1 sources and destinations):
//
//   - A message taken from the source is acknowledged to the source (PUBACK) only
//     after the destination broker acknowledged its copy (PUBACK with a success
//     reason), or after the transformation dropped it on purpose (a filter rule
//     matched). PUBACKs to the source are sent in the order the messages arrived
//     (MQTT requires it); a slow message holds back the acknowledgements behind it.
//   - Both sides use persistent sessions (clean start false, session expiry from the
//     endpoint, default 3600 s). While the dataflow or its agent is down, the source
//     broker keeps the unacknowledged and newly arriving messages in the dataflow's
//     session — on disk, for the local broker — and redelivers them on reconnect.
//   - The local source is read "in-process" over broker.DialInProcess: a real MQTT
//     session over an in-memory pipe, so the broker's persistent queue is the
//     dataflow's durable queue; nothing the engine holds in memory is the only copy.
//   - Hence: at least once. Every message that reached the source broker's session
//     arrives at the destination as long as the source session does not expire and the
//     session queue does not overflow (broker.Limits.MaxQueuedMessages, counted as
//     dropped). Duplicates happen after reconnects and restarts. Order is not
//     preserved when more than one message is in flight (maxInflightMessages > 1).
//   - QoS 0 source messages are forwarded at most once.
//
// QoS: a message goes out at min(source QoS, destination QoS), as Mosquitto's bridge
// does. QoS 0 messages are written and forgotten (no acknowledgement to wait for);
// while the destination is disconnected they are dropped and counted
// (dualpeer_dataflow_messages_dropped_total{reason="qos0_disconnected"}).
//
// Back-pressure: at most maxInflightMessages QoS 1 messages are unacknowledged at the
// destination (a fixed table of packet identifiers, also capped by the destination's
// Receive Maximum), and at most 256 KiB of encoded packets wait to be written. While
// either is full the engine reads no further message — QoS 0 included — so the rest
// wait in the MQTT client's receive buffer and, above all, in the source broker's
// session, whose size is bounded by broker.Limits.MaxQueuedMessages. Memory per
// dataflow is therefore bounded by the source session's queue limit, never by the
// length of an outage.
//
// Cost per message: the destination side is a small MQTT 5 publisher (dest.go): no
// goroutine, context or channel per message, and a flusher that writes everything
// queued while its previous write ran as one write (one TLS record per 16 KiB instead
// of one per packet). The source connection buffers reads and coalesces paho's PUBACK
// writes (srcconn.go). Messages paho still delivers from a source connection that has
// died are not forwarded: their acknowledgements could never reach the broker, which
// redelivers them on the next connection (forwarding both copies is what turned an
// overload into a redelivery storm).
//
// Reconnects use capped, jittered exponential backoff (Backoff).
package dataflow
