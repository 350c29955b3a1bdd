package bus

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// At the Workers bound, a subscription with messages waits for a worker:
// its message is queued, not handled, until a blocked handler returns.
func TestPoolBound(t *testing.T) {
	b := newBus(t, Workers(2))
	release, free := gate(t)
	started := make(chan struct{}, 2)
	for _, name := range []string{"pool.a", "pool.b"} {
		top := mustTopic[int](t, b, name)
		if _, err := top.Handle(testCtx(t), func(context.Context, int) error {
			started <- struct{}{}
			<-release
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustPublish(t, top, 1)
	}
	waitFor(t, started, "first blocked handler")
	waitFor(t, started, "second blocked handler")
	third := mustTopic[int](t, b, "pool.c")
	handled := make(chan int, 1)
	if _, err := third.Handle(testCtx(t), func(_ context.Context, v int) error {
		handled <- v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, third, 7)
	if workers, _ := b.pool.size(); workers != 2 || b.pool.waiting.Load() != 1 {
		t.Fatalf("%d workers, %d activations waiting; want 2 and 1", workers, b.pool.waiting.Load())
	}
	select {
	case v := <-handled:
		t.Fatalf("handled %d with every worker blocked", v)
	default:
	}
	if st := subStats(t, b, "pool.c", st0(t, b, "pool.c")); st.Queued != 1 {
		t.Errorf("third subscription: %+v, want 1 queued", st)
	}
	free()
	if v := await(t, handled, "the third handler"); v != 7 {
		t.Errorf("third handler got %d, want 7", v)
	}
}

// st0 returns the name of the only subscription of pattern.
func st0(t *testing.T, b *Bus, pattern string) string {
	t.Helper()
	for _, s := range b.Stats().Subscriptions {
		if s.Pattern == pattern {
			return s.Name
		}
	}
	t.Fatalf("no subscription on %q", pattern)
	return ""
}

// A busy subscription gives its worker up after a batch when another waits
// for one, so at the bound it cannot keep the others waiting until it has
// handled everything.
func TestPoolBusySubscriptionYields(t *testing.T) {
	b := newBus(t, Workers(1))
	busy := mustTopic[int](t, b, "yield.busy")
	release, free := gate(t)
	started := make(chan struct{})
	var handled atomic.Int64
	if _, err := busy.Handle(testCtx(t), func(_ context.Context, v int) error {
		if v == 0 {
			close(started)
			<-release
		}
		handled.Add(1)
		return nil
	}, Buffer(1024)); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, busy, seq(0, 500)...)
	waitFor(t, started, "the busy handler")
	other := mustTopic[int](t, b, "yield.other")
	seen := make(chan int64, 1)
	if _, err := other.Handle(testCtx(t), func(context.Context, int) error {
		seen <- handled.Load()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, other, 1)
	free()
	if n := await(t, seen, "the other handler"); n >= 500 {
		t.Errorf("the other subscription ran only after the busy one handled all %d messages", n)
	}
	waitIdle(t, b)
	if n := handled.Load(); n != 500 {
		t.Errorf("busy handler handled %d, want 500", n)
	}
}

// A worker with nothing to do exits after a while; the next message starts
// a new one.
func TestPoolRetiresIdleWorkers(t *testing.T) {
	b := newBus(t, workerIdle(time.Millisecond))
	top := mustTopic[int](t, b, "retire")
	got := make(chan int, 1)
	if _, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		got <- v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for v := range 2 {
		mustPublish(t, top, v)
		if w := await(t, got, "handler"); w != v {
			t.Fatalf("got %d, want %d", w, v)
		}
		// Nothing signals a worker's exit: look until it has gone.
		ctx := testCtx(t)
		for workers, _ := b.pool.size(); workers != 0; workers, _ = b.pool.size() {
			if ctx.Err() != nil {
				t.Fatalf("%d workers still there after %v idle", workers, testTimeout)
			}
			runtime.Gosched()
		}
	}
}
