package bus

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"
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
//
// A msgCtx lives in a ctxBlock and holds no pointer: what all contexts of a
// block share (topic, bus) and the publishers' contexts are in the block's
// header, found from the context's index. A publish with
// context.Background() then writes 17 bytes that the garbage collector never
// scans and no write barrier guards; a block makes room for the publishers'
// contexts when the first publish with a context of its own comes.
type msgCtx struct {
	id CorrelationID
	i  uint8 // index in its block
}

// ctxBlock is how handler contexts are allocated: a publish takes the next
// one of its topic's current block, so that publishing to handlers makes one
// allocation per ctxBlockSize messages instead of one per message. A block
// stays in memory while any handler keeps one of its contexts.
type ctxBlock struct {
	t       topicImpl
	b       *Bus
	parents atomic.Pointer[[ctxBlockSize]context.Context] // made by the first publish with a context of its own
	next    atomic.Int32
	ctxs    [ctxBlockSize]msgCtx
}

const ctxBlockSize = 64

// block returns the block that holds c: c is its element c.i.
func (c *msgCtx) block() *ctxBlock {
	off := unsafe.Offsetof(ctxBlock{}.ctxs) + uintptr(c.i)*unsafe.Sizeof(msgCtx{})
	return (*ctxBlock)(unsafe.Add(unsafe.Pointer(c), -int(off)))
}

// parent returns the context of the message's publisher.
func (c *msgCtx) parent() context.Context {
	if ps := c.block().parents.Load(); ps != nil && ps[c.i] != nil {
		return ps[c.i]
	}
	return background
}

// newMsgCtx returns the handler context of a message published on t with
// parent (nil for context.Background()); the caller writes its correlation
// ID.
func (t *topicBase) newMsgCtx(parent context.Context, ti topicImpl) *msgCtx {
	var (
		blk *ctxBlock
		i   int32
	)
	if blk = t.ctxs.Load(); blk != nil {
		i = blk.next.Add(1) - 1
	}
	if blk == nil || i >= ctxBlockSize {
		// The block ran out (or this is the first): start a new one. Two
		// publishers may both do so; each keeps the context it took.
		blk = &ctxBlock{t: ti, b: t.b}
		blk.next.Store(1)
		for j := range blk.ctxs {
			blk.ctxs[j].i = uint8(j)
		}
		t.ctxs.Store(blk)
		i = 0
	}
	if parent != nil && !isBackground(parent) {
		ps := blk.parents.Load()
		if ps == nil {
			ps = new([ctxBlockSize]context.Context)
			if !blk.parents.CompareAndSwap(nil, ps) {
				ps = blk.parents.Load()
			}
		}
		ps[i] = parent
	}
	return &blk.ctxs[i]
}

// topic returns the name of the message's topic.
func (c *msgCtx) topic() *string { return &c.block().t.base().name }

func (c *msgCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *msgCtx) Done() <-chan struct{}       { return c.block().b.killCtx.Done() }
func (c *msgCtx) Err() error                  { return c.block().b.killCtx.Err() }

func (c *msgCtx) Value(k any) any {
	switch k := k.(type) {
	case correlationKey:
		return &c.id
	case topicKey:
		return c.topic()
	case busKey:
		return c.block().b
	case ancestorKey:
		// A handler of this message may be the one publishing: never wait
		// for a subscription that receives it.
		if c.block().t.has(k.c) {
			return true
		}
	}
	// The bus's kill context answers the context package's own lookups, so
	// that a context derived from this one (WithTimeout in a handler) joins
	// it as a child instead of starting a goroutine to watch Done.
	if v := c.block().b.killCtx.Value(k); v != nil {
		return v
	}
	return c.parent().Value(k)
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
