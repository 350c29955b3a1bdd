package bus

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// core is the type-independent state of a subscription: identity, counters
// and the end of its life.
type core struct {
	b        *Bus
	id       uint64
	name     string
	pattern  string
	group    string
	wildcard bool
	policy   Policy
	buffer   int
	conc     int           // handler concurrency; 0 for channel subscriptions
	topics   []topicImpl   // guarded by b.mu
	stop     func() bool   // stops the ctx watch; guarded by b.mu
	quiet    chan struct{} // an in-flight sender left after the end began
	done     chan struct{} // closed when the end begins: wakes blocked senders
	finished chan struct{} // closed when the end is complete
	endOnce  sync.Once
	finOnce  sync.Once
	reason   atomic.Uint32 // the DropReason of the end, set before done closes
	err      error         // why it ended, set before done closes

	// The counters, on their own cache lines: publishers write sent and
	// guard, the subscription's worker writes handled.
	_       [64]byte
	sent    atomic.Uint64 // messages put in the queue
	guard   atomic.Int64  // senders inside the channel, plus closedBit once ending
	consec  atomic.Int64  // consecutive drops, for DisconnectAfter
	_       [64]byte
	handled atomic.Uint64 // handler calls that returned
	failed  atomic.Uint64 // of which returned an error or panicked
	_       [64]byte
	removed atomic.Uint64 // messages taken out of the queue undelivered
	dropped [numDropReasons]atomic.Uint64
}

func (c *core) info() *core { return c }

// closedBit marks the guard of a channel subscription that is ending: no new
// sender may enter, and the channel closes once the senders inside leave.
const closedBit = 1 << 40

func (c *core) enter() bool {
	if c.guard.Add(1) >= closedBit {
		c.exit()
		return false
	}
	return true
}

func (c *core) exit() {
	if c.guard.Add(-1) == closedBit {
		select {
		case c.quiet <- struct{}{}:
		default:
		}
	}
}

func (c *core) deadReason() DropReason { return DropReason(c.reason.Load()) }

// finish completes the end: the counters are final, so they are folded into
// the bus's retired stats before Done is closed.
func (c *core) finish() {
	c.finOnce.Do(func() {
		c.b.retire(c)
		close(c.finished)
	})
}

// Subscription is one subscriber of a topic or pattern. For a channel
// subscription (Subscribe), C receives the messages and is closed exactly
// once, by the bus, when the subscription ends. For a handler subscription
// (Handle), C is nil.
type Subscription[T any] struct {
	core
	// C receives the messages of a channel subscription.
	C <-chan Message[T]

	ch     chan Message[T]
	q      *queue[T]
	key    func(T) string
	onDrop func(Message[T], DropReason)
}

func newSub[T any](cfg *subConfig, fn func(context.Context, T) error, key func(T) string, onDrop func(Message[T], DropReason)) *Subscription[T] {
	buf := cfg.buffer
	if buf == 0 {
		buf = DefaultBuffer
	}
	s := &Subscription[T]{key: key, onDrop: onDrop}
	s.core = core{
		group:    cfg.group,
		policy:   cfg.policy,
		buffer:   buf,
		quiet:    make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	if fn == nil {
		s.ch = make(chan Message[T], buf)
		s.C = s.ch
		return s
	}
	conc := max(cfg.concurrency, 1)
	s.conc = conc
	s.q = &queue[T]{s: s, fn: fn, conc: conc, ring: make([]entry[T], buf), room: make(chan struct{}, 1)}
	if conc == 1 {
		s.q.buf = make([]entry[T], min(buf, maxBatch))
	}
	return s
}

// Name returns the subscription's name, as used in stats and metrics.
func (s *Subscription[T]) Name() string { return s.name }

// Pattern returns the topic name or pattern the subscription was made for.
func (s *Subscription[T]) Pattern() string { return s.pattern }

// Group returns the subscription's queue group, or "".
func (s *Subscription[T]) Group() string { return s.group }

// Close ends the subscription: what is still queued is dropped with reason
// ReasonUnsubscribed, and C is closed. Close does not wait for a running
// handler to return; Done does. Closing an ended subscription does nothing.
func (s *Subscription[T]) Close() { s.end(ReasonUnsubscribed, ErrUnsubscribed) }

// Done returns a channel that is closed when the subscription has ended
// completely: C is closed, or the last handler call has returned.
func (s *Subscription[T]) Done() <-chan struct{} { return s.finished }

// Err returns nil while the subscription is active, and then why it ended:
// the context's error, ErrUnsubscribed, ErrDisconnected or ErrClosed.
func (s *Subscription[T]) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

func (s *Subscription[T]) queued() uint64 {
	if s.q == nil {
		return uint64(len(s.ch))
	}
	sent, settled := s.sent.Load(), s.handled.Load()+s.removed.Load()
	if settled > sent {
		return 0
	}
	return sent - settled
}

// end ends the subscription once: it leaves its topics, wakes blocked
// senders, drops what is queued with reason, and closes the channel.
func (s *Subscription[T]) end(reason DropReason, err error) {
	s.endOnce.Do(func() {
		s.reason.Store(uint32(reason))
		s.err = err
		s.b.remove(s)
		if h := s.b.hooks.Ended; h != nil {
			h(EndEvent{Pattern: s.pattern, Subscriber: s.name, Err: err})
		}
		if s.q == nil {
			s.guard.Add(closedBit)
			close(s.done)
			// Empty the channel until the senders inside have left: a
			// sender blocked on a full channel gets room this way.
			for {
				s.purge(reason)
				if s.guard.Load() == closedBit {
					break
				}
				select {
				case m := <-s.ch:
					s.removed.Add(1)
					s.drop(&m, reason)
				case <-s.quiet:
				}
			}
			s.purge(reason)
			close(s.ch)
			s.finish()
			return
		}
		q := s.q
		q.dead.Store(true)
		close(s.done)
		q.mu.Lock()
		q.closed = true
		left := make([]entry[T], 0, q.n)
		for q.n > 0 {
			left = append(left, q.pop())
		}
		// Counted under q.mu, before a racing activation can finish.
		s.removed.Add(uint64(len(left)))
		s.dropped[reason].Add(uint64(len(left)))
		idle := q.running == 0 && q.waiters == 0
		q.mu.Unlock()
		for i := range left {
			s.notifyEntry(&left[i], reason)
		}
		if idle {
			s.finish()
		}
	})
}

// purge takes what the channel holds and counts it as dropped.
func (s *Subscription[T]) purge(reason DropReason) {
	for {
		select {
		case m := <-s.ch:
			s.removed.Add(1)
			s.drop(&m, reason)
		default:
			return
		}
	}
}

// drop counts m as dropped for reason and tells OnDrop.
func (s *Subscription[T]) drop(m *Message[T], reason DropReason) {
	s.dropped[reason].Add(1)
	s.notify(m, reason)
}

// notify tells OnDrop and the bus's Dropped hook about a counted drop.
func (s *Subscription[T]) notify(m *Message[T], reason DropReason) {
	if s.onDrop != nil {
		s.onDrop(*m, reason)
	}
	if h := s.b.hooks.Dropped; h != nil {
		h(DropEvent{Topic: m.Topic, Subscriber: s.name, Pattern: s.pattern, Reason: reason, CorrelationID: m.CorrelationID})
	}
}

// notifyEntry tells a PublishSync waiter, OnDrop and the hooks about a
// queued entry that was counted as dropped.
func (s *Subscription[T]) notifyEntry(e *entry[T], reason DropReason) {
	if e.w != nil {
		e.w.done(&DropError{Subscriber: s.name, Reason: reason})
	}
	m := Message[T]{Value: e.v, CorrelationID: e.hc.id, Topic: e.hc.topic}
	s.notify(&m, reason)
}

// DropError is what PublishSync reports for a message that a handler
// subscription dropped instead of handling.
type DropError struct {
	Subscriber string
	Reason     DropReason
}

func (e *DropError) Error() string {
	return fmt.Sprintf("bus: message dropped for %s: %s", e.Subscriber, e.Reason)
}

func (s *Subscription[T]) kept() {
	if s.policy.kind == policyDisconnect && s.consec.Load() != 0 {
		s.consec.Store(0)
	}
}

// dropFull counts a message that found the queue full, and reports whether
// the policy now disconnects the subscription.
func (s *Subscription[T]) dropFull(m *Message[T]) bool {
	s.drop(m, ReasonFull)
	return s.policy.kind == policyDisconnect && s.consec.Add(1) >= int64(s.policy.after)
}

// deliver offers m to the subscription under its policy; block makes it wait
// for room whatever the policy (PublishSync). w, when set, is told when a
// handler has handled m.
func (s *Subscription[T]) deliver(ctx context.Context, m *Message[T], hc *msgCtx, w *waiter, block bool) error {
	if s.q != nil {
		return s.push(ctx, m, hc, w, block)
	}
	if !s.enter() {
		// The subscription ended after this publish loaded its topic's
		// snapshot: the message comes after the end and is not offered.
		return nil
	}
	select {
	case s.ch <- *m:
		s.sent.Add(1)
		s.exit()
		s.kept()
		return nil
	default:
	}
	return s.sendSlow(ctx, m, block)
}

// try puts m in the queue if there is room at once, and counts nothing else.
func (s *Subscription[T]) try(m *Message[T], hc *msgCtx, w *waiter) bool {
	if s.q != nil {
		q := s.q
		q.mu.Lock()
		if q.closed || q.n == len(q.ring) {
			q.mu.Unlock()
			return false
		}
		act := s.enqueue(m, hc, w)
		q.mu.Unlock()
		if act {
			s.b.pool.submit(q)
		}
		s.kept()
		return true
	}
	if !s.enter() {
		return false
	}
	select {
	case s.ch <- *m:
		s.sent.Add(1)
		s.exit()
		s.kept()
		return true
	default:
		s.exit()
		return false
	}
}

var timerPool sync.Pool

func getTimer(d time.Duration) *time.Timer {
	if t, ok := timerPool.Get().(*time.Timer); ok {
		t.Reset(d)
		return t
	}
	return time.NewTimer(d)
}

func putTimer(t *time.Timer) {
	t.Stop()
	timerPool.Put(t)
}

// sendSlow is the channel path when the channel is full. The caller has
// entered the guard; sendSlow leaves it.
func (s *Subscription[T]) sendSlow(ctx context.Context, m *Message[T], block bool) error {
	var (
		reason DropReason
		err    error
	)
	switch {
	case block || s.policy.kind == policyBlock:
		// No need to watch the subscription's end or the bus's: end empties
		// the channel until every sender inside the guard has left.
		d := s.policy.maxWait
		if block {
			d = 0
		}
		cancel := ctx.Done()
		if d == 0 && cancel == nil {
			s.ch <- *m
			s.sent.Add(1)
			s.exit()
			s.kept()
			return nil
		}
		var tc <-chan time.Time
		if d > 0 {
			t := getTimer(d)
			defer putTimer(t)
			tc = t.C
		}
		select {
		case s.ch <- *m:
			s.sent.Add(1)
			s.exit()
			s.kept()
			return nil
		case <-cancel:
			reason, err = ReasonCanceled, ctx.Err()
		case <-tc:
			reason = ReasonTimeout
		}
		s.drop(m, reason) // inside the guard, so that end sees final counters
		s.exit()
		return err
	case s.policy.kind == policyDropOldest:
		for range 4 {
			select {
			case old := <-s.ch:
				s.removed.Add(1)
				s.drop(&old, ReasonEvicted)
			default:
			}
			select {
			case s.ch <- *m:
				s.sent.Add(1)
				s.exit()
				return nil
			default:
			}
		}
	}
	disconnect := s.dropFull(m)
	s.exit()
	if disconnect {
		s.end(ReasonDisconnect, ErrDisconnected)
	}
	return nil
}

// maxBatch bounds how many messages a worker takes from a queue at once.
const maxBatch = 64

type entry[T any] struct {
	v  T
	hc *msgCtx
	w  *waiter
}

// queue is a handler subscription's bounded ring. The bus's worker pool runs
// it while it holds messages: at most conc activations at once, each taking
// messages in batches, so that a handler costs no parked goroutine and a
// busy one is woken without a channel operation per message.
type queue[T any] struct {
	s    *Subscription[T]
	fn   func(context.Context, T) error
	conc int
	buf  []entry[T] // batch buffer, when conc == 1
	room chan struct{}
	dead atomic.Bool // the subscription ended: running batches stop

	mu      sync.Mutex
	ring    []entry[T]
	head, n int
	running int // activations submitted or running
	waiters int // publishers waiting for room
	closed  bool
}

func (q *queue[T]) pop() entry[T] {
	e := q.ring[q.head]
	q.ring[q.head] = entry[T]{}
	q.head++
	if q.head == len(q.ring) {
		q.head = 0
	}
	q.n--
	return e
}

// enqueue adds m to the ring, which has room. It reports whether the caller
// must submit an activation. The caller holds q.mu.
func (s *Subscription[T]) enqueue(m *Message[T], hc *msgCtx, w *waiter) bool {
	q := s.q
	i := q.head + q.n
	if i >= len(q.ring) {
		i -= len(q.ring)
	}
	if w != nil {
		w.add()
	}
	q.ring[i] = entry[T]{v: m.Value, hc: hc, w: w}
	q.n++
	s.sent.Add(1)
	if q.waiters > 0 && q.n < len(q.ring) {
		select {
		case q.room <- struct{}{}:
		default:
		}
	}
	if q.running < q.conc {
		q.running++
		return true
	}
	return false
}

func (s *Subscription[T]) push(ctx context.Context, m *Message[T], hc *msgCtx, w *waiter, block bool) error {
	q := s.q
	q.mu.Lock()
	if !q.closed && q.n < len(q.ring) {
		act := s.enqueue(m, hc, w)
		q.mu.Unlock()
		if act {
			s.b.pool.submit(q)
		}
		s.kept()
		return nil
	}
	return s.pushSlow(ctx, m, hc, w, block)
}

// pushSlow is the handler path when the ring is full or closed. The caller
// holds q.mu; pushSlow releases it.
func (s *Subscription[T]) pushSlow(ctx context.Context, m *Message[T], hc *msgCtx, w *waiter, block bool) error {
	q := s.q
	if q.closed {
		// Ended before this publish reached it: not offered (see deliver).
		q.mu.Unlock()
		return nil
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
		for reason == 0 {
			if q.closed {
				reason = s.deadReason()
				break
			}
			if q.n < len(q.ring) {
				act := s.enqueue(m, hc, w)
				q.mu.Unlock()
				if act {
					s.b.pool.submit(q)
				}
				s.kept()
				return nil
			}
			q.waiters++
			q.mu.Unlock()
			select {
			case <-q.room:
			case <-s.done:
			case <-ctx.Done():
				reason, err = ReasonCanceled, ctx.Err()
			case <-s.b.killCtx.Done():
				reason, err = ReasonShutdown, ErrClosed
			case <-tc:
				reason = ReasonTimeout
			}
			q.mu.Lock()
			q.waiters--
		}
		// Counted under q.mu: finish waits for the last waiter, so the
		// count lands before the counters are folded.
		s.dropped[reason].Add(1)
		last := q.closed && q.running == 0 && q.waiters == 0
		q.mu.Unlock()
		if w != nil {
			w.add()
			w.done(&DropError{Subscriber: s.name, Reason: reason})
		}
		s.notify(m, reason)
		if last {
			s.finish()
		}
		return err
	case s.policy.kind == policyDropOldest:
		old := q.pop()
		s.removed.Add(1)
		s.dropped[ReasonEvicted].Add(1)
		act := s.enqueue(m, hc, w)
		q.mu.Unlock()
		if act {
			s.b.pool.submit(q)
		}
		s.notifyEntry(&old, ReasonEvicted)
		return nil
	}
	q.mu.Unlock()
	if w != nil {
		w.add()
		w.done(&DropError{Subscriber: s.name, Reason: ReasonFull})
	}
	if s.dropFull(m) {
		s.end(ReasonDisconnect, ErrDisconnected)
	}
	return nil
}

// run is one activation: it handles batches until the ring is empty.
func (q *queue[T]) run() {
	s := q.s
	var one [1]entry[T]
	for {
		q.mu.Lock()
		if q.n == 0 || q.closed {
			q.running--
			last := q.closed && q.running == 0 && q.waiters == 0
			q.mu.Unlock()
			if last {
				s.finish()
			}
			return
		}
		batch := one[:]
		if q.buf != nil {
			batch = q.buf[:min(q.n, len(q.buf))]
		}
		for i := range batch {
			batch[i] = q.pop()
		}
		if q.waiters > 0 {
			select {
			case q.room <- struct{}{}:
			default:
			}
		}
		q.mu.Unlock()
		for i := range batch {
			e := &batch[i]
			if q.dead.Load() {
				for j := i; j < len(batch); j++ {
					s.removed.Add(1)
					s.dropped[s.deadReason()].Add(1)
					s.notifyEntry(&batch[j], s.deadReason())
				}
				clear(batch[i:])
				break
			}
			err := q.call(e)
			s.handled.Add(1)
			if err != nil {
				s.failed.Add(1)
			}
			if e.w != nil {
				e.w.done(err)
			}
			*e = entry[T]{}
		}
	}
}

func (q *queue[T]) call(e *entry[T]) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	var ctx context.Context = e.hc
	if e.w != nil {
		ctx = &syncCtx{msgCtx: e.hc, sub: &q.s.core}
	}
	return q.fn(ctx, e.v)
}

// PanicError is the error of a handler call that panicked. The bus recovers
// the panic so that the worker goes on with the next message.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("bus: handler panicked: %v", e.Value) }

// runner is a queue as the worker pool sees it.
type runner interface{ run() }

// pool runs queue activations. An activation is handed to a parked worker if
// one waits; otherwise a new worker starts, so that a slow handler never
// holds up another subscription. Workers park until the bus closes; there are
// never more than the activations that ran at once.
type pool struct {
	runq    chan runner
	quit    chan struct{}
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

func (p *pool) init() {
	p.runq = make(chan runner)
	p.quit = make(chan struct{})
}

func (p *pool) submit(r runner) {
	select {
	case p.runq <- r:
		return
	default:
	}
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		r.run() // the queue is closed: this only settles its accounting
		return
	}
	p.wg.Add(1)
	p.mu.Unlock()
	go p.worker(r)
}

func (p *pool) worker(r runner) {
	defer p.wg.Done()
	for {
		r.run()
		select {
		case r = <-p.runq:
		case <-p.quit:
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
