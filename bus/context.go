package bus

import (
	"context"
	"time"
)

type (
	topicKey    struct{}
	busKey      struct{}
	ancestorKey struct{ c *core }
)

// msgCtx is the context handlers receive: one per published message, shared
// by every handler subscription of that message. It carries the publisher's
// values, the correlation ID and the topic, but not the publisher's
// cancellation: a handler runs after Publish returned. It is done only when
// the bus gives up draining.
type msgCtx struct {
	parent context.Context
	id     CorrelationID
	topic  string
	t      topicImpl
	b      *Bus
}

func newMsgCtx(parent context.Context, id CorrelationID, t topicImpl, b *Bus) *msgCtx {
	if parent == nil {
		parent = context.Background()
	}
	return &msgCtx{parent: parent, id: id, topic: t.base().name, t: t, b: b}
}

func (c *msgCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *msgCtx) Done() <-chan struct{}       { return c.b.killCtx.Done() }
func (c *msgCtx) Err() error                  { return c.b.killCtx.Err() }

func (c *msgCtx) Value(k any) any {
	switch k := k.(type) {
	case correlationKey:
		return &c.id
	case topicKey:
		return &c.topic
	case busKey:
		return c.b
	case ancestorKey:
		// A handler of this message may be the one publishing: never wait
		// for a subscription that receives it.
		if c.t.has(k.c) {
			return true
		}
	}
	// The bus's kill context answers the context package's own lookups, so
	// that a context derived from this one (WithTimeout in a handler) joins
	// it as a child instead of starting a goroutine to watch Done.
	if v := c.b.killCtx.Value(k); v != nil {
		return v
	}
	return c.parent.Value(k)
}

func (c *msgCtx) String() string { return "bus.handlerContext(" + c.topic + ")" }

// syncCtx is a handler's context for a PublishSync delivery: it also marks
// the subscription as waited on, so that a nested PublishSync does not wait
// for it (see isAncestor), even when the subscription is not attached to
// the message's topic (a chain that comes back to it).
type syncCtx struct {
	*msgCtx
	sub *core
}

func (c *syncCtx) Value(k any) any {
	if a, ok := k.(ancestorKey); ok && a.c == c.sub {
		return true
	}
	return c.msgCtx.Value(k)
}

func isAncestor(ctx context.Context, c *core) bool {
	return ctx != nil && ctx.Value(ancestorKey{c}) != nil
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
