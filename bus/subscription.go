package bus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// core is the type-independent state of a subscription: identity, counters
// and the end of its life.
type core struct {
	b        *Bus
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
	waits  bool // a channel subscription with policy Block and no maximum wait
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
		s.waits = cfg.policy.kind == policyBlock && cfg.policy.maxWait == 0
		return s
	}
	conc := max(cfg.concurrency, 1)
	s.conc = conc
	s.q = newQueue(s, fn, conc, buf)
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
	return uint64(max(s.q.depth(), 0))
}

// end ends the subscription once: it leaves its topics, wakes blocked
// senders, drops what is queued with reason, and closes the channel.
func (s *Subscription[T]) end(reason DropReason, err error) {
	select {
	case <-s.done:
		return // ending already, perhaps on this goroutine (OnDrop calling Close)
	default:
	}
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
		s.q.end(reason)
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
	m := Message[T]{Value: e.v, CorrelationID: e.hc.id(), Topic: *e.hc.topic()}
	s.notify(&m, reason)
}

// DropError is what PublishSync reports for a message that a handler
// subscription dropped instead of handling.
type DropError struct {
	Subscriber string
	Reason     DropReason
}

// Error names the subscriber and the reason.
func (e *DropError) Error() string {
	return fmt.Sprintf("bus: message dropped for %s: %s", e.Subscriber, e.Reason)
}

func (s *Subscription[T]) kept() {
	if s.policy.kind == policyDisconnect && s.consec.Load() != 0 {
		s.consec.Store(0)
	}
}

// notifyEvicted tells OnDrop about messages that DropOldest evicted.
func (s *Subscription[T]) notifyEvicted(ms []Message[T]) {
	for i := range ms {
		s.notify(&ms[i], ReasonEvicted)
	}
}

// countFull counts a message that found the queue full, and reports whether
// the policy now disconnects the subscription.
func (s *Subscription[T]) countFull() bool {
	s.dropped[ReasonFull].Add(1)
	return s.policy.kind == policyDisconnect && s.consec.Add(1) >= int64(s.policy.after)
}

// deliver offers m to the subscription under its policy; block makes it wait
// for room whatever the policy (PublishSync). w, when set, is told when a
// handler has handled m.
func (s *Subscription[T]) deliver(ctx context.Context, m *Message[T], hc *msgCtx, w *waiter, block bool) error {
	if s.q != nil {
		return s.push(ctx, m.Value, hc, w, block)
	}
	if !s.enter() {
		// The subscription ended after this publish loaded its topic's
		// snapshot: the message comes after the end and is not offered.
		return errEnded
	}
	if s.sendNow(m) {
		return nil
	}
	return s.sendSlow(ctx, m, block)
}

// sendNow puts m in the channel if there is room at once; then it leaves the
// guard, which the caller entered. When there is no room the caller is still
// inside the guard.
func (s *Subscription[T]) sendNow(m *Message[T]) bool {
	select {
	case s.ch <- *m:
		s.sent.Add(1)
		s.exit()
		s.kept()
		return true
	default:
		return false
	}
}

// sendWait puts m in the channel, waiting for room as long as it takes, and
// leaves the guard, which the caller entered. Waiting cannot hang the end of
// the subscription: end empties the channel until every sender inside the
// guard has left.
func (s *Subscription[T]) sendWait(m *Message[T]) {
	s.ch <- *m
	s.sent.Add(1)
	s.exit()
	s.kept()
}

// try puts m in the queue if there is room at once, and counts nothing else.
func (s *Subscription[T]) try(m *Message[T], hc *msgCtx, w *waiter) bool {
	if s.q != nil {
		return s.tryPush(m.Value, hc, w)
	}
	if !s.enter() {
		return false
	}
	if s.sendNow(m) {
		return true
	}
	s.exit()
	return false
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
		reason  DropReason
		err     error
		evicted [4]Message[T] // told to OnDrop once outside the guard
		n       int
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
			s.sendWait(m)
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
		if ended(s.done) {
			// The subscription ended too: the end decides, as for handler
			// subscriptions. It empties the channel until this sender has
			// left the guard, so the send completes, and the end counts the
			// message as its own drop.
			s.ch <- *m
			s.sent.Add(1)
			s.exit()
			return nil
		}
		s.dropped[reason].Add(1) // inside the guard, so that end sees final counters
		s.exit()
		s.notify(m, reason) // outside it: OnDrop may end the subscription
		return err
	case s.policy.kind == policyDropOldest:
		for range 4 {
			select {
			case evicted[n] = <-s.ch:
				s.removed.Add(1)
				s.dropped[ReasonEvicted].Add(1)
				n++
			default:
			}
			select {
			case s.ch <- *m:
				s.sent.Add(1)
				s.exit()
				s.notifyEvicted(evicted[:n])
				return nil
			default:
			}
		}
	}
	disconnect := s.countFull()
	s.exit()
	s.notifyEvicted(evicted[:n])
	s.notify(m, ReasonFull)
	if disconnect {
		s.end(ReasonDisconnect, ErrDisconnected)
	}
	return nil
}
