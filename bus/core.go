package bus

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// core is the type-independent state of a subscription: identity, the gate
// that orders its offers before its end, its end, and its counters.
type core struct {
	mark     mark // identifies it to handler contexts
	name     string
	pattern  string
	group    string
	wildcard bool
	policy   Policy
	buffer   int
	conc     int         // handler concurrency; 0 for channel subscriptions
	reg      registry    // the bus
	hooks    *Hooks      // the bus's
	topics   []topicImpl // guarded by the bus's lock
	stop     func() bool // stops the watch on the subscription's context; same lock

	// gate orders offers before the end: every offer holds the read side
	// from its first look at the sink to its last count, and the end takes
	// the write side once to set closed. After that no offer is in flight
	// or can start, so the counters the end folds into Stats are final.
	gate   sync.RWMutex
	closed bool

	done     chan struct{} // closed when the end begins: wakes waiting publishers
	finished chan struct{} // closed when the end is complete
	endOnce  sync.Once
	finOnce  sync.Once
	reason   atomic.Uint32 // the DropReason of the end, set before done closes
	err      error         // why it ended, set before done closes

	counters
}

// registry is the bus as its subscriptions see it.
type registry interface {
	remove(s subscription)
	retire(c *core)
}

// topicImpl is the type-erased side of a Topic[T], as the registry uses it.
type topicImpl interface {
	origin
	typeName() string
	counts() (published, unrouted uint64)
	attach(s subscription) bool // false when s carries another type
	detach(s subscription)
	remove()
}

// subscription is the type-erased side of a Subscription[T].
type subscription interface {
	info() *core
	queued() uint64
	held() uint64
	end(reason DropReason, err error)
}

func (c *core) info() *core { return c }

func (c *core) deadReason() DropReason { return DropReason(c.reason.Load()) }

// finish completes the end: the counters are final, so they are folded into
// the bus's retired stats before Done is closed.
func (c *core) finish() {
	c.finOnce.Do(func() {
		c.reg.retire(c)
		close(c.finished)
	})
}

// kept ends a run of drops, for DisconnectAfter.
func (c *core) kept() {
	if c.policy.kind == policyDisconnect && c.consec.Load() != 0 {
		c.consec.Store(0)
	}
}

// ended reports whether done is closed.
func ended(done <-chan struct{}) bool {
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// delivery is one message on its way to one or more subscriptions: the
// message a channel receives, the context a handler receives (nil when the
// topic has no handler subscription), and the PublishSync waiter to tell
// when a handler has handled it (nil for Publish).
type delivery[T any] struct {
	msg Message[T]
	hc  *handlerCtx
	w   *waiter
}

// waitEnd says how a sink's wait for room ended.
type waitEnd uint8

const (
	waitPut      waitEnd = iota // there was room: the message is in
	waitCanceled                // the publisher's context ended
	waitTimedOut                // the BlockFor bound passed
	waitEnded                   // the subscription's end began
)

// sink is where a subscription's messages wait: a channel (chanSink) or a
// handler queue (queue). Its methods are called by offer, under the gate's
// read side, and count what they accept (see counters).
type sink[T any] interface {
	// put accepts d if there is room now.
	put(d delivery[T]) bool
	// putOver accepts d past the bound, if the sink can grow.
	putOver(d delivery[T]) bool
	// wait accepts d once there is room, unless ctx, timeout or done ends
	// the wait first.
	wait(ctx context.Context, d delivery[T], timeout <-chan time.Time, done <-chan struct{}) waitEnd
	// evict accepts d in place of the oldest queued message, which it
	// returns. put reports false when it could not accept d after all.
	evict(d delivery[T]) (old delivery[T], evicted, put bool)
	// halt stops handing messages over, as the end begins.
	halt()
	// shut takes what is left, once the gate is closed (no more comes),
	// and counts it as dropped with r.
	shut(r DropReason) []delivery[T]
	// idle reports whether nothing runs for the subscription any more.
	idle() bool
	queued() uint64
	held() uint64
}

// waiter collects the outcome of one PublishSync. pending starts at 1, the
// publisher's own hold, so that ch closes only after every delivery began.
type waiter struct {
	pending atomic.Int32
	ch      chan struct{}
	mu      sync.Mutex
	errs    []error
}

func newWaiter() *waiter {
	w := &waiter{ch: make(chan struct{})}
	w.pending.Store(1)
	return w
}

func (w *waiter) add() { w.pending.Add(1) }

func (w *waiter) done(err error) {
	if err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, err)
		w.mu.Unlock()
	}
	if w.pending.Add(-1) == 0 {
		close(w.ch)
	}
}

// wait drops the publisher's hold and waits for every handler of the
// message, or for ctx; it returns the errors the handlers and drops
// reported, and whether it gave up.
func (w *waiter) wait(ctx context.Context) (errs []error, gaveUp bool) {
	w.done(nil)
	select {
	case <-w.ch:
	case <-ctx.Done():
		gaveUp = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.errs), gaveUp
}

// stats reads one subscription's counters (see counters for the rule).
func (c *core) stats(queued func() uint64) SubscriptionStats {
	ss := SubscriptionStats{
		Name: c.name, Pattern: c.pattern, Group: c.group, Handler: c.conc > 0,
		Policy: c.policy, Buffer: c.buffer, Concurrency: c.conc, Dropped: DropCounts{},
	}
	// Read what left the sink before what entered it, so that a racing
	// publish shows as queued rather than as a negative.
	handled, removed := c.handled.Load(), c.removed.Load()
	var dropped uint64
	for r := ReasonFull; r < numDropReasons; r++ {
		if v := c.dropped[r].Load(); v > 0 {
			ss.Dropped[r] = v
			dropped += v
		}
	}
	ss.Queued = queued()
	accepted := c.accepted.Load()
	ss.Failed = c.failed.Load()
	if c.conc > 0 {
		ss.Delivered = handled
	} else {
		ss.Delivered = sat(accepted, removed+ss.Queued)
	}
	ss.Published = accepted + sat(dropped, removed)
	return ss
}
