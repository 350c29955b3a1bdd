package torture

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fxbus/fxbus/bus"
)

// TestQueueGroupMemberLeavesMidPublish: a queue group member that leaves
// between the moment a publish loads the topic's subscribers and the moment
// it offers the message to the group must not take the message with it. The
// group has another live member, so the message goes to that member or is
// counted as dropped by someone; it must not vanish with no counter moving.
//
// The test makes the race deterministic: a subscriber outside the group,
// whose queue is full, calls OnDrop on the publisher's goroutine before the
// publish reaches the group, and OnDrop closes the member the group is
// about to pick.
func TestQueueGroupMemberLeavesMidPublish(t *testing.T) {
	for _, tc := range []struct {
		name    string
		keyed   bool
		handler bool
	}{
		{name: "no key, channels"},
		{name: "ordering key, channels", keyed: true},
		{name: "ordering key, handlers", keyed: true, handler: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := deadline(t, testTimeout)
			b := bus.New()
			var subs []*bus.Subscription[string]
			defer func() {
				for _, s := range subs { // already closed, unless the test failed early
					s.Close()
				}
				if err := closeBus(t, b, testTimeout); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			top, err := bus.NewTopic[string](b, "jobs")
			if err != nil {
				t.Fatal(err)
			}
			// x and y form the group, in that order. With no key, a
			// publish tries each member from a rotating start and, when
			// all are full, offers the message to the start member (x
			// for the fourth publish of a group of two); with the key
			// below every message goes to x.
			var x *bus.Subscription[string]
			var armed atomic.Bool
			leave := func(bus.Message[string], bus.DropReason) {
				if armed.CompareAndSwap(true, false) {
					x.Close() // synchronous: x is out of the group when it returns
				}
			}
			// The trap: a subscriber outside the group, full after the
			// first message, whose OnDrop runs before the group's turn.
			trap, err := top.Subscribe(ctx, bus.Name("trap"), bus.Buffer(1), bus.WithPolicy(bus.DropNewest()), bus.OnDrop(leave))
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, trap)
			member := func(name string) *bus.Subscription[string] {
				opts := []bus.SubscribeOption{bus.Name(name), bus.QueueGroup("g"), bus.Buffer(1), bus.WithPolicy(bus.DropNewest())}
				if tc.keyed {
					opts = append(opts, bus.OrderingKey(func(string) string { return keyFor(0, 2) }))
				}
				if tc.handler {
					s, err := top.Handle(ctx, func(context.Context, string) error { return nil }, opts...)
					if err != nil {
						t.Fatal(err)
					}
					subs = append(subs, s)
					return s
				}
				s, err := top.Subscribe(ctx, opts...)
				if err != nil {
					t.Fatal(err)
				}
				subs = append(subs, s)
				return s
			}
			x = member("x")
			member("y")

			// Fill the queues (with no key, the publish under test then
			// falls back to its start member, x).
			for i := range 3 {
				if err := top.Publish(ctx, fmt.Sprint("m", i+1)); err != nil {
					t.Fatal(err)
				}
			}
			armed.Store(true)
			if err := top.Publish(ctx, "m4"); err != nil {
				t.Fatal(err)
			}
			if armed.Load() {
				t.Fatal("the trap did not fire: the test no longer sets up the race")
			}
			// Settle the counters: end every subscription (what they hold
			// is counted as dropped) and read the final stats.
			for _, s := range subs {
				s.Close()
				waitClosed(t, ctx, s.Done(), s.Name()+" ending")
			}
			st := b.Stats()
			checkBalance(t, st)
			xs, ys := subStats(t, st, "jobs", "x"), subStats(t, st, "jobs", "y")
			if got := xs.Published + ys.Published; got != 4 {
				t.Errorf("the group's members were offered %d messages, the topic had 4: x %+v, y %+v", got, xs, ys)
			}
		})
	}
}

// keyFor returns an ordering key that the bus routes to member i of a group
// of n members (the bus hashes keys with 32-bit FNV-1a).
func keyFor(i, n uint32) string {
	for k := 0; ; k++ {
		s := fmt.Sprint("key", k)
		h := uint32(2166136261)
		for j := 0; j < len(s); j++ {
			h ^= uint32(s[j])
			h *= 16777619
		}
		if h%n == i {
			return s
		}
	}
}
