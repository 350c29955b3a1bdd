package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// closeAsync runs Close in a goroutine and returns its result channel, after
// waiting until the bus refuses publishes from outside handlers (probe is a
// topic of b without subscribers).
func closeAsync(ctx context.Context, t *testing.T, b *Bus, probe *Topic[struct{}]) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.Close(ctx) }()
	deadline := time.Now().Add(testTimeout)
	for probe.Publish(context.Background(), struct{}{}) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the bus did not start closing")
		}
		runtime.Gosched()
	}
	return done
}

// TestCloseDrains: Close delivers what was accepted before it (users of
// other buses lose it): a slow Block channel subscriber and a handler lose
// nothing.
func TestCloseDrains(t *testing.T) {
	b := New()
	top := mustTopic[int](t, b, "drain")
	probe := mustTopic[struct{}](t, b, "drain.probe")
	const n = 200
	ch := mustSub(t, top, Buffer(4), Name("chan"))
	var handled atomic.Int64
	release := make(chan struct{})
	if _, err := top.Handle(testCtx(t), func(context.Context, int) error {
		<-release
		handled.Add(1)
		return nil
	}, Buffer(n), Name("handler")); err != nil {
		t.Fatal(err)
	}
	var got []int
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m := range ch.C {
			got = append(got, m.Value)
		}
	}()
	mustPublish(t, top, seq(0, n)...)
	closed := closeAsync(testCtx(t), t, b, probe)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a handler still had messages", err)
	default:
	}
	close(release)
	if err := await(t, closed, "closed"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	await(t, read, "read")
	if !slices.Equal(got, seq(0, n)) {
		t.Errorf("channel subscriber got %d messages, want %d in order", len(got), n)
	}
	if handled.Load() != n {
		t.Errorf("handler handled %d, want %d", handled.Load(), n)
	}
	for _, st := range b.Stats().Subscriptions {
		if st.Active || st.Delivered != n || st.Dropped.Total() != 0 || st.Queued != 0 {
			t.Errorf("after Close: %+v", st)
		}
	}
}

// TestCloseWaitsForRunningHandler: Close does not return while a handler
// runs (users of other buses see shutdown finish under running handlers).
func TestCloseWaitsForRunningHandler(t *testing.T) {
	b := New()
	top := mustTopic[int](t, b, "running")
	probe := mustTopic[struct{}](t, b, "running.probe")
	started, release := make(chan struct{}), make(chan struct{})
	var returned atomic.Bool
	if _, err := top.Handle(testCtx(t), func(ctx context.Context, _ int) error {
		close(started)
		<-release
		returned.Store(true)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 1)
	await(t, started, "started")
	closed := closeAsync(testCtx(t), t, b, probe)
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a handler ran", err)
	default:
	}
	close(release)
	if err := await(t, closed, "closed"); err != nil {
		t.Fatal(err)
	}
	if !returned.Load() {
		t.Error("Close returned before the handler did")
	}
}

// TestCloseDrainsHandlerChain: handlers A -> B -> C publish to each other
// while the bus drains; Close waits for the whole chain.
func TestCloseDrainsHandlerChain(t *testing.T) {
	b := New()
	a, bb, c := mustTopic[int](t, b, "chain.a"), mustTopic[int](t, b, "chain.b"), mustTopic[int](t, b, "chain.c")
	probe := mustTopic[struct{}](t, b, "chain.probe")
	const n = 100
	gate := make(chan struct{})
	var sum atomic.Int64
	if _, err := a.Handle(testCtx(t), func(ctx context.Context, v int) error {
		<-gate
		return bb.Publish(ctx, v)
	}, Buffer(n)); err != nil {
		t.Fatal(err)
	}
	if _, err := bb.Handle(testCtx(t), func(ctx context.Context, v int) error {
		return c.PublishSync(ctx, v)
	}, Buffer(4)); err != nil {
		t.Fatal(err)
	}
	last := make(chan int, n)
	if _, err := c.Handle(testCtx(t), func(ctx context.Context, v int) error {
		sum.Add(int64(v))
		last <- v
		return nil
	}, Buffer(4)); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, a, seq(1, n+1)...)
	closed := closeAsync(testCtx(t), t, b, probe)
	// Only now let A publish: every message of the chain is published while
	// the bus drains.
	close(gate)
	if err := await(t, closed, "closed"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(last); got != n {
		t.Errorf("C handled %d messages, want %d", got, n)
	}
	if want := int64(n * (n + 1) / 2); sum.Load() != want {
		t.Errorf("C summed %d, want %d", sum.Load(), want)
	}
	checkBalance(t, b.Stats())
}

// TestCloseReverseOrder: Close ends the subscriptions in reverse order of
// subscription: when one ends, every later one is already closed.
func TestCloseReverseOrder(t *testing.T) {
	var (
		subs  []*Subscription[int]
		order []string
		errs  []string
	)
	b := New(WithHooks(Hooks{Ended: func(e EndEvent) {
		order = append(order, e.Subscriber)
		for _, s := range subs {
			later := s.Name() > e.Subscriber
			if later != isClosed(s) {
				errs = append(errs, fmt.Sprintf("when %s ended, %s closed=%v", e.Subscriber, s.Name(), !later))
			}
		}
	}}))
	top := mustTopic[int](t, b, "order")
	for i := range 5 {
		subs = append(subs, mustSub(t, top, Name(fmt.Sprint("s", i))))
	}
	if err := b.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if want := []string{"s4", "s3", "s2", "s1", "s0"}; !slices.Equal(order, want) {
		t.Errorf("ended in order %v, want %v", order, want)
	}
	for _, e := range errs {
		t.Error(e)
	}
	for _, s := range subs {
		if !isClosed(s) || !errors.Is(s.Err(), ErrClosed) {
			t.Errorf("%s: closed=%v Err=%v", s.Name(), isClosed(s), s.Err())
		}
	}
}

// TestCloseDeadline: when Close's context ends first, it reports per
// subscriber what was left, and counts it as dropped with reason shutdown.
func TestCloseDeadline(t *testing.T) {
	b := New()
	top := mustTopic[int](t, b, "deadline")
	ch := mustSub(t, top, Buffer(8), Name("unread"))
	started := make(chan struct{})
	var ctxErr atomic.Value
	if _, err := top.Handle(testCtx(t), func(ctx context.Context, v int) error {
		if v == 0 {
			close(started)
			<-ctx.Done() // handlers' contexts end when Close gives up
			ctxErr.Store(ctx.Err())
			return ctx.Err()
		}
		return nil
	}, Name("stuck"), Buffer(8)); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 0)
	await(t, started, "started")
	mustPublish(t, top, 1, 2, 3, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := b.Close(ctx)
	var se *ShutdownError
	if !errors.As(err, &se) {
		t.Fatalf("Close = %v, want a *ShutdownError", err)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(se.Cause, context.Canceled) {
		t.Errorf("ShutdownError does not carry the context's error: %v", err)
	}
	want := []Leftover{
		{Topic: "deadline", Subscriber: "unread", Count: 5},
		{Topic: "deadline", Subscriber: "stuck", Count: 4},
	}
	if !slices.Equal(se.Leftovers, want) {
		t.Errorf("Leftovers %+v, want %+v", se.Leftovers, want)
	}
	for _, s := range []string{"deadline/unread lost 5", "deadline/stuck lost 4", "shutdown deadline hit"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q does not say %q", err, s)
		}
	}
	if e, _ := ctxErr.Load().(error); !errors.Is(e, context.Canceled) {
		t.Errorf("handler's context ended with %v", e)
	}
	if n := waitClosed(t, ch); n != 0 {
		t.Errorf("%d messages were still readable after Close counted them as dropped", n)
	}
	for _, name := range []string{"unread", "stuck"} {
		st := subStats(t, b, "deadline", name)
		if st.Active || st.Dropped[ReasonShutdown] == 0 {
			t.Errorf("%s: %+v", name, st)
		}
	}
	if st := subStats(t, b, "deadline", "stuck"); st.Dropped[ReasonShutdown] != 4 || st.Delivered != 1 || st.Failed != 1 {
		t.Errorf("stuck: %+v", st)
	}
	checkBalance(t, b.Stats())
}

// TestCloseKillGrace: a handler that ignores its context is reported as
// still running once the grace period is over, and Close returns anyway.
func TestCloseKillGrace(t *testing.T) {
	b := New(KillGrace(time.Millisecond))
	top := mustTopic[int](t, b, "grace")
	started, release := make(chan struct{}), make(chan struct{})
	s, err := top.Handle(testCtx(t), func(context.Context, int) error {
		close(started)
		<-release // ignores its context
		return nil
	}, Name("stubborn"))
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 1)
	await(t, started, "started")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err = b.Close(ctx)
	var se *ShutdownError
	if !errors.As(err, &se) || len(se.Leftovers) != 1 || !se.Leftovers[0].Running || se.Leftovers[0].Subscriber != "stubborn" {
		t.Fatalf("Close = %#v, want a leftover for the running handler", err)
	}
	if !strings.Contains(err.Error(), "grace/stubborn lost 0 (handler still running)") {
		t.Errorf("error %q", err)
	}
	close(release)
	waitDone(t, s) // its worker goroutine is gone too (goleak checks)
}

// TestCloseTwice: a second Close, also a concurrent one, waits for the first
// and returns nil.
func TestCloseTwice(t *testing.T) {
	b := New()
	top := mustTopic[int](t, b, "twice")
	s := mustSub(t, top)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = b.Close(testCtx(t))
			if !isClosed(s) {
				t.Error("a Close returned before the channel was closed")
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if err := b.Close(testCtx(t)); err != nil {
		t.Error(err)
	}
}

// TestCloseDuringDrain: while the bus drains, publishes and subscriptions
// from outside handlers get ErrClosed.
func TestCloseDuringDrain(t *testing.T) {
	b := New()
	top := mustTopic[int](t, b, "during")
	probe := mustTopic[struct{}](t, b, "during.probe")
	s := mustSub(t, top, Buffer(1))
	mustPublish(t, top, 1) // keeps the bus draining until read
	closed := closeAsync(testCtx(t), t, b, probe)
	if err := top.Publish(testCtx(t), 2); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish while draining: %v", err)
	}
	if err := top.PublishSync(testCtx(t), 2); !errors.Is(err, ErrClosed) {
		t.Errorf("PublishSync while draining: %v", err)
	}
	if _, err := top.Subscribe(testCtx(t)); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe while draining: %v", err)
	}
	if v := recv(t, s).Value; v != 1 {
		t.Errorf("got %d", v)
	}
	if err := await(t, closed, "closed"); err != nil {
		t.Fatal(err)
	}
}

// TestWaitIdle: WaitIdle returns once every handler of a chain has run, and
// gives up with its context.
func TestWaitIdle(t *testing.T) {
	b := newBus(t)
	a, c := mustTopic[int](t, b, "idle.a"), mustTopic[int](t, b, "idle.c")
	gate := make(chan struct{})
	var done int // written by C's handler; WaitIdle orders the read after it
	if _, err := a.Handle(testCtx(t), func(ctx context.Context, v int) error {
		<-gate
		return c.Publish(ctx, v)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Handle(testCtx(t), func(context.Context, int) error { done++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitIdle(testCtx(t)); err != nil {
		t.Fatalf("WaitIdle on an idle bus: %v", err)
	}
	mustPublish(t, a, seq(0, 50)...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.WaitIdle(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitIdle with a busy handler and an ended context: %v", err)
	}
	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := b.WaitIdle(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitIdle with a busy handler: %v", err)
	}
	close(gate)
	waitIdle(t, b)
	if done != 50 {
		t.Errorf("WaitIdle returned after %d of 50 messages", done)
	}
}
