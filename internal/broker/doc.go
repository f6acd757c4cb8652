// Package broker is the MQTT broker of a local cluster: the part of Azure IoT Operations'
// MQTT broker that dualpeer's BrokerListener and BrokerAuthentication resources describe,
// built on mochi-mqtt/server/v2 (v2.7.9 with three patches, third_party/mochi-mqtt-server).
//
// What it guarantees, and why:
//
//   - Protocols: MQTT 3.1.1 and 5 on every listener.
//   - QoS: 0 and 1. QoS 2 is not offered, as in AIO's broker: the CONNACK of an MQTT 5
//     client carries Maximum QoS 1, subscriptions are granted at most QoS 1, and a QoS 2
//     PUBLISH is downgraded to QoS 1 (acknowledged with PUBACK) before it is routed.
//   - TLS: 1.2 minimum. On an X509 listener the client must present a certificate chain
//     that verifies against the trusted client CA bundle (the BrokerAuthentication's
//     config map) and whose leaf carries the clientAuth extended key usage; anything
//     else (no certificate, another CA, expired) fails the TLS handshake, before MQTT.
//     The leaf's subject common name becomes the client identity (the MQTT username).
//     Anonymous listeners accept every client.
//   - Durability: sessions, subscriptions, in-flight (unacknowledged) QoS 1 messages of
//     sessions that outlive their connection (MQTT 5 session expiry > 0, MQTT 3 clean
//     session false; a clean session's queue ends with its connection, and with the
//     process, as in any broker), attached consumers' records and retained messages are
//     written to an append-only
//     log under DataDir before the broker acknowledges the publisher (see store.go), so
//     a restart — also after SIGKILL — loses no acknowledged QoS 1 message; delivery is
//     at least once, so a restart may deliver a message twice. Changes are queued in
//     memory and written with one write(2) per batch (group commit, kvlog.go); a PUBACK,
//     SUBACK or session change leaves only after its records are in the kernel (safe
//     against a process crash, SIGKILL included: ackconn.go holds a connection's
//     acknowledgements until the log is flushed; an attached consumer's forwarding write
//     goes out before that flush), and the log is fsynced on
//     Close and every SyncInterval (a power loss may lose the last interval). It is
//     compacted in the background.
//   - Attached consumers (attach.go): the cluster's own dataflow reads the broker
//     without MQTT in between. An OnPublish hook matches each PUBLISH against the
//     consumer's filters on the publisher's goroutine, before the publisher's PUBACK,
//     stores a QoS 1 copy in the log (record ATQ/<name>/<seq>, kept until the consumer
//     calls Done) and calls the consumer's handler. The declaration (ATD/<name>) is in
//     the log too, so after a restart messages are captured for the consumer before it
//     attaches again, and Attach returns the stored records oldest first. A detached
//     consumer keeps at most Limits.MaxQueuedMessages records (more QoS 1 messages are
//     dropped for it and counted, not yet as a metric); QoS 0 is never stored. Forget removes a consumer and
//     its records. The handler may block, which holds that publisher.
//   - Back-pressure: a QoS 1 publisher is held (its connection is not read) while a
//     connected subscriber of its topic has Limits.HoldPublishersAt messages queued, so
//     a fast publisher and a slower consumer do not overflow the consumer's queue. A QoS
//     0 publisher is held while a connected subscriber's write queue (mochi's per-client
//     outbound queue, Limits.MaxPendingWrites packets) holds 1,024 packets or is three
//     quarters full (looked at every 16th QoS 0 publish), where
//     mochi would otherwise drop QoS 0 messages without a trace (the queue's length is
//     one of the patches: Client.OutboundPending). A consumer that makes
//     no progress for 2 s stops holding publishers and its queue absorbs what comes; an
//     in-process MQTT client (DialInProcess; a dataflow reading the local broker without
//     Attach, whose destination is down) holds them again just below MaxQueuedMessages,
//     for as long as it is connected, so its queue never drops acknowledged messages.
//     Before a publisher waits, the acknowledgements and deliveries already owed to it
//     are written. An attached consumer holds publishers from its handler, without the
//     2 s rule (see above).
//   - Bounded queues (the documented policy): every client session holds at most
//     Limits.MaxQueuedMessages unacknowledged QoS 1 messages (delivered or waiting for
//     the client's receive window); a message beyond that is dropped for that client
//     and counted in dualpeer_broker_messages_dropped_total. Queued messages older than
//     Limits.MaxMessageExpiry are dropped the same way. QoS 0 messages to a client whose
//     socket cannot keep up are dropped, never buffered, once that client stopped
//     holding publishers (no progress for 2 s) or when publishers that passed the check
//     at once fill the last quarter of its write queue. Flow control: the broker does
//     not hold messages back for a client's MQTT 5 Receive Maximum (mochi 2.7.9 loses
//     such held-back messages, see hooks.go); a client gets up to MaxQueuedMessages
//     unacknowledged messages at once. Disconnected persistent sessions expire after
//     the client's session expiry, capped at Limits.MaxSessionExpiry.
//   - Deliveries: a message for a subscriber whose write queue is empty and whose
//     connection has nothing waiting to go out is written on the publisher's goroutine
//     (mochi's WriteInline, a patch) rather than handed to mochi's per-client write
//     goroutine, which cost a goroutine wake-up per message: at once when the message
//     came alone in its publisher's read, and held until the publisher's goroutine is
//     done with its batch (one write(2)) when it came with a few others; a large read
//     (under load) still goes to the write goroutine, which coalesces on another core.
//     Connection writes never
//     block the writer on a slow peer (ackconn.go): one non-blocking write(2), and what
//     the kernel does not take goes out from a goroutine of its own; the next writer
//     waits only while 64 KiB wait, and inline delivery stops for that subscriber until
//     they are out, so a subscriber that stops reading holds up neither the publisher
//     nor the other subscribers.
//   - Limits: maximum packet size, maximum clients, and a TLS/CONNECT handshake timeout;
//     each connection is handshaken in its own goroutine, so a slow client never blocks
//     others.
package broker
