package bus

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"unsafe"
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

// ParseCorrelationID parses the 32 hexadecimal digits that String returns.
func ParseCorrelationID(s string) (CorrelationID, error) {
	var id CorrelationID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("bus: correlation ID %q has %d characters, want %d hexadecimal digits", s, len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return CorrelationID{}, fmt.Errorf("bus: correlation ID %q is not hexadecimal: %w", s, err)
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

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *CorrelationID) UnmarshalText(b []byte) error {
	v, err := ParseCorrelationID(string(b))
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
	if mc, ok := ctx.(*msgCtx); ok {
		return mc.id(), true
	}
	switch p := ctx.Value(correlationKey{}).(type) {
	case *CorrelationID:
		if p != nil {
			return *p, true
		}
	case *msgCtx: // a handler's context, under one derived from it
		return p.id(), true
	}
	return CorrelationID{}, false
}

// correlationFor returns the ID a publish with ctx carries: the context's own,
// or a new one made from the topic's random seed and the publish's sequence
// number. The sequence is unique per topic and the mix is a bijection, so the
// IDs are unique without a random draw per publish.
func correlationFor(ctx context.Context, seed uint64, seq uint64) CorrelationID {
	if !isBackground(ctx) {
		if id, ok := CorrelationIDFrom(ctx); ok {
			return id
		}
	}
	var id CorrelationID
	putCorrelationID(&id, seed, seq)
	return id
}

// putCorrelationID writes the ID a publish without one gets to id: the
// topic's random seed and the publish's sequence number, mixed.
func putCorrelationID(id *CorrelationID, seed, seq uint64) {
	binary.LittleEndian.PutUint64(id[:8], seed)
	binary.LittleEndian.PutUint64(id[8:], mix64(seq))
}

// background is what a handler context without a publisher's context of
// its own falls back to; isBackground recognises it, so that a publish with
// it skips the lookups it would answer with nothing.
var background = context.Background()

// bgType is the type word of background as an interface value.
var bgType = (*[2]unsafe.Pointer)(unsafe.Pointer(&background))[0]

// isBackground reports whether ctx is context.Background(). Background's
// type has no fields, so its type word alone decides; ctx == background would
// also call the runtime to compare the values, and spill the caller's
// registers around the call, a few nanoseconds on every publish.
func isBackground(ctx context.Context) bool {
	return (*[2]unsafe.Pointer)(unsafe.Pointer(&ctx))[0] == bgType
}

// mix64 is the splitmix64 finaliser: a bijection on uint64 that makes
// consecutive numbers look random.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}
