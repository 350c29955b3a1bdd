package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// testTimeout bounds every wait of a test that could hang.
const testTimeout = 10 * time.Second

// testCtx is the test's context, with a deadline.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func recv[T any](t *testing.T, c <-chan bus.Message[T]) T {
	t.Helper()
	select {
	case m, ok := <-c:
		if !ok {
			t.Fatal("subscription channel closed")
		}
		return m.Value
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for a message")
	}
	panic("unreachable")
}

func waitDone(t *testing.T, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for a subscription to end")
	}
}

func newTopic[T any](t *testing.T, b *bus.Bus, name string) *bus.Topic[T] {
	t.Helper()
	top, err := bus.NewTopic[T](b, name)
	check(t, err)
	return top
}

func subscribe[T any](t *testing.T, b *bus.Bus, pattern string, opts ...bus.SubscribeOption) *bus.Subscription[T] {
	t.Helper()
	s, err := bus.Subscribe[T](t.Context(), b, pattern, opts...)
	check(t, err)
	return s
}

// closeBus closes b at once: what is still queued is dropped.
func closeBus(t *testing.T, b *bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var se *bus.ShutdownError
	if err := b.Close(ctx); err != nil && !errors.As(err, &se) {
		t.Fatal(err)
	}
}
