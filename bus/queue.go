package bus

import (
	"context"
	"math/bits"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// maxBatch bounds how many messages an activation of a queue with
// concurrency 1 takes at once.
const maxBatch = 64

type entry[T any] struct {
	v  T
	hc *handlerCtx
	w  *waiter
}

// queue is a handler subscription's sink: a bounded ring under one mutex,
// drained by activations that the bus's worker pool runs. An activation is
// started when a message arrives and fewer than conc run (or are
// submitted); it handles messages until the ring is empty, then stops. With
// concurrency 1 it takes them in batches, in order.
type queue[T any] struct {
	c    *core
	fn   func(context.Context, T) error
	conc int
	pool *pool
	work *activity
	// notify tells OnDrop, the hooks and a PublishSync waiter about a
	// message dropped after it was queued.
	notify func(m Message[T], w *waiter, r DropReason)

	mu      sync.Mutex
	ring    []entry[T] // len is a power of 2; grows only past the bound
	head    int
	n       int
	limit   int           // the subscription's Buffer
	running int           // activations submitted or running
	waiters int           // publishers waiting for room
	dead    atomic.Bool   // the end began: no handler call starts any more
	emptied bool          // the end took what was left: the queue may finish
	room    chan struct{} // a token for one waiting publisher
	batch   []entry[T]    // the activation's, with concurrency 1
}

func newQueue[T any](c *core, fn func(context.Context, T) error, p *pool, work *activity, notify func(Message[T], *waiter, DropReason)) *queue[T] {
	q := &queue[T]{
		c: c, fn: fn, conc: c.conc, pool: p, work: work, notify: notify, limit: c.buffer,
		ring: make([]entry[T], 1<<bits.Len(uint(c.buffer-1))),
		room: make(chan struct{}, 1),
	}
	if q.conc == 1 {
		q.batch = make([]entry[T], min(c.buffer, maxBatch))
	}
	return q
}

func (q *queue[T]) put(d delivery[T]) bool {
	q.mu.Lock()
	if q.n >= q.limit {
		q.mu.Unlock()
		return false
	}
	start := q.add(&d)
	q.mu.Unlock()
	q.started(start)
	return true
}

// putOver accepts d past the bound, growing the ring if it must.
func (q *queue[T]) putOver(d delivery[T]) bool {
	q.mu.Lock()
	start := q.add(&d)
	q.mu.Unlock()
	q.started(start)
	return true
}

// add appends d to the ring and counts it, and reports whether an
// activation must be submitted for it. The caller holds mu.
func (q *queue[T]) add(d *delivery[T]) (start bool) {
	if q.n == len(q.ring) {
		ring := make([]entry[T], 2*len(q.ring))
		q.take(ring)
		q.ring, q.head, q.n = ring, 0, len(ring)/2
	}
	q.ring[(q.head+q.n)&(len(q.ring)-1)] = entry[T]{v: d.msg.Value, hc: d.hc, w: d.w}
	q.n++
	if d.w != nil {
		d.w.add()
	}
	q.c.accept()
	// A running activation may be inside a handler call for as long as the
	// handler takes, so every message may start one, up to conc; one that
	// then finds the ring empty stops at once.
	if q.running < q.conc {
		q.running++
		q.work.add()
		return true
	}
	return false
}

// started submits the activation that add asked for.
func (q *queue[T]) started(start bool) {
	if start {
		q.pool.submit(q)
	}
}

// take moves up to len(buf) messages from the ring into buf. The caller
// holds mu.
func (q *queue[T]) take(buf []entry[T]) []entry[T] {
	k, mask := min(q.n, len(buf)), len(q.ring)-1
	for i := range k {
		j := (q.head + i) & mask
		buf[i], q.ring[j] = q.ring[j], entry[T]{}
	}
	q.head, q.n = (q.head+k)&mask, q.n-k
	return buf[:k]
}

func (q *queue[T]) wait(ctx context.Context, d delivery[T], timeout <-chan time.Time, done <-chan struct{}) waitEnd {
	q.mu.Lock()
	q.waiters++
	for q.n >= q.limit {
		q.mu.Unlock()
		why := waitPut
		select {
		case <-q.room:
		case <-done:
			why = waitEnded
		case <-ctx.Done():
			why = waitCanceled
		case <-timeout:
			why = waitTimedOut
		}
		q.mu.Lock()
		if why != waitPut {
			q.waiters--
			q.mu.Unlock()
			return why
		}
	}
	q.waiters--
	start := q.add(&d)
	more := q.waiters > 0 && q.n < q.limit
	q.mu.Unlock()
	if more {
		q.signalRoom() // pass the room on to the next waiter
	}
	q.started(start)
	return waitPut
}

func (q *queue[T]) signalRoom() {
	select {
	case q.room <- struct{}{}:
	default:
	}
}

// evict drops the oldest message to make room for d, under one lock, so
// that it always puts d.
func (q *queue[T]) evict(d delivery[T]) (old delivery[T], evicted, put bool) {
	q.mu.Lock()
	if q.n >= q.limit {
		var e [1]entry[T]
		o := q.take(e[:])[0]
		old, evicted = delivery[T]{msg: o.message(), w: o.w}, true
	}
	start := q.add(&d)
	q.mu.Unlock()
	q.started(start)
	return old, evicted, true
}

// message rebuilds the Message of a queued entry, for OnDrop.
func (e *entry[T]) message() Message[T] {
	return Message[T]{Value: e.v, CorrelationID: e.hc.id, Topic: *e.hc.topic.nameRef()}
}

// halt stops the handler calls as the end begins: running activations
// stop after their current call and drop the rest of their batch.
func (q *queue[T]) halt() { q.dead.Store(true) }

// shut takes what is left in the ring, counted as dropped with r before an
// activation can see the queue finished.
func (q *queue[T]) shut(r DropReason) []delivery[T] {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.emptied = true
	left := make([]delivery[T], 0, q.n)
	for _, e := range q.take(make([]entry[T], q.n)) {
		left = append(left, delivery[T]{msg: e.message(), w: e.w})
	}
	q.c.discard(r, len(left))
	return left
}

// idle reports whether no activation runs any more.
func (q *queue[T]) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running == 0
}

func (q *queue[T]) queued() uint64 {
	c := q.c
	settled := c.handled.Load() + c.removed.Load()
	return sat(c.accepted.Load(), settled)
}

// held is what a stuck activation took but has not started, after the end
// emptied the ring: each running activation has at most one message in a
// handler's hands.
func (q *queue[T]) held() uint64 {
	q.mu.Lock()
	r := q.running
	q.mu.Unlock()
	return sat(q.queued(), uint64(r))
}

// run is one activation: it handles messages until the ring is empty or
// the subscription ends, giving its worker up after a batch when yield
// says another queue waits for one.
func (q *queue[T]) run(yield func() bool) {
	var one [1]entry[T]
	buf := one[:]
	if q.conc == 1 {
		buf = q.batch
	}
	for {
		q.mu.Lock()
		if q.n == 0 || q.dead.Load() {
			q.running--
			fin := q.emptied && q.running == 0
			q.mu.Unlock()
			q.work.done()
			if fin {
				q.c.finish()
			}
			return
		}
		batch := q.take(buf)
		wake := q.waiters > 0
		q.mu.Unlock()
		if wake {
			q.signalRoom()
		}
		q.handle(batch)
		if yield() {
			q.pool.submit(q) // still counted as running: to the back of the line
			return
		}
	}
}

// handle runs the handler on each message of batch, or drops what is left
// of it once the subscription's end has begun.
func (q *queue[T]) handle(batch []entry[T]) {
	for i := range batch {
		e := &batch[i]
		if q.dead.Load() {
			q.drop(batch[i:])
			return
		}
		err := q.call(e)
		q.c.settle(err)
		if e.w != nil {
			e.w.done(err)
		}
		*e = entry[T]{}
	}
}

// call runs the handler on one message and turns a panic into an error.
func (q *queue[T]) call(e *entry[T]) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	var ctx context.Context = e.hc
	if e.w != nil {
		ctx = &syncCtx{handlerCtx: e.hc, sub: &q.c.mark}
	}
	return q.fn(ctx, e.v)
}

// drop counts the messages an activation took but the end overtook.
func (q *queue[T]) drop(rest []entry[T]) {
	r := q.c.deadReason()
	q.c.discard(r, len(rest))
	for i := range rest {
		q.notify(rest[i].message(), rest[i].w, r)
		rest[i] = entry[T]{}
	}
}
