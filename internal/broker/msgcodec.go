package broker

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Messages (pending, in-flight and retained) are stored in a compact binary form:
// mochi's storage.Message.MarshalBinary is encoding/json, and encoding two messages
// per QoS 1 publish with reflection was the broker's largest own CPU cost after the
// log writes. Logs written before hold JSON; decodeMessage reads both (JSON starts
// with '{', the binary form with msgCodecV1).
const msgCodecV1 byte = 0x01

func encodeMessage(m *storage.Message) []byte {
	p := &m.Properties
	n := 64 + len(m.ID) + len(m.T) + len(m.Client) + len(m.Origin) + len(m.TopicName) + len(m.Payload) +
		len(p.CorrelationData) + len(p.ContentType) + len(p.ResponseTopic) + 8*len(p.SubscriptionIdentifier)
	for _, u := range p.User {
		n += 8 + len(u.Key) + len(u.Val)
	}
	b := make([]byte, 0, n)
	b = append(b, msgCodecV1)
	for _, s := range []string{m.ID, m.T, m.Client, m.Origin, m.TopicName} {
		b = appendString(b, s)
	}
	b = appendBytes(b, m.Payload)
	fh := m.FixedHeader
	b = binary.AppendUvarint(b, uint64(fh.Remaining))
	b = append(b, fh.Type, fh.Qos, boolBits(fh.Dup, fh.Retain))
	b = binary.AppendVarint(b, m.Created)
	b = binary.AppendVarint(b, m.Sent)
	b = binary.BigEndian.AppendUint16(b, m.PacketID)
	b = appendBytes(b, p.CorrelationData)
	b = binary.AppendUvarint(b, uint64(len(p.SubscriptionIdentifier)))
	for _, id := range p.SubscriptionIdentifier {
		b = binary.AppendVarint(b, int64(id))
	}
	b = binary.AppendUvarint(b, uint64(len(p.User)))
	for _, u := range p.User {
		b = appendString(b, u.Key)
		b = appendString(b, u.Val)
	}
	b = appendString(b, p.ContentType)
	b = appendString(b, p.ResponseTopic)
	b = binary.AppendUvarint(b, uint64(p.MessageExpiryInterval))
	b = binary.BigEndian.AppendUint16(b, p.TopicAlias)
	return append(b, p.PayloadFormat, boolBits(p.PayloadFormatFlag, false))
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendUvarint(b, 0)
	}
	return append(binary.AppendUvarint(b, uint64(len(v))+1), v...) // +1: nil and empty differ
}

func boolBits(a, b bool) byte {
	var x byte
	if a {
		x |= 1
	}
	if b {
		x |= 2
	}
	return x
}

var errShortMessage = errors.New("stored message is truncated")

// msgReader decodes the binary form; the first error sticks.
type msgReader struct {
	b   []byte
	err error
}

func (r *msgReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortMessage
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *msgReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortMessage
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *msgReader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errShortMessage
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *msgReader) byte1() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *msgReader) uint16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *msgReader) string() string { return string(r.take(r.uvarint())) }

func (r *msgReader) bytes() []byte {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	return append([]byte{}, r.take(n-1)...)
}

func decodeMessage(b []byte) (storage.Message, error) {
	var m storage.Message
	if len(b) == 0 || b[0] != msgCodecV1 {
		err := m.UnmarshalBinary(b) // JSON, from a log written before the binary form
		return m, err
	}
	r := &msgReader{b: b[1:]}
	m.ID, m.T, m.Client, m.Origin, m.TopicName = r.string(), r.string(), r.string(), r.string(), r.string()
	m.Payload = r.bytes()
	m.FixedHeader.Remaining = int(r.uvarint())
	m.FixedHeader.Type, m.FixedHeader.Qos = r.byte1(), r.byte1()
	f := r.byte1()
	m.FixedHeader.Dup, m.FixedHeader.Retain = f&1 != 0, f&2 != 0
	m.Created, m.Sent = r.varint(), r.varint()
	m.PacketID = r.uint16()
	p := &m.Properties
	p.CorrelationData = r.bytes()
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		p.SubscriptionIdentifier = make([]int, n)
		for i := range p.SubscriptionIdentifier {
			p.SubscriptionIdentifier[i] = int(r.varint())
		}
	}
	if n := r.uvarint(); n > 0 && n <= uint64(len(r.b)) {
		p.User = make([]packets.UserProperty, n)
		for i := range p.User {
			p.User[i] = packets.UserProperty{Key: r.string(), Val: r.string()}
		}
	}
	p.ContentType, p.ResponseTopic = r.string(), r.string()
	p.MessageExpiryInterval = uint32(r.uvarint())
	p.TopicAlias = r.uint16()
	p.PayloadFormat = r.byte1()
	p.PayloadFormatFlag = r.byte1()&1 != 0
	if r.err != nil {
		return m, fmt.Errorf("decode stored message: %w", r.err)
	}
	return m, nil
}

func decodeMessages(vals [][]byte) ([]storage.Message, error) {
	out := make([]storage.Message, 0, len(vals))
	for _, v := range vals {
		m, err := decodeMessage(v)
		if err != nil {
			return nil, fmt.Errorf("decode stored broker state: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}
