package bus

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
)

// CorrelationID identifies one chain of events: the publisher's, or a new one
// made by Publish, travels with the message, and a handler's own publishes
// carry it on. It is a fixed-size value, so making one does not allocate; it
// is rendered as 32 hexadecimal digits only when someone reads it as text.
type CorrelationID [16]byte

// NewCorrelationID returns a random correlation ID. It does not allocate.
func NewCorrelationID() CorrelationID {
	var id CorrelationID
	binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	return id
}

// parseCorrelationID parses the 32 hexadecimal digits that String returns.
func parseCorrelationID(s string) (CorrelationID, error) {
	var id CorrelationID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("bus: correlation ID %s has %d characters, want %d hexadecimal digits", quote(s), len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return CorrelationID{}, fmt.Errorf("bus: correlation ID %s is not hexadecimal: %w", quote(s), err)
	}
	return id, nil
}

// IsZero reports whether id is the zero value, which means "no ID".
func (id CorrelationID) IsZero() bool { return id == CorrelationID{} }

// String returns id as 32 lowercase hexadecimal digits.
func (id CorrelationID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText implements encoding.TextMarshaler.
func (id CorrelationID) MarshalText() ([]byte, error) {
	b := make([]byte, 2*len(id))
	hex.Encode(b, id[:])
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler: it reads the 32
// hexadecimal digits that String returns (from a header, say), and leaves id
// unchanged on error.
func (id *CorrelationID) UnmarshalText(b []byte) error {
	v, err := parseCorrelationID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

type correlationKey struct{}

// WithCorrelationID returns a copy of ctx that carries id. Publishes made with
// the returned context carry id with their message.
func WithCorrelationID(ctx context.Context, id CorrelationID) context.Context {
	return context.WithValue(ctx, correlationKey{}, &id)
}

// CorrelationIDFrom returns the correlation ID that ctx carries. Inside a
// handler it is the ID of the message being handled.
func CorrelationIDFrom(ctx context.Context) (CorrelationID, bool) {
	if ctx == nil {
		return CorrelationID{}, false
	}
	if p, ok := ctx.Value(correlationKey{}).(*CorrelationID); ok && p != nil {
		return *p, true
	}
	return CorrelationID{}, false
}

// newID returns the ID of a publish with ctx: the context's own, or one
// made from the topic's random seed and the publish's sequence number on
// the topic. The sequence is unique per topic and the mix is a bijection,
// so the IDs are unique without a random draw per publish.
func newID(ctx context.Context, seed, seq uint64) CorrelationID {
	if id, ok := CorrelationIDFrom(ctx); ok {
		return id
	}
	var id CorrelationID
	binary.LittleEndian.PutUint64(id[:8], seed)
	binary.LittleEndian.PutUint64(id[8:], mix64(seq))
	return id
}

// mix64 is the splitmix64 finaliser: a bijection on uint64 that makes
// consecutive numbers look random.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
