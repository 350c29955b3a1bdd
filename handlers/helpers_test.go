package handlers

import (
	"cmp"
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/observe"
)

// The observation contract lives in internal/observe; these names keep the
// tests short.
type (
	Env             = observe.Env
	Call            = observe.Call
	Fate            = observe.Fate
	Outcome         = observe.Outcome
	Observer        = observe.Observer
	CallObserver    = observe.CallObserver
	Interceptor     = observe.Interceptor
	CallInterceptor = observe.CallInterceptor
)

const (
	OutcomeOK            = observe.OutcomeOK
	OutcomeError         = observe.OutcomeError
	OutcomePanic         = observe.OutcomePanic
	OutcomeTimeout       = observe.OutcomeTimeout
	FateHandled          = observe.FateHandled
	FateRetried          = observe.FateRetried
	FateDeadLettered     = observe.FateDeadLettered
	FateDeadLetterUnread = observe.FateDeadLetterUnread
	FateDeadLetterFailed = observe.FateDeadLetterFailed
	FateDiscarded        = observe.FateDiscarded
)

// OutcomeOf is observe.OutcomeOf.
func OutcomeOf(err error) Outcome { return observe.OutcomeOf(err) }

// testTimeout bounds every wait in these tests, so that a bug fails a test
// instead of hanging the run.
const testTimeout = 10 * time.Second

var errBoom = errors.New("boom")

// testCtx returns a context that ends when the test ends or testTimeout has
// passed.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newBus returns a bus that must close cleanly when the test ends.
func newBus(t testing.TB, opts ...bus.Option) *bus.Bus {
	t.Helper()
	b := bus.New(opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close at the end of the test: %v", err)
		}
	})
	return b
}

func mustTopic[T any](t testing.TB, b *bus.Bus, name string) *bus.Topic[T] {
	t.Helper()
	top, err := bus.NewTopic[T](b, name)
	if err != nil {
		t.Fatalf("NewTopic(%q): %v", name, err)
	}
	return top
}

// mustSubscribe subscribes reg for as long as the bus lives.
func mustSubscribe(t testing.TB, b *bus.Bus, reg Registration, env Env) Subscription {
	t.Helper()
	s, err := reg.Subscribe(observe.WithEnv(context.Background(), env), b)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return s
}

func waitIdle(t testing.TB, b *bus.Bus) {
	t.Helper()
	if err := b.WaitIdle(testCtx(t)); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
}

// recv receives from ch or fails the test at its deadline.
func recv[V any](t testing.TB, ch <-chan V) V {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("channel closed")
		}
		return v
	case <-time.After(testTimeout):
		t.Fatalf("nothing received within %v", testTimeout)
	}
	var zero V
	return zero
}

// wait waits until ch is closed or receives, or fails the test at its
// deadline.
func wait(t testing.TB, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("not signalled within %v", testTimeout)
	}
}

// sleeper replaces the backoff's timer: it records each wait and returns at
// once, so that retry tests do not sleep.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

// withSleep injects the backoff's wait.
func withSleep(fn func(context.Context, time.Duration) error) bus.SubscribeOption {
	return optionFunc(func(c *config) { c.sleep = fn })
}

// withRand injects the jitter's random source.
func withRand(fn func() float64) bus.SubscribeOption {
	return optionFunc(func(c *config) { c.rnd = fn })
}

// withClock injects the observer's clock.
func withClock(fn func() time.Time) bus.SubscribeOption {
	return optionFunc(func(c *config) { c.now = fn })
}

// recorder is an Observer that records every bind and call.
type recorder struct {
	mu    sync.Mutex
	binds []string
	calls []Call
}

func (r *recorder) Bind(topic, subscriber string) CallObserver {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.binds = append(r.binds, topic+"/"+subscriber)
	return r
}

func (r *recorder) Observe(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) outcomes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		out = append(out, c.Outcome.String())
	}
	return out
}

func (r *recorder) fates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		out = append(out, c.Fate.String())
	}
	return out
}

func (r *recorder) attempts() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for _, c := range r.calls {
		out = append(out, c.Attempt)
	}
	return out
}

// chainOf builds reg's layers around h without a bus, for direct calls.
func chainOf[T any](t testing.TB, h Handler[T], env Env, opts ...bus.SubscribeOption) Handler[T] {
	t.Helper()
	c := newConfig(opts)
	if err := errors.Join(c.errs...); err != nil {
		t.Fatal(err)
	}
	var user []Middleware[T]
	for _, m := range c.middleware {
		user = append(user, m.(Middleware[T]))
	}
	top, _, err := build(nil, env, "test", "test-handler", h, c, user)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

func reflectType[T any]() reflect.Type { return reflect.TypeFor[T]() }

// sortRegs orders registrations by topic and name, as the app's start does.
func sortRegs(regs []Registration) {
	slices.SortStableFunc(regs, func(a, b Registration) int {
		return cmp.Or(cmp.Compare(a.Topic(), b.Topic()), cmp.Compare(a.Name(), b.Name()))
	})
}
