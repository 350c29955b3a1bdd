package bus

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every wait in these tests, so that a bug fails a test
// instead of hanging the run.
const testTimeout = 10 * time.Second

// testCtx returns a context that ends when the test ends or testTimeout has
// passed.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newBus returns a bus that is closed (and must close cleanly) when the test
// ends.
func newBus(t testing.TB, opts ...Option) *Bus {
	t.Helper()
	b := New(opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close at the end of the test: %v", err)
		}
	})
	return b
}

// mustTopic declares a topic or fails the test.
func mustTopic[T any](t testing.TB, b *Bus, name string) *Topic[T] {
	t.Helper()
	top, err := NewTopic[T](b, name)
	if err != nil {
		t.Fatalf("NewTopic[%s](%q): %v", typeName[T](), name, err)
	}
	return top
}

// mustSub subscribes to a topic or fails the test.
func mustSub[T any](t testing.TB, top *Topic[T], opts ...SubscribeOption) *Subscription[T] {
	t.Helper()
	s, err := top.Subscribe(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", top.Name(), err)
	}
	return s
}

// mustPublish publishes or fails the test.
func mustPublish[T any](t testing.TB, top *Topic[T], vs ...T) {
	t.Helper()
	for _, v := range vs {
		if err := top.Publish(testCtx(t), v); err != nil {
			t.Fatalf("Publish(%q, %v): %v", top.Name(), v, err)
		}
	}
}

// recv receives one message from s or fails the test.
func recv[T any](t testing.TB, s *Subscription[T]) Message[T] {
	t.Helper()
	select {
	case m, ok := <-s.C:
		if !ok {
			t.Fatalf("%s: channel closed, want a message", s.Name())
		}
		return m
	case <-time.After(testTimeout):
		t.Fatalf("%s: no message within %v", s.Name(), testTimeout)
	}
	panic("unreachable")
}

// recvN receives n values from s.
func recvN[T any](t testing.TB, s *Subscription[T], n int) []T {
	t.Helper()
	out := make([]T, 0, n)
	for range n {
		out = append(out, recv(t, s).Value)
	}
	return out
}

// drained receives what s holds without waiting.
func drained[T any](s *Subscription[T]) []T {
	var out []T
	for {
		select {
		case m, ok := <-s.C:
			if !ok {
				return out
			}
			out = append(out, m.Value)
		default:
			return out
		}
	}
}

// waitClosed waits until the channel of s is closed, discarding what it
// still yields, and returns how many messages it yielded.
func waitClosed[T any](t testing.TB, s *Subscription[T]) int {
	t.Helper()
	n := 0
	timeout := time.After(testTimeout)
	for {
		select {
		case _, ok := <-s.C:
			if !ok {
				return n
			}
			n++
		case <-timeout:
			t.Fatalf("%s: channel not closed within %v", s.Name(), testTimeout)
		}
	}
}

// isClosed reports whether the channel of an empty subscription is closed.
func isClosed[T any](s *Subscription[T]) bool {
	select {
	case _, ok := <-s.C:
		return !ok
	default:
		return false
	}
}

// waitDone waits for the subscription's Done.
func waitDone[T any](t testing.TB, s *Subscription[T]) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(testTimeout):
		t.Fatalf("%s: not done within %v", s.Name(), testTimeout)
	}
}

// waitFor waits for ch to be closed or to yield a value.
func waitFor[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("%s: not within %v", what, testTimeout)
	}
}

// await receives from ch, or fails the test after testTimeout.
func await[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(testTimeout):
		t.Fatalf("%s: not within %v", what, testTimeout)
	}
	panic("unreachable")
}

// waitIdle waits until the bus holds no message and runs no handler.
func waitIdle(t testing.TB, b *Bus) {
	t.Helper()
	if err := b.WaitIdle(testCtx(t)); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// waitParked waits until some goroutine whose stack mentions every one of
// frames is parked (in a select, a channel operation or on a lock). It polls
// goroutine stacks: the tests use it to know that a publisher is really
// blocked, not merely about to block.
func waitParked(t testing.TB, frames ...string) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	buf := make([]byte, 1<<20)
	for time.Now().Before(deadline) {
		n := runtime.Stack(buf, true)
	next:
		for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
			head, _, _ := strings.Cut(g, "\n")
			if !strings.Contains(head, "[select") && !strings.Contains(head, "[chan ") &&
				!strings.Contains(head, "[sync.") && !strings.Contains(head, "[semacquire") {
				continue
			}
			for _, f := range frames {
				if !strings.Contains(g, f) {
					continue next
				}
			}
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("no goroutine parked in %q within %v", frames, testTimeout)
}

// stats returns the stats of the subscription called name on pattern.
func subStats(t testing.TB, b *Bus, pattern, name string) SubscriptionStats {
	t.Helper()
	for _, s := range b.Stats().Subscriptions {
		if s.Pattern == pattern && s.Name == name {
			return s
		}
	}
	t.Fatalf("no stats for %s/%s in %+v", pattern, name, b.Stats().Subscriptions)
	return SubscriptionStats{}
}

// checkBalance checks that nothing was lost silently for any subscriber.
func checkBalance(t testing.TB, st Stats) {
	t.Helper()
	for _, s := range st.Subscriptions {
		if got := s.Delivered + s.Dropped.Total() + s.Queued; got != s.Published {
			t.Errorf("%s/%s: published %d != delivered %d + dropped %d %v + queued %d",
				s.Pattern, s.Name, s.Published, s.Delivered, s.Dropped.Total(), s.Dropped, s.Queued)
		}
	}
}

// stuckHandler subscribes a handler with a queue of one (Buffer(1), then
// opts) whose first call blocks until release is closed, and publishes 0
// and 1: it returns once 0 is in the handler's hands and 1 fills the ring,
// so that the next publish finds the subscription full.
func stuckHandler(t testing.TB, top *Topic[int], release <-chan struct{}, opts ...SubscribeOption) *Subscription[int] {
	t.Helper()
	started := make(chan struct{})
	var once sync.Once
	s, err := top.Handle(testCtx(t), func(context.Context, int) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(started)
			<-release
		}
		return nil
	}, append([]SubscribeOption{Buffer(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 0)
	waitFor(t, started, "the first handler call")
	mustPublish(t, top, 1)
	return s
}

// idleWorkers returns how many of p's workers are parked.
func idleWorkers(p *pool) int {
	_, idle := p.size()
	return idle
}
