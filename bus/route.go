package bus

import (
	"context"
	"sync/atomic"
)

// snapshot is the immutable set of a topic's subscriptions that a publish
// reads with one atomic load. It is rebuilt when a subscription comes or goes.
type snapshot[T any] struct {
	single   []*Subscription[T] // subscriptions outside queue groups
	groups   []*queueGroup[T]
	handlers bool // some target is a handler: publishes make a handler context
	deleted  bool // the topic was deleted: publishes fail
}

// group is a queue group as a topic's snapshot holds it: its members split
// the topic's messages.
type queueGroup[T any] struct {
	name    string
	members []*Subscription[T]
	key     func(T) string // the OrderingKey of the group's first member, or nil
	next    atomic.Uint32  // round robin
}

// route offers d to every target of s: each subscription outside a queue
// group, and one member of each group. w is PublishSync's waiter, nil for
// Publish. It returns the error worth reporting (see keep).
func route[T any](ctx context.Context, s *snapshot[T], d *delivery[T], w *waiter) error {
	m := modeAsync
	if w != nil {
		m = modeSync
	}
	var err error
	for _, x := range s.single {
		if e := x.deliver(ctx, d, w, m); e != nil {
			err = keep(err, e)
		}
	}
	for _, g := range s.groups {
		if e := g.deliver(ctx, d, w, m); e != nil {
			err = keep(err, e)
		}
	}
	return err
}

// deliver offers d to one subscription. For PublishSync, a handler
// subscription is told of w and waited for, unless its handler may be the
// caller or be waiting on it (see receivesChain): that one gets the message
// as with Publish.
func (s *Subscription[T]) deliver(ctx context.Context, d *delivery[T], w *waiter, m mode) error {
	if m != modeSync || s.conc == 0 {
		return s.offer(ctx, d, m)
	}
	if receivesChain(ctx, &s.mark) {
		return s.offer(ctx, d, modeAsync)
	}
	sd := *d
	sd.w = w
	return s.offer(ctx, &sd, m)
}

// deliver offers d to one member of the group: the member of d's ordering
// key, or, without a key, the next member in turn that has room; when none
// has room, the next live one applies its policy. A member that ended after
// the publish loaded the snapshot is passed over.
func (g *queueGroup[T]) deliver(ctx context.Context, d *delivery[T], w *waiter, m mode) error {
	n := uint32(len(g.members))
	if g.key != nil {
		err := g.members[fnv32(g.key(d.msg.Value))%n].deliver(ctx, d, w, m)
		if err != errEnded {
			return err
		}
	}
	start := g.next.Add(1)
	if m == modeAsync {
		for i := range n {
			if g.members[(start+i)%n].deliver(ctx, d, w, modeTry) == nil {
				return nil
			}
		}
	}
	for i := range n {
		if err := g.members[(start+i)%n].deliver(ctx, d, w, m); err != errEnded {
			return err
		}
	}
	return errEnded
}

// keep returns the error worth reporting of old and next: errEnded only
// when there is no other.
func keep(old, next error) error {
	if old == nil || old == errEnded {
		return next
	}
	return old
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}
