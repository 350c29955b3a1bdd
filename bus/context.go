package bus

import (
	"context"
	"time"
)

type (
	topicKey    struct{}
	ownerKey    struct{}
	ancestorKey struct{ m *mark }
)

// mark identifies a subscription to the handler contexts, which must not
// know its type: a subscription's address of its mark is unique.
type mark struct{ _ byte }

// lifeline is a bus's kill switch: its context is cancelled when Close gives
// up draining, and it is the Done of every handler context. A handler
// context points to it, which also tells whose handler published.
type lifeline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// origin is what a handler context asks of the topic its message was
// published on.
type origin interface {
	receives(m *mark) bool // whether the subscription marked m receives the topic's messages
	nameRef() *string      // the topic's name
	lifeline() *lifeline   // the bus's
}

// handlerCtx is the context handlers receive: one per published message,
// shared by every handler subscription of that message. It carries the
// publisher's values, the correlation ID and the topic, but not the
// publisher's cancellation (a handler runs after Publish returned); it is
// done only when the bus gives up draining.
type handlerCtx struct {
	parent context.Context // the publisher's, for its values
	topic  origin
	id     CorrelationID
}

func (c *handlerCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *handlerCtx) Done() <-chan struct{}       { return c.topic.lifeline().ctx.Done() }
func (c *handlerCtx) Err() error                  { return c.topic.lifeline().ctx.Err() }

func (c *handlerCtx) Value(k any) any {
	switch k := k.(type) {
	case correlationKey:
		return &c.id
	case topicKey:
		return c.topic.nameRef()
	case ownerKey:
		return c.topic.lifeline()
	case ancestorKey:
		// A handler of this message may be the one publishing.
		if c.topic.receives(k.m) {
			return true
		}
	}
	// The kill switch answers the context package's own lookup, so that a
	// context derived from this one (WithTimeout in a handler) becomes its
	// child instead of starting a goroutine to watch Done.
	if v := c.topic.lifeline().ctx.Value(k); v != nil {
		return v
	}
	return c.parent.Value(k)
}

func (c *handlerCtx) String() string { return "bus.handlerContext(" + *c.topic.nameRef() + ")" }

// syncCtx is a handler's context for a PublishSync delivery: it also marks
// the subscription as waited on, so that a nested PublishSync does not wait
// for it (see receivesChain), even when the subscription does not receive
// the message's topic (a chain that comes back to it).
type syncCtx struct {
	*handlerCtx
	sub *mark
}

func (c *syncCtx) Value(k any) any {
	if a, ok := k.(ancestorKey); ok && a.m == c.sub {
		return true
	}
	return c.handlerCtx.Value(k)
}

// receivesChain reports whether ctx is (or derives from) the context of a
// handler whose message the subscription marked m receives, or of a
// PublishSync delivery to it: its handler may then be the caller, or be
// waiting on it, so the caller must not wait for it.
func receivesChain(ctx context.Context, m *mark) bool {
	return ctx.Value(ancestorKey{m}) != nil
}

// TopicFrom returns the topic of the message a handler is handling, from the
// handler's context.
func TopicFrom(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	if p, ok := ctx.Value(topicKey{}).(*string); ok {
		return *p, true
	}
	return "", false
}
