package bus

import (
	"context"
	"sync/atomic"
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
	t      topicImpl
	b      *Bus
}

// ctxBlock is how handler contexts are allocated: a publish takes the next
// one of its topic's current block, so that publishing to handlers makes one
// allocation per ctxBlockSize messages instead of one per message. A block
// stays in memory while any handler keeps one of its contexts.
type ctxBlock struct {
	next atomic.Int32
	ctxs [ctxBlockSize]msgCtx
}

const ctxBlockSize = 32

// newMsgCtx returns the handler context of a message published on t with
// ctx and correlation ID id.
func (t *topicBase) newMsgCtx(parent context.Context, id CorrelationID, ti topicImpl) *msgCtx {
	if parent == nil {
		parent = context.Background()
	}
	var c *msgCtx
	if blk := t.ctxs.Load(); blk != nil {
		if i := blk.next.Add(1) - 1; i < ctxBlockSize {
			c = &blk.ctxs[i]
		}
	}
	if c == nil {
		// The block ran out (or this is the first): start a new one. Two
		// publishers may both do so; each keeps the context it took.
		blk := new(ctxBlock)
		blk.next.Store(1)
		t.ctxs.Store(blk)
		c = &blk.ctxs[0]
	}
	*c = msgCtx{parent: parent, id: id, t: ti, b: t.b}
	return c
}

// topic returns the name of the message's topic.
func (c *msgCtx) topic() *string { return &c.t.base().name }

func (c *msgCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *msgCtx) Done() <-chan struct{}       { return c.b.killCtx.Done() }
func (c *msgCtx) Err() error                  { return c.b.killCtx.Err() }

func (c *msgCtx) Value(k any) any {
	switch k := k.(type) {
	case correlationKey:
		return &c.id
	case topicKey:
		return c.topic()
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

func (c *msgCtx) String() string { return "bus.handlerContext(" + *c.topic() + ")" }

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
