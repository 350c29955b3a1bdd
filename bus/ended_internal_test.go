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
		m := Message[int]{Value: 1, Topic: top.name}
		hc := top.newMsgCtx(context.Background(), m.CorrelationID, top)
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
