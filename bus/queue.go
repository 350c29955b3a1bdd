package bus

import (
	"context"
	"fmt"
	"math/bits"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// maxBatch bounds how many messages an activation takes from a queue at once.
const maxBatch = 64

type entry[T any] struct {
	v  T
	hc *msgCtx
	w  *waiter
}

// queue is a handler subscription's bounded ring. The bus's worker pool runs
// it while it holds messages, with at most conc activations at once; with
// conc 1 an activation takes messages in batches. Publishers and the
// activations keep to their own lock and cache lines: publishers append under
// pmu and move tail, a plain field; activations take under cmu and publish
// head. A publisher reads head only when its cached limit runs out. With
// conc 1, a publisher publishes tail in ptail for the activation, and state
// says whether an activation exists: the publisher that moves it from 0 to 1
// starts one, and the activation sets it back to 0 before its last look for
// messages. With conc above 1, activations read tail under pmu and a
// publisher reads active to know whether to start one.
//
// A queue with concurrency 1 made for exactly one topic may be in its
// topic's log (see tlog): the messages after those its ring held when it
// joined are then the log's, its message k at log sequence k+off.
type queue[T any] struct {
	s     *Subscription[T]
	fn    func(context.Context, T) error
	conc  int32
	size  uint64     // logical capacity: the subscription's Buffer
	mask  uint64     // len(slots)-1; len(slots) is size rounded up to a power of 2
	slots []entry[T] // a slot is written under pmu and read under cmu
	buf   []entry[T] // the batch buffer, when conc == 1
	room  chan struct{}
	dead  atomic.Bool // the end began: running batches stop
	shut  atomic.Bool // no publisher can add any more

	// pmu is the publishers' lock: own, or, for a subscription with
	// concurrency 1 made for exactly one topic, the topic's qmu, which a
	// publish to that topic takes once for all such queues.
	pmu *sync.Mutex
	own sync.Mutex

	// Log mode, under both pmu and cmu: inLog says the queue is in lg, where
	// its message number k (in the numbering of tail and head) has log
	// sequence k+off; it may lag the log's tail by lim messages at most.
	// Publishers and the activation read these; they change only when the
	// queue joins or leaves the log.
	lg    *tlog[T]
	inLog bool
	off   uint64
	lim   uint64

	_      [64]byte
	tail   uint64 // next slot to fill; under pmu
	limit  uint64 // tail may grow to this without reading head; under pmu
	closed bool   // under pmu

	_     [64]byte
	ptail atomic.Uint64 // with conc 1: tail, published for the activation

	_     [64]byte
	state atomic.Int32 // with conc 1: 1 while an activation exists or is submitted

	_       [64]byte
	waiters atomic.Int32 // publishers waiting for room
	active  atomic.Int32 // activations submitted or running; with conc 1, running

	_    [64]byte
	cmu  sync.Mutex    // activations, and the end's purge
	head atomic.Uint64 // next slot to take; written under cmu
}

func newQueue[T any](s *Subscription[T], fn func(context.Context, T) error, conc, size int) *queue[T] {
	n := uint64(1) << bits.Len64(uint64(size-1))
	q := &queue[T]{
		s: s, fn: fn, conc: int32(conc), size: uint64(size), mask: n - 1,
		slots: make([]entry[T], n), room: make(chan struct{}, 1),
	}
	q.pmu = &q.own
	if conc == 1 {
		q.buf = make([]entry[T], min(size, maxBatch))
	}
	return q
}

// put appends to the ring, which has room and is not in the log. The caller
// holds pmu.
func (q *queue[T]) put(v T, hc *msgCtx, w *waiter) {
	if w != nil {
		w.add()
	}
	t := q.tail
	q.slots[t&q.mask] = entry[T]{v: v, hc: hc, w: w}
	q.tail = t + 1
	if q.conc == 1 {
		q.ptail.Store(t + 1)
	}
}

// full reports whether the ring has no room. The caller holds pmu.
func (q *queue[T]) full() bool {
	t := q.tail
	if t < q.limit {
		return false
	}
	q.limit = q.head.Load() + q.size
	return t >= q.limit
}

// held is what the activations hold beyond the messages in their handlers'
// hands: after the end, a message an activation took but has not started is
// dropped once its handler returns. Each activation has at most one message
// in a handler.
func (s *Subscription[T]) held() uint64 {
	if s.q == nil {
		return 0
	}
	d, a := s.q.depth(), int64(s.q.active.Load())
	return uint64(max(d-a, 0))
}

// depth is the number of messages queued or being handled: every message
// put in the ring is counted once as handled or removed when it leaves,
// after its outcome (failed, dropped) is counted, so that a subscription
// that finishes at depth 0 has counted everything. The counters only grow,
// and tail is read after them, so depth can only overcount, never miss a
// message in transit (maybeFinish relies on it).
func (q *queue[T]) depth() int64 {
	settled := q.s.handled.Load() + q.s.removed.Load()
	return int64(q.tailNow() - settled)
}

// tailNow reads tail under pmu: the slots before it are filled. Once shut,
// tail is final and needs no lock, so that an activation that runs while a
// publisher holds a shared pmu (the pool runs it inline once stopped) never
// waits for it.
func (q *queue[T]) tailNow() uint64 {
	if q.shut.Load() {
		return q.tail // written before shut, under pmu
	}
	q.pmu.Lock()
	t := q.tail
	if q.inLog {
		t = q.lg.tail - q.off
	}
	q.pmu.Unlock()
	return t
}

// added makes sure an activation will see the message just put (see
// wakeSerial and wake). The message was kept, which ends a run of drops (see
// kept).
func (q *queue[T]) added() {
	if q.conc == 1 {
		q.wakeSerial()
	} else {
		q.wake()
	}
	q.s.kept()
}

// wakeSerial starts the activation of a queue with concurrency 1 unless one
// exists. The caller has published the new message first (ptail, or the
// log's cursor): an activation that stops stores state before its last
// look, so one of the two sees the other.
func (q *queue[T]) wakeSerial() {
	if q.state.Load() == 0 && q.state.CompareAndSwap(0, 1) {
		q.s.b.pool.submit(q)
	}
}

// wake makes sure an activation will see the message just added: it starts
// one unless conc of them run already, and those will loop to it.
func (q *queue[T]) wake() {
	for {
		a := q.active.Load()
		if a >= q.conc {
			return
		}
		if q.active.CompareAndSwap(a, a+1) {
			q.s.b.pool.submit(q)
			return
		}
	}
}

// push offers v, whose handler context is hc, to a handler subscription
// under its policy; block makes it wait for room whatever the policy.
func (s *Subscription[T]) push(ctx context.Context, v T, hc *msgCtx, w *waiter, block bool) error {
	q := s.q
	q.pmu.Lock()
	q.leaveLog()
	if q.tryPut(v, hc, w) {
		q.pmu.Unlock()
		q.added()
		return nil
	}
	return s.pushSlow(ctx, v, hc, w, block)
}

// tryPush adds v if there is room at once, and counts nothing else.
func (s *Subscription[T]) tryPush(v T, hc *msgCtx, w *waiter) bool {
	q := s.q
	q.pmu.Lock()
	q.leaveLog()
	ok := q.tryPut(v, hc, w)
	q.pmu.Unlock()
	if ok {
		q.added()
	}
	return ok
}

// tryPut puts v in the ring if the ring is open and has room. The caller
// holds pmu and calls added once tryPut has put v.
func (q *queue[T]) tryPut(v T, hc *msgCtx, w *waiter) bool {
	if q.closed || q.full() {
		return false
	}
	q.put(v, hc, w)
	return true
}

// pushSlow handles a ring that is closed or full. The caller holds pmu;
// pushSlow releases it.
func (s *Subscription[T]) pushSlow(ctx context.Context, v T, hc *msgCtx, w *waiter, block bool) error {
	q := s.q
	if q.closed {
		// Ended after this publish loaded its topic's snapshot: the message
		// comes after the end and is not offered (as for channels).
		q.pmu.Unlock()
		return errEnded
	}
	drop := func(reason DropReason) {
		m := Message[T]{Value: v, CorrelationID: hc.id(), Topic: *hc.topic()}
		s.notify(&m, reason)
	}
	switch {
	case block || s.policy.kind == policyBlock:
		var tc <-chan time.Time
		if d := s.policy.maxWait; d > 0 && !block {
			t := getTimer(d)
			defer putTimer(t)
			tc = t.C
		}
		var (
			reason DropReason
			err    error
		)
		// waiters goes up before the room check; an activation stores head
		// before it reads waiters: one of the two sees the other.
		// The queue is out of the log (push saw to it), and stays out while
		// waiters is above zero: join refuses then.
		q.waiters.Add(1)
		for {
			if q.closed {
				reason = s.deadReason()
				break
			}
			if !q.full() {
				q.put(v, hc, w)
				more := !q.full()
				q.pmu.Unlock()
				if q.waiters.Add(-1) > 0 && more {
					q.signalRoom() // pass the room on to the next waiter
				}
				q.added()
				return nil
			}
			q.pmu.Unlock()
			select {
			case <-q.room:
			case <-s.done:
			case <-ctx.Done():
				reason, err = ReasonCanceled, ctx.Err()
			case <-tc:
				reason = ReasonTimeout
			}
			if reason != 0 && ended(s.done) {
				// The subscription ended too: the end decides (Close ends
				// the subscriptions before it cancels the handlers'
				// contexts, so a publish it overtook counts as a shutdown
				// drop, whichever the select saw first).
				reason, err = 0, nil
			}
			q.pmu.Lock()
			if reason != 0 {
				break
			}
		}
		q.pmu.Unlock()
		// Counted before waiters goes down: finish waits for waiters 0.
		s.dropped[reason].Add(1)
		if w != nil {
			w.add()
			w.done(&DropError{Subscriber: s.name, Reason: reason})
		}
		q.waiters.Add(-1)
		q.maybeFinish()
		drop(reason)
		return err
	case s.policy.kind == policyDropOldest:
		// The eviction and the put happen together under cmu, so that an
		// activation never takes a slot that the eviction empties.
		q.cmu.Lock()
		var old entry[T]
		evicted := false
		if h := q.head.Load(); q.tail-h >= q.size {
			evicted = true
			i := h & q.mask
			old, q.slots[i] = q.slots[i], entry[T]{}
			q.head.Store(h + 1)
			s.dropped[ReasonEvicted].Add(1)
			s.removed.Add(1)
		}
		q.put(v, hc, w)
		q.cmu.Unlock()
		q.pmu.Unlock()
		q.added()
		if evicted {
			s.notifyEntry(&old, ReasonEvicted)
		}
		return nil
	}
	// Counted under pmu: once the end has closed the ring (under pmu), it
	// may finish and fold the counters at any moment.
	disconnect := s.countFull()
	q.pmu.Unlock()
	if w != nil {
		w.add()
		w.done(&DropError{Subscriber: s.name, Reason: ReasonFull})
	}
	drop(ReasonFull)
	if disconnect {
		s.end(ReasonDisconnect, ErrDisconnected)
	}
	return nil
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

func (q *queue[T]) signalRoom() {
	select {
	case q.room <- struct{}{}:
	default:
	}
}

// take moves up to len(buf) untaken messages before tail into buf. The
// caller holds cmu and knows the slots before tail to be filled: it read
// tail under pmu, or loaded ptail.
func (q *queue[T]) take(buf []entry[T], tail uint64) []entry[T] {
	h := q.head.Load()
	if tail <= h {
		// Nothing, or tail was read before the end or a DropOldest
		// eviction moved head past it.
		return buf[:0]
	}
	k := int(min(tail-h, uint64(len(buf))))
	for i := range k {
		j := (h + uint64(i)) & q.mask
		buf[i], q.slots[j] = q.slots[j], entry[T]{}
	}
	q.head.Store(h + uint64(k))
	return buf[:k]
}

// maybeFinish completes the subscription's end once nothing is queued or
// running and no publisher waits. Each party calls it after its own last
// update, so the last one of them sees all three at zero.
func (q *queue[T]) maybeFinish() {
	if q.shut.Load() && q.depth() == 0 && q.waiters.Load() == 0 {
		q.s.finish()
	}
}

// lingerRounds bounds how long an activation waits for more messages before
// it gives its worker back: each round yields the processor, so the wait
// gives way to any runnable goroutine. A publisher that keeps up then finds
// the activation still running and pays for no wake-up.
const lingerRounds = 1

// run is one activation: it handles messages until none is left.
func (q *queue[T]) run() {
	if q.conc == 1 {
		q.runSerial()
		return
	}
	var one [1]entry[T]
	idle := 0
	for {
		t := q.tailNow()
		q.cmu.Lock()
		batch := q.take(one[:], t)
		q.cmu.Unlock()
		if len(batch) == 0 {
			if idle < lingerRounds && !q.dead.Load() {
				idle++
				runtime.Gosched()
				continue
			}
			// Stop, then look again: a publisher that saw this activation
			// still active did not start another.
			q.active.Add(-1)
			if q.tailNow() == q.head.Load() || q.dead.Load() {
				q.maybeFinish()
				return
			}
			if a := q.active.Add(1); a > q.conc {
				q.active.Add(-1) // another activation took over
				return
			}
			continue
		}
		idle = 0
		q.handle(batch)
	}
}

// runSerial is the activation of a queue with concurrency 1: it takes
// messages in batches, from its ring or from the log, until there are none,
// lingering a little first; then it stores state 0 and looks once more, so
// that a publisher that came meanwhile either finds state 0 and starts
// another activation, or is seen here.
func (q *queue[T]) runSerial() {
	q.active.Add(1)
	idle := 0
	for !q.dead.Load() {
		q.cmu.Lock()
		if q.dead.Load() {
			// The end's purge (under cmu, after dead) takes the ring.
			q.cmu.Unlock()
			break
		}
		batch := q.takeNext()
		q.cmu.Unlock()
		if len(batch) > 0 {
			idle = 0
			q.handle(batch)
			continue
		}
		if idle < lingerRounds {
			idle++
			runtime.Gosched()
			continue
		}
		q.state.Store(0)
		q.cmu.Lock()
		more := q.ready()
		q.cmu.Unlock()
		if !more || !q.state.CompareAndSwap(0, 1) {
			break // nothing, or a publisher started another activation
		}
		idle = 0
	}
	q.active.Add(-1)
	q.maybeFinish()
}

// takeNext takes the next batch of a queue with concurrency 1 into buf: from
// the ring, where the messages before ptail are, and then, in log mode, from
// the log. The caller holds cmu.
func (q *queue[T]) takeNext() []entry[T] {
	pt, h := q.ptail.Load(), q.head.Load()
	if !q.inLog || h < pt {
		return q.take(q.buf, pt)
	}
	lg := q.lg
	from := h + q.off
	k := min(lg.cursor.Load()-from, uint64(len(q.buf)))
	slots, mask, buf := lg.slots, lg.mask, q.buf[:k]
	for i := range buf {
		e := &slots[(from+uint64(i))&mask]
		buf[i] = entry[T]{v: e.v, hc: e.hc}
		e.taken()
	}
	q.head.Store(h + k)
	return buf
}

// ready reports whether a queue with concurrency 1 holds messages not taken.
// The caller holds cmu.
func (q *queue[T]) ready() bool {
	h := q.head.Load()
	if h < q.ptail.Load() {
		return true // in the ring
	}
	return q.inLog && q.lg.cursor.Load() != h+q.off
}

// handle runs the handler on each message of batch, or drops what is left
// of it once the end has begun.
func (q *queue[T]) handle(batch []entry[T]) {
	if q.waiters.Load() > 0 {
		q.signalRoom()
	}
	for i := 0; i < len(batch); {
		i = q.handleFrom(batch, i)
	}
	q.maybeFinish()
}

// handleFrom handles batch[i:] under one deferred recover, and returns where
// it stopped: the end of the batch, or just after a handler that panicked,
// whose message it settled with a PanicError.
func (q *queue[T]) handleFrom(batch []entry[T], i int) (next int) {
	defer func() {
		if r := recover(); r != nil {
			q.settle(&batch[next], &PanicError{Value: r, Stack: debug.Stack()})
			next++
		}
	}()
	for next = i; next < len(batch); next++ {
		e := &batch[next]
		if q.dead.Load() {
			q.dropRest(batch[next:])
			return len(batch)
		}
		var ctx context.Context = e.hc
		if e.w != nil {
			ctx = &syncCtx{msgCtx: e.hc, sub: &q.s.core}
		}
		q.settle(e, q.fn(ctx, e.v))
	}
	return next
}

// settle counts a handled message, one by one, so that a message is never
// both handled and queued in Stats, and tells a PublishSync waiter.
func (q *queue[T]) settle(e *entry[T], err error) {
	s := q.s
	if err != nil {
		s.failed.Add(1)
	}
	s.handled.Add(1)
	if e.w != nil {
		e.w.done(err)
	}
	*e = entry[T]{}
}

// dropRest drops the messages of a batch that the end overtook.
func (q *queue[T]) dropRest(rest []entry[T]) {
	s := q.s
	r := s.deadReason()
	s.dropped[r].Add(uint64(len(rest)))
	s.removed.Add(uint64(len(rest)))
	for j := range rest {
		s.notifyEntry(&rest[j], r)
	}
	clear(rest)
}

// end ends a handler subscription: no publisher can add after it, and what
// is queued is dropped with reason.
func (q *queue[T]) end(reason DropReason) {
	s := q.s
	q.dead.Store(true)
	close(s.done) // wakes waiting publishers
	q.pmu.Lock()
	q.leaveLog()
	q.closed = true
	t := q.tail // final: no publisher adds after closed
	q.pmu.Unlock()
	q.shut.Store(true)
	q.cmu.Lock()
	left := q.take(make([]entry[T], t-q.head.Load()), t)
	n := len(left)
	s.dropped[reason].Add(uint64(n))
	s.removed.Add(uint64(n))
	q.cmu.Unlock()
	for i := range left {
		s.notifyEntry(&left[i], reason)
	}
	q.maybeFinish()
}

// PanicError is the error of a handler call that panicked. The bus recovers
// the panic so that the worker goes on with the next message.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the goroutine's stack at the panic
}

// Error gives the panic value; Stack holds the stack.
func (e *PanicError) Error() string { return fmt.Sprintf("bus: handler panicked: %v", e.Value) }

// runner is a queue as the worker pool sees it.
type runner interface{ run() }

// pool runs queue activations on a set of worker goroutines that grows on
// demand. A worker with nothing to do waits on the run queue, first yielding
// the processor a few times, then parked. A submit hands its activation to a
// waiting worker if it can claim one, and otherwise starts a worker for it, so
// that an activation never waits behind a running handler (a slow handler
// never holds up another subscription). Workers stay until the bus closes;
// there are about as many as the activations that ran at once (a submit that
// comes while a worker is between two activations starts one more).
type pool struct {
	runq    chan runner
	quit    chan struct{}
	idle    atomic.Int32 // waiting workers that no submit has claimed
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

// runqSize is the run queue's buffer: enough that a submit that claimed a
// worker rarely waits to hand over.
const runqSize = 256

// idleRounds is how many times a worker with nothing to do yields before it
// parks: a submit that finds it still there costs no wake-up.
const idleRounds = 4

func (p *pool) init() {
	p.runq = make(chan runner, runqSize)
	p.quit = make(chan struct{})
}

func (p *pool) submit(r runner) {
	for {
		n := p.idle.Load()
		if n <= 0 {
			break
		}
		if p.idle.CompareAndSwap(n, n-1) {
			// Every claim stands for a waiting worker that will take one
			// activation from runq (or drain it, if the bus closes).
			p.runq <- r
			select {
			case <-p.quit:
				p.drain() // the claimed worker may have left already
			default:
			}
			return
		}
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		r.run() // the queue has ended: this only settles its accounting
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.worker(r)
}

func (p *pool) worker(r runner) {
	defer p.wg.Done()
	for r != nil {
		r.run()
		r = p.next()
	}
}

// next waits for an activation; nil when the bus has closed.
func (p *pool) next() runner {
	p.idle.Add(1)
	for range idleRounds {
		select {
		case r := <-p.runq:
			return r
		default:
			runtime.Gosched()
		}
	}
	select {
	case r := <-p.runq:
		return r
	case <-p.quit:
		p.drain()
		return nil
	}
}

// drain runs what the run queue holds, once the bus has closed: the
// activations only settle their accounting then.
func (p *pool) drain() {
	for {
		select {
		case r := <-p.runq:
			r.run()
		default:
			return
		}
	}
}

func (p *pool) stop(wait bool) {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	close(p.quit)
	if wait {
		p.wg.Wait()
	}
}
