package bus

import (
	"context"
	"fmt"
)

// Subscription is one subscriber of a topic or pattern. For a channel
// subscription (Subscribe), C receives the messages and is closed exactly
// once, by the bus, when the subscription ends. For a handler subscription
// (Handle), C is nil.
type Subscription[T any] struct {
	core
	// C receives the messages of a channel subscription.
	C <-chan Message[T]

	sink   sink[T]
	key    func(T) string
	onDrop func(Message[T], DropReason)
}

// home is what a subscription uses of its bus.
type home struct {
	reg   registry
	hooks *Hooks
	pool  *pool
	work  *activity
}

// newSub makes a subscription with cfg: a channel subscription when fn is
// nil, else a handler subscription.
func newSub[T any](h home, cfg *subConfig, fn func(context.Context, T) error, key func(T) string, onDrop func(Message[T], DropReason)) *Subscription[T] {
	s := &Subscription[T]{key: key, onDrop: onDrop}
	s.core = core{
		group:    cfg.group,
		policy:   cfg.policy,
		buffer:   cfg.buffer,
		reg:      h.reg,
		hooks:    h.hooks,
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	if s.buffer == 0 {
		s.buffer = DefaultBuffer
	}
	if fn == nil {
		ch := make(chan Message[T], s.buffer)
		s.C = ch
		s.sink = &chanSink[T]{ch: ch, c: &s.counters}
		return s
	}
	s.conc = max(cfg.concurrency, 1)
	s.sink = newQueue(&s.core, fn, h.pool, h.work, s.dropped1)
	return s
}

// Name returns the subscription's name, as used in stats and metrics.
func (s *Subscription[T]) Name() string { return s.name }

// Pattern returns the topic name or pattern the subscription was made for.
func (s *Subscription[T]) Pattern() string { return s.pattern }

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
	if ended(s.done) {
		return s.err
	}
	return nil
}

func (s *Subscription[T]) queued() uint64 { return s.sink.queued() }
func (s *Subscription[T]) held() uint64   { return s.sink.held() }

// end ends the subscription once: it wakes waiting publishers, leaves its
// topics, closes the gate, drops what is queued with reason, closes the
// channel, and finishes once no handler runs.
func (s *Subscription[T]) end(reason DropReason, err error) {
	if ended(s.done) {
		return // ending already, perhaps on this goroutine (OnDrop calling Close)
	}
	s.endOnce.Do(func() {
		s.reason.Store(uint32(reason))
		s.err = err
		s.sink.halt()
		close(s.done)
		s.reg.remove(s)
		if h := s.hooks.Ended; h != nil {
			h(EndEvent{Pattern: s.pattern, Subscriber: s.name, Err: err})
		}
		s.gate.Lock()
		s.closed = true
		s.gate.Unlock()
		left := s.sink.shut(reason)
		for _, d := range left {
			s.dropped1(d.msg, d.w, reason)
		}
		if s.sink.idle() {
			s.finish()
		}
	})
}

// dropped1 tells a PublishSync waiter, OnDrop and the bus's Dropped hook
// about one message dropped for this subscription; it was counted already.
func (s *Subscription[T]) dropped1(m Message[T], w *waiter, reason DropReason) {
	if w != nil {
		w.done(&DropError{Subscriber: s.name, Reason: reason})
	}
	if s.onDrop != nil {
		s.onDrop(m, reason)
	}
	if h := s.hooks.Dropped; h != nil {
		h(DropEvent{Topic: m.Topic, Subscriber: s.name, Pattern: s.pattern, Reason: reason, CorrelationID: m.CorrelationID})
	}
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
