// Package broker is the MQTT broker of a local cluster: the part of Azure IoT Operations'
// MQTT broker that dualpeer's BrokerListener and BrokerAuthentication resources describe,
// built on mochi-mqtt/server/v2.
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
//   - Durability: sessions, subscriptions, in-flight (unacknowledged) QoS 1 messages and
//     retained messages are written to an append-only log under DataDir before the
//     broker acknowledges the publisher (see store.go), so a restart — also after
//     SIGKILL — loses no acknowledged QoS 1 message; delivery is at least once, so a
//     restart may deliver a message twice. Changes are queued in memory and written with
//     one write(2) per batch (group commit, kvlog.go); a PUBACK, SUBACK or session
//     change leaves only after its records are in the kernel (safe against a process
//     crash, SIGKILL included: ackconn.go holds a connection's acknowledgements until
//     the log is flushed), and the log is fsynced on Close and every SyncInterval (a
//     power loss may lose the last interval). It is compacted in the background.
//   - Back-pressure: a QoS 1 publisher is held (its connection is not read) while a
//     connected subscriber of its topic has Limits.HoldPublishersAt messages queued, so
//     a fast publisher and a slower consumer do not overflow the consumer's queue. A
//     consumer that acknowledges nothing for 2 s stops holding publishers and its queue
//     absorbs what comes; an in-process consumer (a dataflow whose destination is down)
//     holds them again just below MaxQueuedMessages, for as long as it is connected,
//     so its queue never drops acknowledged messages (flow.go).
//   - Bounded queues (the documented policy): every client session holds at most
//     Limits.MaxQueuedMessages unacknowledged QoS 1 messages (delivered or waiting for
//     the client's receive window); a message beyond that is dropped for that client
//     and counted in dualpeer_broker_messages_dropped_total. Queued messages older than
//     Limits.MaxMessageExpiry are dropped the same way. QoS 0 messages to a client whose
//     socket cannot keep up (Limits.MaxPendingWrites) are dropped, never buffered.
//     Flow control: the broker does not hold messages back for a client's MQTT 5
//     Receive Maximum (mochi 2.7.9 loses such held-back messages, see hooks.go); a
//     client gets up to MaxQueuedMessages unacknowledged messages at once.
//     Disconnected persistent sessions expire after the client's session expiry,
//     capped at Limits.MaxSessionExpiry.
//   - Limits: maximum packet size, maximum clients, and a TLS/CONNECT handshake timeout;
//     each connection is handshaken in its own goroutine, so a slow client never blocks
//     others.
package broker
