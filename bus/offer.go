package bus

import (
	"context"
	"errors"
	"time"
)

// mode is how a publish offers a message to one subscription.
type mode uint8

const (
	modeAsync mode = iota // Publish: the subscription's policy applies
	modeSync              // PublishSync: wait for room, whatever the policy
	modeTry               // a queue group's first pass: put if there is room, else nothing
)

var (
	// errEnded is what an offer to a subscription that ended after the
	// publish loaded its topic's snapshot returns: the message was not
	// offered to it, and nothing is counted.
	errEnded = errors.New("bus: subscription ended")
	// errNoRoom is what modeTry returns when the sink is full.
	errNoRoom = errors.New("bus: no room")
)

// outcome is what the policy decided for a message that found no room.
type outcome[T any] struct {
	drop       DropReason // the message was dropped, for this reason
	evicted    bool       // old was evicted to make room (DropOldest)
	old        delivery[T]
	err        error // for the publisher: the context's, when it gave up
	disconnect bool  // the policy ends the subscription
}

// offer gives d to the subscription: into its sink if there is room, or
// else as its policy says. This is the one place where the policies are
// decided, for channel and handler subscriptions alike. Drops are counted
// under the gate, so that the end sees them; OnDrop, the hooks and a
// disconnect run after it is released, since they may publish or end the
// subscription.
func (s *Subscription[T]) offer(ctx context.Context, d *delivery[T], m mode) error {
	s.gate.RLock()
	if s.closed {
		s.gate.RUnlock()
		return errEnded
	}
	if s.sink.put(*d) {
		s.gate.RUnlock()
		s.kept()
		return nil
	}
	var o outcome[T]
	switch {
	case m == modeTry:
		s.gate.RUnlock()
		return errNoRoom
	case m == modeSync || s.policy.kind == policyBlock:
		o = s.block(ctx, d, m)
	case s.policy.kind == policyDropOldest:
		o = s.evict(d)
	default: // DropNewest, DisconnectAfter
		o.drop = ReasonFull
		o.disconnect = s.policy.kind == policyDisconnect && s.consec.Add(1) >= int64(s.policy.after)
	}
	if o.drop != 0 {
		s.refuse(o.drop)
	}
	s.gate.RUnlock()
	return s.report(d, &o)
}

// block waits for room: without a bound for PublishSync and Block, up to
// the bound for BlockFor, and always up to ctx and the subscription's end.
// A handler's publish to a handler subscription that receives the message
// being handled does not wait: that subscription's handler may be the
// publisher, the only one who could make room (it would wait for itself).
// The message is queued past the Buffer instead.
func (s *Subscription[T]) block(ctx context.Context, d *delivery[T], m mode) outcome[T] {
	if s.conc > 0 && receivesChain(ctx, &s.mark) && s.sink.putOver(*d) {
		return outcome[T]{}
	}
	var timeout <-chan time.Time
	if wait := s.policy.maxWait; wait > 0 && m != modeSync {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	why := s.sink.wait(ctx, *d, timeout, s.done)
	if why != waitPut && ended(s.done) {
		// The subscription is ending too: the end decides, whichever the
		// wait saw first, so that Close counts every message it overtook.
		why = waitEnded
	}
	switch why {
	case waitCanceled:
		return outcome[T]{drop: ReasonCanceled, err: ctx.Err()}
	case waitTimedOut:
		return outcome[T]{drop: ReasonTimeout}
	case waitEnded:
		return outcome[T]{drop: s.deadReason()}
	}
	return outcome[T]{}
}

// evict makes room by dropping the oldest queued message (DropOldest).
func (s *Subscription[T]) evict(d *delivery[T]) outcome[T] {
	old, evicted, put := s.sink.evict(*d)
	if evicted {
		s.discard(ReasonEvicted, 1)
	}
	o := outcome[T]{evicted: evicted, old: old}
	if !put {
		o.drop = ReasonFull // other publishers took the room first
	}
	return o
}

// report tells OnDrop, the hooks and a PublishSync waiter what the policy
// dropped, ends the subscription if the policy says so, and returns the
// publisher's error.
func (s *Subscription[T]) report(d *delivery[T], o *outcome[T]) error {
	if o.evicted {
		s.dropped1(o.old.msg, o.old.w, ReasonEvicted)
	}
	if o.drop == 0 {
		s.kept()
		return nil
	}
	if d.w != nil {
		d.w.add()
	}
	s.dropped1(d.msg, d.w, o.drop)
	if o.disconnect {
		s.end(ReasonDisconnect, ErrDisconnected)
	}
	return o.err
}
