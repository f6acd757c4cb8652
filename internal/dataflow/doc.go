// Package dataflow is the dataflow engine of a local cluster: AIO's Dataflow resource
// (Source → BuiltInTransformation → Destination) made real. The destination is an MQTT 5
// publisher (dest.go). The source is read one of two ways: a source that is the agent's
// own broker is an attached consumer of it (broker.Attach, localsrc.go: no MQTT between
// the broker and the engine); any other source broker is read by an MQTT client (paho)
// with a persistent session.
//
// The delivery guarantee, precisely (QoS 1 sources and destinations):
//
//   - A message taken from the source is acknowledged to the source only after the
//     destination broker acknowledged its copy (PUBACK with a success reason), or after
//     the transformation dropped it on purpose (a filter rule matched). For an MQTT
//     source that acknowledgement is the PUBACK, sent in the order the messages arrived
//     (MQTT requires it; a slow message holds back the acknowledgements behind it). For
//     an attached source it is broker.Done, which deletes the message's stored record.
//   - Attached (the local broker): the broker matches every PUBLISH against the
//     dataflow's topic filters in an OnPublish hook, on the publisher's goroutine and
//     before the publisher's PUBACK, and stores each QoS 1 copy in its state log as a
//     record ATQ/<name>/<seq> (name "dataflow:<dataflow name>") that reaches the kernel
//     before that PUBACK leaves. The record stays until Done. The consumer's declaration
//     (ATD/<name>: filters and QoS) is in the log as well, so after a restart of the
//     agent the broker captures messages for the dataflow from the moment it starts,
//     before the dataflow attaches again; Attach hands over the records not yet Done,
//     oldest first, and they are forwarded before anything published after them. The
//     broker's log is the dataflow's durable queue; nothing the engine holds in memory
//     is the only copy. A deleted dataflow is Forgotten: its records are removed, as an
//     expiring session's queue would be.
//   - MQTT (a remote source): clean start false, session expiry from the endpoint
//     (default 3600 s). While the dataflow or its agent is down, the source broker keeps
//     the unacknowledged and newly arriving messages in the dataflow's session and
//     redelivers them on reconnect. The destination side is the same for both: a
//     persistent session in the destination broker, and unacknowledged messages kept in
//     their slots and sent again after a reconnect.
//   - Hence: at least once. Every QoS 1 message the source broker acknowledged arrives
//     at the destination, unless it was dropped at a bound: an attached dataflow that is
//     detached (stopped, or not yet started after a restart) keeps at most
//     broker.Limits.MaxQueuedMessages records, and more QoS 1 messages are dropped for
//     it and counted in the broker; an MQTT source loses messages when its session
//     expires or its queue overflows (broker.Limits.MaxQueuedMessages on a dualpeer
//     broker, counted as dropped). An attached dataflow that is running never drops a
//     QoS 1 message: it holds the publisher instead (below). In both modes a message
//     the destination refuses for good (not authorized, topic invalid, too large) is
//     dropped and counted as "rejected". Duplicates happen after reconnects and
//     restarts. Order is not preserved when more than one message is in flight
//     (maxInflightMessages > 1).
//   - QoS 0 source messages are forwarded at most once; an attached source does not
//     store them.
//
// QoS: a message goes out at min(source QoS, destination QoS), as Mosquitto's bridge
// does. QoS 0 messages are written and forgotten (no acknowledgement to wait for);
// while the destination is disconnected they are dropped and counted
// (dualpeer_dataflow_messages_dropped_total{reason="qos0_disconnected"}).
//
// Back-pressure: at most maxInflightMessages QoS 1 messages are unacknowledged at the
// destination (a fixed table of packet identifiers, also capped by the destination's
// Receive Maximum), and at most 256 KiB of encoded packets wait to be written.
//
//   - Attached: while either is full, messages queue in the dataflow — up to 1024 while
//     the destination is connected (it drains; a longer queue would only add latency)
//     and 10000 while it is not (a burst's worth, as a session would absorb it; the QoS
//     1 ones are in the broker's log as well) — and a pump goroutine forwards them in
//     order. Beyond that the handler blocks, which holds the publisher inside the broker
//     (its connection is not read; the PUBACKs already owed to it are written first):
//     QoS 0 included, so a fast publisher is slowed down instead of having its messages
//     dropped. A held publisher's messages reach none of the broker's subscribers until
//     it is released; publishers of topics the dataflow does not read carry on.
//   - MQTT: while either is full the engine reads no further message — QoS 0 included —
//     so the rest wait in the MQTT client's receive buffer and, above all, in the source
//     broker's session, whose size is bounded by its queue limit.
//
// Memory per dataflow is therefore bounded by those queue limits, never by the length
// of an outage.
//
// Cost per message: the destination side is a small MQTT 5 publisher (dest.go): no
// goroutine, context or channel per message. Writes are made by the goroutine that
// published: an attached source's message is encoded on the broker's publisher
// goroutine, and the write runs once that goroutine is done with the packets it read
// together, before its next read (broker.Publisher.AfterBatch), so one write and one TLS
// record carry a whole burst, and a single message costs no hand-off to another
// goroutine. The pump writes once for everything that fits after each wait for the
// destination's window. Whatever is appended while another goroutine writes goes out
// with that goroutine's next write; a flusher goroutine writes only what nobody else
// will (keep-alive pings, resends, retries). An MQTT source's connection buffers reads
// and coalesces paho's PUBACK writes (srcconn.go). Messages paho still delivers from a
// source connection that has died are not forwarded: their acknowledgements could never
// reach the broker, which redelivers them on the next connection (forwarding both copies
// is what turned an overload into a redelivery storm).
//
// Reconnects use capped, jittered exponential backoff (Backoff).
package dataflow
