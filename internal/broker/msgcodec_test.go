package broker

import (
	"reflect"
	"testing"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
)

func TestMessageCodec(t *testing.T) {
	full := storage.Message{
		ID: "INF_c:7", T: storage.InflightKey, Client: "c", Origin: "o", TopicName: "a/b",
		Payload:     []byte("payload"),
		FixedHeader: packets.FixedHeader{Remaining: 42, Type: packets.Publish, Qos: 1, Dup: true, Retain: true},
		Created:     1700000000, Sent: -3, PacketID: 65535,
		Properties: storage.MessageProperties{
			CorrelationData: []byte{0, 1}, SubscriptionIdentifier: []int{1, 268435455},
			User:        []packets.UserProperty{{Key: "k", Val: "v"}, {Key: "", Val: "x"}},
			ContentType: "text/plain", ResponseTopic: "r", MessageExpiryInterval: 86400,
			TopicAlias: 3, PayloadFormat: 1, PayloadFormatFlag: true,
		},
	}
	cases := []struct {
		name string
		m    storage.Message
	}{
		{"every field", full},
		{"zero message", storage.Message{}},
		{"empty, not nil, payload", storage.Message{Payload: []byte{}, T: storage.RetainedKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeMessage(encodeMessage(&tc.m))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.m) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tc.m)
			}
			// A log written before the binary form holds JSON: still readable.
			js, err := tc.m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			old, err := decodeMessage(js)
			if err != nil {
				t.Fatal(err)
			}
			if old.ID != tc.m.ID || string(old.Payload) != string(tc.m.Payload) || old.PacketID != tc.m.PacketID {
				t.Errorf("JSON record decoded as %+v", old)
			}
			// Every truncation is an error, never a panic or a silently short message.
			enc := encodeMessage(&tc.m)
			for i := 1; i < len(enc); i++ {
				if _, err := decodeMessage(enc[:i]); err == nil {
					t.Fatalf("truncated to %d of %d bytes: no error", i, len(enc))
				}
			}
		})
	}
}
