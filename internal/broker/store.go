package broker

import (
	"fmt"
	"strconv"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Key prefixes in the state log. "PND" is ours: see OnPublish.
const pendingKey = "PND"

// storeHook persists sessions, subscriptions, in-flight and retained messages into a
// kvLog, the way mochi's bolt hook does, with two fixes that matter for "no QoS 1
// message lost":
//
//  1. mochi sends the PUBACK to a publisher before it routes the message to the
//     subscribers' sessions (server.go processPublish), so a crash between the two would
//     lose an acknowledged message. OnPublish therefore records the message as pending
//     before the PUBACK, and OnPublished (after routing and persisting the subscriber
//     copies) removes it; pending messages found at start-up are routed again (a
//     possible duplicate, never a loss).
//  2. mochi's bolt hook does not store the packet identifier of in-flight messages,
//     so they come back with id 0; we store it.
//
// The inline client (the broker's own Publish/Subscribe) is never persisted: its
// subscriptions are re-made by the code that owns them.
type storeHook struct {
	mqtt.HookBase
	db *kvLog
}

func (h *storeHook) ID() string { return "dualpeer-store" }

func (h *storeHook) Provides(b byte) bool {
	// A switch, not bytes.Contains: mochi asks every hook on every event of every packet.
	switch b {
	case mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnSubscribed,
		mqtt.OnUnsubscribed,
		mqtt.OnRetainMessage,
		mqtt.OnWillSent,
		mqtt.OnPublish,
		mqtt.OnPublished,
		mqtt.OnQosPublish,
		mqtt.OnQosComplete,
		mqtt.OnQosDropped,
		mqtt.OnClientExpired,
		mqtt.OnRetainedExpired,
		mqtt.StoredClients,
		mqtt.StoredInflightMessages,
		mqtt.StoredRetainedMessages,
		mqtt.StoredSubscriptions:
		return true
	}
	return false
}

func (h *storeHook) Init(any) error { return nil }

// Stop does not close the log: the Broker closes it after every client goroutine ended.
func (h *storeHook) Stop() error { return nil }

func clientKey(id string) string      { return storage.ClientKey + "_" + id }
func subKey(id, filter string) string { return storage.SubscriptionKey + "_" + id + ":" + filter }
func retainedKey(topic string) string { return storage.RetainedKey + "_" + topic }
func inflightKey(id string, pid uint16) string {
	return storage.InflightKey + "_" + id + ":" + strconv.Itoa(int(pid))
}
func pendKey(id string, pid uint16) string {
	return pendingKey + "_" + id + ":" + strconv.Itoa(int(pid))
}

// pendingRecord is the state-log record of client's QoS 1 message pk while it is routed.
func pendingRecord(client string, pk *packets.Packet) (string, []byte) {
	m := toMessage(pendKey(client, pk.PacketID), pendingKey, client, pk)
	return m.ID, encodeMessage(&m)
}

func (h *storeHook) set(key string, v storage.Serializable) error {
	b, err := v.MarshalBinary()
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return h.put(key, b)
}

// setMessage stores a message in the binary form (msgcodec.go): the hot path, no
// JSON, and m does not escape.
func (h *storeHook) setMessage(m *storage.Message) error {
	return h.put(m.ID, encodeMessage(m))
}

func (h *storeHook) put(key string, b []byte) error {
	if err := h.db.Set(key, b); err != nil {
		h.Log.Error("broker state write failed", "key_kind", key[:3], "error", err)
		return err
	}
	return nil
}

// flush puts every queued record into the kernel (see kvLog). The hot path (a QoS 1
// message: pending set, delivery set, pending delete, delivery delete) flushes only
// before the PUBACK; the rare changes flush at once, as every change did before.
func (h *storeHook) flush() error {
	if err := h.db.Flush(); err != nil && err != errStoreClosed {
		h.Log.Error("broker state write failed", "error", err)
		return err
	}
	return nil
}

func (h *storeHook) del(key string) {
	if err := h.db.Delete(key); err != nil && err != errStoreClosed {
		h.Log.Error("broker state delete failed", "key_kind", key[:3], "error", err)
	}
}

// OnSessionEstablished records the client. A persistent session that took over one that
// ended with its connection inherits in-flight messages that were not recorded
// (OnQosPublish); mochi resends them at once, through OnQosPublish, which records them then.
func (h *storeHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) { h.updateClient(cl) }
func (h *storeHook) OnWillSent(cl *mqtt.Client, _ packets.Packet)           { h.updateClient(cl) }

// sessionPersists reports whether cl's session outlives its network connection: MQTT 5
// with a session expiry interval, MQTT 3 without clean session (mochi's own rule, its
// "expire" on disconnect). A session that ends with its connection also ends with the
// process, so its in-flight messages are not worth a state-log record.
func sessionPersists(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

func (h *storeHook) updateClient(cl *mqtt.Client) {
	if cl.Net.Inline {
		return
	}
	props := cl.Properties.Props.Copy(false)
	_ = h.set(clientKey(cl.ID), &storage.Client{
		ID:              cl.ID,
		T:               storage.ClientKey,
		Remote:          cl.Net.Remote,
		Listener:        cl.Net.Listener,
		Username:        cl.Properties.Username,
		Clean:           cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval:     props.SessionExpiryInterval,
			SessionExpiryIntervalFlag: props.SessionExpiryIntervalFlag,
			AuthenticationMethod:      props.AuthenticationMethod,
			AuthenticationData:        props.AuthenticationData,
			RequestProblemInfo:        props.RequestProblemInfo,
			RequestProblemInfoFlag:    props.RequestProblemInfoFlag,
			RequestResponseInfo:       props.RequestResponseInfo,
			ReceiveMaximum:            props.ReceiveMaximum,
			TopicAliasMaximum:         props.TopicAliasMaximum,
			User:                      props.User,
			MaximumPacketSize:         props.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	})
	_ = h.flush()
}

func (h *storeHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if !expire || cl.StopCause() == packets.ErrSessionTakenOver {
		return
	}
	h.forgetClient(cl.ID)
}

func (h *storeHook) OnClientExpired(cl *mqtt.Client) { h.forgetClient(cl.ID) }

// forgetClient removes a finished session with its subscriptions and queue, so the
// log does not resurrect them at the next start.
func (h *storeHook) forgetClient(id string) {
	h.del(clientKey(id))
	for _, prefix := range []string{storage.SubscriptionKey + "_" + id + ":", storage.InflightKey + "_" + id + ":"} {
		for _, k := range h.db.keysWithPrefix(prefix) {
			h.del(k)
		}
	}
	_ = h.flush()
}

func (h *storeHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if cl.Net.Inline {
		return
	}
	for i, f := range pk.Filters {
		if i < len(codes) && codes[i] >= 0x80 {
			continue // refused subscription
		}
		_ = h.set(subKey(cl.ID, f.Filter), &storage.Subscription{
			ID:                subKey(cl.ID, f.Filter),
			T:                 storage.SubscriptionKey,
			Client:            cl.ID,
			Qos:               codes[i],
			Filter:            f.Filter,
			Identifier:        f.Identifier,
			NoLocal:           f.NoLocal,
			RetainHandling:    f.RetainHandling,
			RetainAsPublished: f.RetainAsPublished,
		})
	}
	_ = h.flush() // before the SUBACK
}

func (h *storeHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	for _, f := range pk.Filters {
		h.del(subKey(cl.ID, f.Filter))
	}
	_ = h.flush()
}

// toMessage borrows pk's slices: the message is encoded at once and not kept.
func toMessage(key, t, client string, pk *packets.Packet) storage.Message {
	props := &pk.Properties
	return storage.Message{
		ID:          key,
		T:           t,
		Client:      client,
		Origin:      pk.Origin,
		FixedHeader: pk.FixedHeader,
		TopicName:   pk.TopicName,
		Payload:     pk.Payload,
		Created:     pk.Created,
		PacketID:    pk.PacketID,
		Properties: storage.MessageProperties{
			PayloadFormat:          props.PayloadFormat,
			PayloadFormatFlag:      props.PayloadFormatFlag,
			MessageExpiryInterval:  props.MessageExpiryInterval,
			ContentType:            props.ContentType,
			ResponseTopic:          props.ResponseTopic,
			CorrelationData:        props.CorrelationData,
			SubscriptionIdentifier: props.SubscriptionIdentifier,
			User:                   props.User,
		},
	}
}

func (h *storeHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	if r == -1 {
		h.del(retainedKey(pk.TopicName))
	} else {
		m := toMessage(retainedKey(pk.TopicName), storage.RetainedKey, cl.ID, &pk)
		_ = h.setMessage(&m)
	}
	_ = h.flush()
}

func (h *storeHook) OnRetainedExpired(topic string) { h.del(retainedKey(topic)) }

// OnPublish runs before mochi acknowledges a QoS 1 PUBLISH. Before its PUBACK leaves, a
// message is in the kernel — as a pending record, or in the queues of the subscribers
// whose sessions persist (and of attached consumers) — so an acknowledged message survives
// a process crash. On an ackConn the PUBACK is held until the connection's goroutine reads
// again, after routing; the pending record is then written only if the PUBACK must leave
// before that (holdRecord). Otherwise it is written and flushed here. A message that
// cannot be recorded is not acknowledged (rejected here, or the connection ends when the
// held PUBACK's flush fails), so the publisher keeps it and sends it again: refusing is
// always better than acknowledging and losing.
func (h *storeHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	if a := ackConnOf(cl); a != nil && a.holdRecord(cl.ID, &pk) {
		return pk, nil // the PUBACK is held; recorded only if it must leave first (ackconn.go)
	}
	if err := h.put(pendingRecord(cl.ID, &pk)); err != nil {
		return pk, packets.ErrRejectPacket
	}
	if err := h.flush(); err != nil {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

// OnPublished runs after the message was copied into every subscriber's session.
func (h *storeHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline || pk.FixedHeader.Qos == 0 {
		return
	}
	if a := ackConnOf(cl); a != nil && a.dropRecord(cl.ID, pk.PacketID) {
		return // never written
	}
	h.del(pendKey(cl.ID, pk.PacketID))
}

// OnQosPublish stores an outbound QoS 1 message until the subscriber acknowledges it,
// for sessions that outlive their connection; a session that ends with the connection
// (clean) loses its queue with the process anyway, as in every MQTT broker, and recording
// it cost each message a state-log write(2) (the subscriber of the benchmark's latency run).
// Inbound acknowledgement bookkeeping (PUBACK/PUBREC entries) is QoS 2 only: skipped.
func (h *storeHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, _ int) {
	if cl.Net.Inline || pk.FixedHeader.Type != packets.Publish || !sessionPersists(cl) {
		return
	}
	m := toMessage(inflightKey(cl.ID, pk.PacketID), storage.InflightKey, cl.ID, &pk)
	m.Sent = sent
	_ = h.setMessage(&m)
}

func (h *storeHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	h.del(inflightKey(cl.ID, pk.PacketID))
}

func (h *storeHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	// A taken-over session hands its queue to the new connection of the same client
	// ID (mochi clears the old copy through this hook); the keys are shared, so
	// deleting them would forget the new session's queue.
	if cl.IsTakenOver() {
		return
	}
	h.del(inflightKey(cl.ID, pk.PacketID))
}

func decodeAll[T any, PT interface {
	*T
	storage.Serializable
}](vals [][]byte) ([]T, error) {
	out := make([]T, 0, len(vals))
	for _, v := range vals {
		var x T
		if err := PT(&x).UnmarshalBinary(v); err != nil {
			return nil, fmt.Errorf("decode stored broker state: %w", err)
		}
		out = append(out, x)
	}
	return out, nil
}

func (h *storeHook) StoredClients() ([]storage.Client, error) {
	return decodeAll[storage.Client](h.db.Prefix(storage.ClientKey + "_"))
}

func (h *storeHook) StoredSubscriptions() ([]storage.Subscription, error) {
	return decodeAll[storage.Subscription](h.db.Prefix(storage.SubscriptionKey + "_"))
}

func (h *storeHook) StoredInflightMessages() ([]storage.Message, error) {
	return decodeMessages(h.db.Prefix(storage.InflightKey + "_"))
}

func (h *storeHook) StoredRetainedMessages() ([]storage.Message, error) {
	return decodeMessages(h.db.Prefix(storage.RetainedKey + "_"))
}

// pending returns the messages acknowledged to a publisher but not yet routed.
func (h *storeHook) pending() ([]storage.Message, error) {
	return decodeMessages(h.db.Prefix(pendingKey + "_"))
}
