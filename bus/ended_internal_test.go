package bus

import (
	"context"
	"errors"
	"testing"
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
		d := delivery[int]{msg: Message[int]{Value: 1, Topic: top.name}}
		d.hc = top.handlerCtx(context.Background(), d.msg.CorrelationID)
		if err := stale.single[0].offer(context.Background(), &d, modeAsync); err != errEnded {
			t.Errorf("handler=%v: offer to an ended subscription: %v, want errEnded", handler, err)
		}
		if got := b.ended(errEnded); !errors.Is(got, ErrClosed) {
			t.Errorf("handler=%v: endedErr after Close: %v, want ErrClosed", handler, got)
		}
		st := s.info().stats(s.queued)
		if st.Published != 0 || st.Dropped.Total() != 0 {
			t.Errorf("handler=%v: a message that was not offered moved the counters: %+v", handler, st)
		}
	}
	b := New()
	defer b.Close(context.Background())
	if err := b.ended(errEnded); err != nil {
		t.Errorf("endedErr on an open bus: %v, want nil (the subscription just left)", err)
	}
}

// TestPublishPlainToEndedSubscription: the same race through Publish with
// channel subscriptions. A subscription that ended after the snapshot was loaded is skipped without
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

// TestPublishQueuesToEndedSubscription: the race of
// TestPublishPlainToEndedSubscription with handler subscriptions.
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
	top.snap.Store(stale) // as a publish that loaded it before the Close sees it
	if err := top.Publish(ctx, 1); err != nil {
		t.Errorf("Publish with one subscription gone, bus open: %v, want nil", err)
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
	d := delivery[int]{msg: Message[int]{Value: 2}}
	if err := b.ended(route(ctx, stale, &d, nil)); !errors.Is(err, ErrClosed) {
		t.Errorf("routing to ended subscriptions after Close: %v, want ErrClosed", err)
	}
}
