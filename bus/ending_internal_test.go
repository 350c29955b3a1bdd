package bus

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStatsShowEndingHandler: a handler subscription that ended (here by its
// DisconnectAfter policy) while a call still runs stays in Stats, inactive,
// with the message in hand counted as queued; a new subscription with the
// same name shares its entry instead of duplicating it.
func TestStatsShowEndingHandler(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := New()
	top, err := NewTopic[int](b, "ending.stats")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}, 1), make(chan struct{})
	h := func(ctx context.Context, v int) error {
		started <- struct{}{}
		<-release
		return nil
	}
	s, err := top.Handle(ctx, h, Name("slow"), Buffer(1), WithPolicy(DisconnectAfter(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := top.Publish(ctx, 1); err != nil { // taken by the handler
		t.Fatal(err)
	}
	<-started
	for i := 2; i <= 3; i++ { // 2 waits in the ring, 3 is dropped and disconnects
		if err := top.Publish(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if s.Err() != ErrDisconnected {
		t.Fatalf("Err %v, want ErrDisconnected", s.Err())
	}
	one := func(want bool) SubscriptionStats {
		t.Helper()
		var found []SubscriptionStats
		for _, st := range b.Stats().Subscriptions {
			if st.Name == "slow" {
				found = append(found, st)
			}
		}
		if len(found) != 1 {
			t.Fatalf("%d stats entries for slow, want 1: %+v", len(found), found)
		}
		if found[0].Active != want {
			t.Errorf("Active %v, want %v", found[0].Active, want)
		}
		return found[0]
	}
	st := one(false)
	if st.Queued != 1 || st.Published != 3 || st.Dropped[ReasonFull] != 1 || st.Dropped[ReasonDisconnect] != 1 {
		t.Errorf("while the last call runs: %+v, want queued 1 (in hand), published 3, 1 full and 1 disconnect", st)
	}
	// Subscribing again under the same name keeps one entry.
	if _, err := top.Handle(ctx, func(context.Context, int) error { return nil }, Name("slow")); err != nil {
		t.Fatal(err)
	}
	st = one(true)
	if st.Published != 3 {
		t.Errorf("after subscribing again: published %d, want 3", st.Published)
	}
	close(release)
	<-s.Done()
	st = one(true)
	if st.Queued != 0 || st.Delivered != 1 || st.Disconnects != 1 {
		t.Errorf("after the call returned: %+v, want delivered 1, queued 0, 1 disconnect", st)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCloseReportsEveryStuckHandler: Close gives up on handlers that ignore
// their context after one KillGrace in all, however many there are, and
// names each of them as still running.
func TestCloseReportsEveryStuckHandler(t *testing.T) {
	b := New(KillGrace(10 * time.Millisecond))
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 3)
	for _, name := range []string{"a", "b", "c"} {
		top, err := NewTopic[int](b, "stuck."+name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := top.Handle(context.Background(), func(context.Context, int) error {
			started <- struct{}{}
			<-release // ignores its context
			return nil
		}, Name(name)); err != nil {
			t.Fatal(err)
		}
		if err := top.Publish(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		<-started
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Close(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with three stuck handlers")
	}
	var se *ShutdownError
	if !errors.As(err, &se) || len(se.Leftovers) != 3 {
		t.Fatalf("Close = %v, want a ShutdownError naming the three stuck handlers", err)
	}
	for _, l := range se.Leftovers {
		if !l.Running {
			t.Errorf("%+v: not reported as running", l)
		}
	}
}

// TestCloseNamesBusySubscriberThatLostNothing: a handler still running when
// the drain gives up, which returns once its context is cancelled, loses
// nothing; the ShutdownError still names it (lost 0), so that the report
// says who kept the bus from draining.
func TestCloseNamesBusySubscriberThatLostNothing(t *testing.T) {
	b := New(KillGrace(5 * time.Second))
	top, err := NewTopic[int](b, "busy")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	if _, err := top.Handle(context.Background(), func(ctx context.Context, _ int) error {
		close(started)
		<-ctx.Done() // returns when Close gives up draining
		return nil
	}, Name("slow")); err != nil {
		t.Fatal(err)
	}
	if err := top.Publish(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = b.Close(ctx)
	var se *ShutdownError
	if !errors.As(err, &se) {
		t.Fatalf("Close = %v, want a *ShutdownError", err)
	}
	want := []Leftover{{Topic: "busy", Subscriber: "slow", Count: 0}}
	if len(se.Leftovers) != 1 || se.Leftovers[0] != want[0] {
		t.Errorf("leftovers %+v, want %+v", se.Leftovers, want)
	}
}
