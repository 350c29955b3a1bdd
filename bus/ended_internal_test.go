package bus

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPublishToEndedSubscription covers the race where a publish loaded its
// topic's snapshot before a subscription ended: the message is not offered
// (no counter moves) and, when the bus closed meanwhile, the publisher is
// told ErrClosed instead of nil.
func TestPublishToEndedSubscription(t *testing.T) {
	for _, handler := range []bool{false, true} {
		b := New()
		top, err := NewTopic[int](b, "ended.race")
		if err != nil {
			t.Fatal(err)
		}
		var s *Subscription[int]
		if handler {
			s, err = top.Handle(context.Background(), func(context.Context, int) error { return nil }, Name("s"))
		} else {
			s, err = top.Subscribe(context.Background(), Name("s"))
		}
		if err != nil {
			t.Fatal(err)
		}
		stale := top.snap.Load() // what a racing publish would hold
		if err := b.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		m := Message[int]{Value: 1, Topic: top.name}
		hc := top.newMsgCtx(context.Background(), top, 1, nil)
		if err := stale.single[0].deliver(context.Background(), &m, hc, nil, false); err != errEnded {
			t.Errorf("handler=%v: deliver to an ended subscription: %v, want errEnded", handler, err)
		}
		if got := b.endedErr(); !errors.Is(got, ErrClosed) {
			t.Errorf("handler=%v: endedErr after Close: %v, want ErrClosed", handler, got)
		}
		st := s.info().stats(s.queued)
		if st.Published != 0 || st.Dropped.Total() != 0 {
			t.Errorf("handler=%v: a message that was not offered moved the counters: %+v", handler, st)
		}
	}
	b := New()
	defer b.Close(context.Background())
	if err := b.endedErr(); err != nil {
		t.Errorf("endedErr on an open bus: %v, want nil (the subscription just left)", err)
	}
}

// TestPublishPlainToEndedSubscription: the same race on the plain path
// (every subscription a Block channel, a context that cannot end). A
// subscription that ended after the snapshot was loaded is skipped without
// moving its counters; the others still get the message; the publisher is
// told nil while the bus is open.
func TestPublishPlainToEndedSubscription(t *testing.T) {
	ctx := context.Background()
	b := New()
	top := mustTopic[int](t, b, "ended.plain")
	gone, err := top.Subscribe(ctx, Name("gone"))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := top.Subscribe(ctx, Name("kept"))
	if err != nil {
		t.Fatal(err)
	}
	stale := top.snap.Load()
	if !stale.plain {
		t.Fatal("two Block channel subscriptions: the snapshot is not plain")
	}
	gone.Close()
	top.snap.Store(stale) // as a publish that loaded it before the Close sees it
	if err := top.Publish(ctx, 1); err != nil {
		t.Errorf("Publish with one subscription gone, bus open: %v, want nil", err)
	}
	if m := <-kept.C; m.Value != 1 {
		t.Errorf("kept got %d, want 1", m.Value)
	}
	if st := gone.info().stats(gone.queued); st.Published != 0 || st.Dropped.Total() != 0 {
		t.Errorf("a message that was not offered moved the counters: %+v", st)
	}
	kept.Close()
	if err := top.Publish(ctx, 2); err != nil {
		t.Errorf("Publish with every subscription gone, bus open: %v, want nil", err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Subscription[int]{gone, kept} {
		if _, ok := <-s.C; ok {
			t.Errorf("%s: a message after the end", s.Name())
		}
	}
}

// TestPlainSnapshot: the plain path is taken only when every subscription is
// a channel subscription that waits without limit, the queues path only when
// every subscription is a handler outside a queue group, and a topic without
// subscriptions (the zero snapshot too) is not routed.
func TestPlainSnapshot(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name          string
		opts          [][]SubscribeOption // nil: a handler
		plain, queues bool
	}{
		{"none", nil, false, false},
		{"block", [][]SubscribeOption{{}, {WithPolicy(Block())}}, true, false},
		{"blockfor", [][]SubscribeOption{{}, {WithPolicy(BlockFor(time.Second))}}, false, false},
		{"drop", [][]SubscribeOption{{}, {WithPolicy(DropNewest())}}, false, false},
		{"group", [][]SubscribeOption{{QueueGroup("g")}}, false, false},
		{"mixed", [][]SubscribeOption{{}, nil}, false, false},
		{"handlers", [][]SubscribeOption{nil, nil}, false, true},
	} {
		b := New()
		top, err := NewTopic[int](b, "plain."+tc.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range tc.opts {
			if o == nil {
				_, err = top.Handle(ctx, func(context.Context, int) error { return nil })
			} else {
				_, err = top.Subscribe(ctx, o...)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if s := top.snap.Load(); s.plain != tc.plain || s.queues != tc.queues || s.routed != (len(tc.opts) > 0) {
			t.Errorf("%s: plain = %v, queues = %v, routed = %v; want %v, %v, %v", tc.name, s.plain, s.queues, s.routed, tc.plain, tc.queues, len(tc.opts) > 0)
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPublishQueuesToEndedSubscription: the race of
// TestPublishPlainToEndedSubscription on the handlers-only path.
func TestPublishQueuesToEndedSubscription(t *testing.T) {
	ctx := context.Background()
	b := New()
	top := mustTopic[int](t, b, "ended.queues")
	got := make(chan int, 1)
	gone, err := top.Handle(ctx, func(context.Context, int) error { return nil }, Name("gone"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := top.Handle(ctx, func(_ context.Context, v int) error { got <- v; return nil }, Name("kept")); err != nil {
		t.Fatal(err)
	}
	stale := top.snap.Load()
	gone.Close()
	if err := top.publishQueues(ctx, stale, 1, true); err != nil {
		t.Errorf("publishQueues with one subscription gone, bus open: %v, want nil", err)
	}
	if v := <-got; v != 1 {
		t.Errorf("kept got %d, want 1", v)
	}
	if st := gone.info().stats(gone.queued); st.Published != 0 || st.Dropped.Total() != 0 {
		t.Errorf("a message that was not offered moved the counters: %+v", st)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := top.publishQueues(ctx, stale, 2, true); !errors.Is(err, ErrClosed) {
		t.Errorf("publishQueues after Close: %v, want ErrClosed", err)
	}
}
