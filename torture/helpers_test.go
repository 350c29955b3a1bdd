package torture

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// testTimeout bounds every wait of a test that has no deadline of its own,
// so that a bug fails the test instead of hanging the run.
const testTimeout = 20 * time.Second

// deadline returns a context that ends after d or when the test ends.
func deadline(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitGroup waits for wg, or fails the test when ctx ends first.
func waitGroup(t testing.TB, ctx context.Context, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%s: still waiting when the test's deadline passed: %v", what, ctx.Err())
	}
}

// waitClosed waits for ch to be closed (or to yield a value), or fails the
// test when ctx ends first.
func waitClosed(t testing.TB, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s: not within the test's deadline: %v", what, ctx.Err())
	}
}

// closeBus closes b within d and returns Close's error, failing the test if
// Close itself does not return within twice d (Close must honour its
// context, plus its KillGrace).
func closeBus(t testing.TB, b *bus.Bus, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.Close(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-time.After(2*d + 5*time.Second):
		t.Fatalf("Close(%v) did not return within %v", d, 2*d+5*time.Second)
		return nil
	}
}

// subStats returns the stats of the subscriber called name on pattern.
func subStats(t testing.TB, st bus.Stats, pattern, name string) bus.SubscriptionStats {
	t.Helper()
	for _, s := range st.Subscriptions {
		if s.Pattern == pattern && s.Name == name {
			return s
		}
	}
	t.Fatalf("no stats for %s/%s", pattern, name)
	return bus.SubscriptionStats{}
}

// checkBalance checks invariant 3 for every subscriber: nothing lost
// silently. Once publishing stops, Published == Delivered + Dropped + Queued.
func checkBalance(t testing.TB, st bus.Stats) {
	t.Helper()
	for _, s := range st.Subscriptions {
		if got := s.Delivered + s.Dropped.Total() + s.Queued; got != s.Published {
			t.Errorf("%s/%s: published %d != delivered %d + dropped %d %v + queued %d",
				s.Pattern, s.Name, s.Published, s.Delivered, s.Dropped.Total(), s.Dropped, s.Queued)
		}
	}
}

// limiter caps how many errors one test reports from its goroutines, so that
// a broken invariant under load does not print a million lines.
type limiter struct {
	t testing.TB
	n atomic.Int64
}

func (l *limiter) Errorf(format string, args ...any) {
	l.t.Helper()
	switch n := l.n.Add(1); {
	case n <= 20:
		l.t.Errorf(format, args...)
	case n == 21:
		l.t.Errorf("(more errors left out)")
	}
}
