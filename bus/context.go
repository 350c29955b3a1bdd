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
// A msgCtx lives in a ctxBlock and is one word that the garbage collector
// never scans: the publish's sequence number on its topic and the context's
// index in its block. What all contexts of a block share (topic, bus) is in
// the block's header, found from the index. A message published with
// context.Background() has the correlation ID made from the topic's seed and
// that sequence number (see nextID), so the ID is made again whenever it is
// read, not written at every publish; a block makes room for the
// publishers' contexts and the IDs they carry when the first publish with a
// context of its own comes.
type msgCtx struct {
	// seq<<ctxBlockBits | index in the block. seq stays below 2^57: that
	// is 45 years of a topic's publishes at 10^8 a second.
	w uint64
}

// ctxBlock is how handler contexts are allocated: a publish takes the next
// one of its topic's current block, so that publishing to handlers makes one
// allocation per ctxBlockSize messages instead of one per message. A block
// stays in memory while any handler keeps one of its contexts.
type ctxBlock struct {
	t    topicImpl
	b    *Bus
	own  atomic.Pointer[[ctxBlockSize]ownCtx] // made by the first publish with a context of its own
	next atomic.Int32
	ctxs [ctxBlockSize]msgCtx
}

// ownCtx is what a message published with a context of its own keeps of it:
// the context, for its values, and the correlation ID it carried, or the
// one made for it.
type ownCtx struct {
	parent context.Context
	id     CorrelationID
}

const (
	ctxBlockBits = 7
	ctxBlockSize = 1 << ctxBlockBits
)

// index is c's place in its block.
func (c *msgCtx) index() int { return int(c.w & (ctxBlockSize - 1)) }

// block returns the block that holds c: c is its element c.index().
func (c *msgCtx) block() *ctxBlock {
	off := unsafe.Offsetof(ctxBlock{}.ctxs) + uintptr(c.index())*unsafe.Sizeof(msgCtx{})
	return (*ctxBlock)(unsafe.Add(unsafe.Pointer(c), -int(off)))
}

// own returns what the message's publisher gave of its context, or nil when
// it published with context.Background().
func (c *msgCtx) own() *ownCtx {
	if owns := c.block().own.Load(); owns != nil && owns[c.index()].parent != nil {
		return &owns[c.index()]
	}
	return nil
}

// parent returns the context of the message's publisher.
func (c *msgCtx) parent() context.Context {
	if o := c.own(); o != nil {
		return o.parent
	}
	return background
}

// id returns the message's correlation ID.
func (c *msgCtx) id() CorrelationID {
	if o := c.own(); o != nil {
		return o.id
	}
	var id CorrelationID
	putCorrelationID(&id, c.block().t.base().seed, c.w>>ctxBlockBits)
	return id
}

// newMsgCtx returns the handler context of the message published on t as
// number seq (see nextID) with parent, nil for context.Background(). id is
// the message's correlation ID when the caller has it; when parent is set
// and id is nil, newMsgCtx finds it.
func (t *topicBase) newMsgCtx(parent context.Context, ti topicImpl, seq uint64, id *CorrelationID) *msgCtx {
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
		t.ctxs.Store(blk)
		i = 0
	}
	c := &blk.ctxs[i]
	c.w = seq<<ctxBlockBits | uint64(i)
	if parent != nil && !isBackground(parent) {
		owns := blk.own.Load()
		if owns == nil {
			owns = new([ctxBlockSize]ownCtx)
			if !blk.own.CompareAndSwap(nil, owns) {
				owns = blk.own.Load()
			}
		}
		o := &owns[i]
		if id != nil {
			o.id = *id
		} else {
			o.id = correlationFor(parent, t.seed, seq)
		}
		o.parent = parent
	}
	return c
}

// topic returns the name of the message's topic.
func (c *msgCtx) topic() *string { return &c.block().t.base().name }

func (c *msgCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *msgCtx) Done() <-chan struct{}       { return c.block().b.killCtx.Done() }
func (c *msgCtx) Err() error                  { return c.block().b.killCtx.Err() }

func (c *msgCtx) Value(k any) any {
	switch k := k.(type) {
	case correlationKey:
		return c // CorrelationIDFrom asks for c.id()
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
