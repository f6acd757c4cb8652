package loadgen

import (
	"encoding/binary"
	"fmt"
)

// HeaderSize is the number of payload bytes the header takes; payloads are at least this long.
const HeaderSize = 24

// Header is what every benchmark message carries at the start of its payload.
type Header struct {
	RunID  uint64 // identifies one publisher run; other runs' messages are ignored
	Seq    uint64 // 0 .. N-1
	SentNS int64  // send time, nanoseconds since the Unix epoch
}

// Encode writes h into the first HeaderSize bytes of buf, which must be at least that long.
func (h Header) Encode(buf []byte) {
	binary.BigEndian.PutUint64(buf[0:8], h.RunID)
	binary.BigEndian.PutUint64(buf[8:16], h.Seq)
	binary.BigEndian.PutUint64(buf[16:24], uint64(h.SentNS))
}

// DecodeHeader reads the header from a received payload.
func DecodeHeader(p []byte) (Header, error) {
	if len(p) < HeaderSize {
		return Header{}, fmt.Errorf("payload of %d bytes is shorter than the %d-byte benchmark header: "+
			"something other than the benchmark publisher wrote to the topic", len(p), HeaderSize)
	}
	return Header{
		RunID:  binary.BigEndian.Uint64(p[0:8]),
		Seq:    binary.BigEndian.Uint64(p[8:16]),
		SentNS: int64(binary.BigEndian.Uint64(p[16:24])),
	}, nil
}
