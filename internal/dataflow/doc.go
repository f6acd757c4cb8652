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
// Back-pressure: the engine holds at most Window messages (default twice the
// destination's maxInflightMessages) and publishes at most maxInflightMessages at once;
// while they are outstanding it reads no further message, so the rest wait in the
// MQTT client's receive buffer and, above all, in the source broker's session, whose
// size is bounded by broker.Limits.MaxQueuedMessages. Memory per dataflow is therefore
// bounded by the source session's queue limit, never by the length of an outage.
//
// Reconnects use capped, jittered exponential backoff (Backoff).
package dataflow
