package torture

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// deadLetters counts the dead letters of one topic and checks them.
type deadLetterSink[T any] struct {
	mu  sync.Mutex
	got []handlers.DeadLetter[T]
}

func (d *deadLetterSink[T]) handle(_ context.Context, dl handlers.DeadLetter[T]) error {
	d.mu.Lock()
	d.got = append(d.got, dl)
	d.mu.Unlock()
	return nil
}

func (d *deadLetterSink[T]) list() []handlers.DeadLetter[T] {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.got)
}

// TestPanickingHandlers: handlers that panic, on the bus directly and
// through package handlers (with retries and dead letters), one call at a
// time and several at once. No panic escapes; each is a failed call in
// Stats, a *bus.PanicError for PublishSync, and a dead letter when the
// handler gives up; the other messages are handled.
func TestPanickingHandlers(t *testing.T) {
	const n = 300
	ctx := deadline(t, testTimeout)
	b := bus.New()
	top, err := bus.NewTopic[int](b, "panics")
	if err != nil {
		t.Fatal(err)
	}
	panicky := func(_ context.Context, v int) error {
		if v%3 == 0 {
			panic(fmt.Sprint("boom ", v))
		}
		return nil
	}
	for _, conc := range []int{1, 4} {
		if _, err := top.Handle(ctx, panicky, bus.Name(fmt.Sprint("bare-", conc)), bus.Concurrency(conc)); err != nil {
			t.Fatal(err)
		}
	}
	// Through package handlers: retried once, then dead-lettered.
	var attempts atomic.Int64
	reg := handlers.RegisterFunc("panics", func(ctx context.Context, v int) error {
		attempts.Add(1)
		return panicky(ctx, v)
	}, bus.Name("retried"), bus.Concurrency(3), handlers.Retry(2, handlers.Backoff(time.Microsecond, time.Microsecond)))
	if _, err := reg.Subscribe(ctx, b); err != nil {
		t.Fatal(err)
	}
	var dead deadLetterSink[int]
	if _, err := bus.Handle(ctx, b, "panics"+handlers.DeadLetterSuffix, dead.handle, bus.Name("dead")); err != nil {
		t.Fatal(err)
	}

	for i := range n {
		if i == 3 {
			// PublishSync reports the panics of the message's handlers.
			err := top.PublishSync(ctx, i)
			var pe *bus.PanicError
			if !errors.As(err, &pe) || pe.Value != "boom 3" || len(pe.Stack) == 0 {
				t.Errorf("PublishSync of a message whose handlers panic = %v, want a *bus.PanicError with the value and stack", err)
			}
			continue
		}
		if err := top.Publish(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	checkBalance(t, st)
	for _, name := range []string{"bare-1", "bare-4", "retried"} {
		s := subStats(t, st, "panics", name)
		if s.Delivered != n || s.Failed != n/3 || s.Dropped.Total() != 0 {
			t.Errorf("%s: delivered %d, failed %d, dropped %v; want %d, %d, none", name, s.Delivered, s.Failed, s.Dropped, n, n/3)
		}
	}
	if got, want := attempts.Load(), int64(n+n/3); got != want {
		t.Errorf("the retried handler ran %d times, want %d (a second attempt for each panic)", got, want)
	}
	dls := dead.list()
	if len(dls) != n/3 {
		t.Errorf("%d dead letters, want %d", len(dls), n/3)
	}
	for _, dl := range dls {
		var pe *bus.PanicError
		if dl.Attempts != 2 || dl.Message%3 != 0 || dl.Subscriber != "retried" || !errors.As(dl.Cause, &pe) {
			t.Errorf("dead letter %+v: want 2 attempts, a multiple of 3, subscriber retried and a *bus.PanicError", dl)
		}
	}
	if err := closeBus(t, b, testTimeout); err != nil {
		t.Errorf("Close: %v", err)
	}
	goleak.VerifyNone(t)
}

// TestHandlersPastTheirTimeout: a handler that honours its context is cut
// off at its Timeout, fails with handlers.ErrTimeout, and is dead-lettered;
// one that ignores its context cannot be cut off, so Close, at its deadline,
// cancels the handlers' contexts, waits KillGrace, and reports the handler
// as still running with what it had queued counted as dropped at shutdown.
func TestHandlersPastTheirTimeout(t *testing.T) {
	t.Run("honours its context", func(t *testing.T) {
		const n = 20
		ctx := deadline(t, testTimeout)
		b := bus.New()
		top, err := bus.NewTopic[int](b, "slow")
		if err != nil {
			t.Fatal(err)
		}
		reg := handlers.RegisterFunc("slow", func(ctx context.Context, v int) error {
			<-ctx.Done() // hangs until its Timeout
			return ctx.Err()
		}, bus.Name("hangs"), handlers.Timeout(2*time.Millisecond), bus.Concurrency(4))
		if _, err := reg.Subscribe(ctx, b); err != nil {
			t.Fatal(err)
		}
		var dead deadLetterSink[int]
		if _, err := bus.Handle(ctx, b, "slow"+handlers.DeadLetterSuffix, dead.handle, bus.Name("dead")); err != nil {
			t.Fatal(err)
		}
		if err := top.PublishSync(ctx, -1); !errors.Is(err, handlers.ErrTimeout) {
			t.Errorf("PublishSync to a handler that times out = %v, want handlers.ErrTimeout", err)
		}
		for i := range n {
			if err := top.Publish(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		st := b.Stats()
		checkBalance(t, st)
		if s := subStats(t, st, "slow", "hangs"); s.Delivered != n+1 || s.Failed != n+1 {
			t.Errorf("hangs: delivered %d, failed %d, want %d each", s.Delivered, s.Failed, n+1)
		}
		if dls := dead.list(); len(dls) != n+1 || !errors.Is(dls[0].Cause, handlers.ErrTimeout) {
			t.Errorf("%d dead letters (first %+v), want %d for timeouts", len(dls), dls[:min(1, len(dls))], n+1)
		}
		if err := closeBus(t, b, testTimeout); err != nil {
			t.Errorf("Close: %v", err)
		}
		goleak.VerifyNone(t)
	})

	t.Run("ignores its context", func(t *testing.T) {
		const queued = 10
		ctx := deadline(t, testTimeout)
		b := bus.New(bus.KillGrace(20 * time.Millisecond))
		top, err := bus.NewTopic[int](b, "stuck")
		if err != nil {
			t.Fatal(err)
		}
		started, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		reg := handlers.RegisterFunc("stuck", func(context.Context, int) error {
			once.Do(func() { close(started) })
			<-release // ignores its context: no timeout can stop it
			return nil
		}, bus.Name("stuck"), handlers.Timeout(time.Millisecond), handlers.NoDeadLetters())
		s, err := reg.Subscribe(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		// The first message starts the handler; the others wait in the
		// queue behind it.
		if err := top.Publish(ctx, 0); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, ctx, started, "the first call")
		for i := range queued {
			if err := top.Publish(ctx, i+1); err != nil {
				t.Fatal(err)
			}
		}
		closeStart := time.Now()
		err = closeBus(t, b, 50*time.Millisecond)
		if took := time.Since(closeStart); took > 5*time.Second {
			t.Errorf("Close took %v with a 50ms deadline and 20ms KillGrace", took)
		}
		var se *bus.ShutdownError
		if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close = %v, want a *bus.ShutdownError for the deadline", err)
		}
		want := []bus.Leftover{{Topic: "stuck", Subscriber: "stuck", Count: queued, Running: true}}
		if !slices.Equal(se.Leftovers, want) {
			t.Errorf("leftovers %+v, want %+v", se.Leftovers, want)
		}
		if err := top.Publish(ctx, 99); !errors.Is(err, bus.ErrClosed) {
			t.Errorf("Publish after Close = %v, want bus.ErrClosed", err)
		}
		close(release)
		waitClosed(t, ctx, s.Done(), "the stuck handler's end once released")
		st := b.Stats()
		checkBalance(t, st)
		if ss := subStats(t, st, "stuck", "stuck"); ss.Dropped[bus.ReasonShutdown] != queued || ss.Delivered != 1 {
			t.Errorf("stats %+v, want 1 delivered and %d dropped at shutdown", ss, queued)
		}
		goleak.VerifyNone(t)
	})
}

// TestPublishingLoops: handlers that publish from their own calls, in
// chains bounded by a counter (to their own topic and back and forth
// between two), and without bound, kept in check only by DropNewest. The
// bounded chains finish exactly; the unbounded one never lets the bus go
// idle, so Close hits its deadline and reports, and every message is
// accounted for.
func TestPublishingLoops(t *testing.T) {
	t.Run("bounded", func(t *testing.T) {
		const seeds, hops = 20, 50
		ctx := deadline(t, testTimeout)
		b := bus.New()
		self, err := bus.NewTopic[int](b, "loop.self")
		if err != nil {
			t.Fatal(err)
		}
		ping, err := bus.NewTopic[int](b, "loop.ping")
		if err != nil {
			t.Fatal(err)
		}
		pong, err := bus.NewTopic[int](b, "loop.pong")
		if err != nil {
			t.Fatal(err)
		}
		var handled atomic.Int64
		relay := func(to *bus.Topic[int]) func(context.Context, int) error {
			return func(ctx context.Context, v int) error {
				handled.Add(1)
				if v == 0 {
					return nil
				}
				return to.Publish(ctx, v-1) // from a handler: never deadlocks (the queues have room)
			}
		}
		// Each chain has at most two messages alive at once, so a Buffer
		// of 64 never makes a handler wait on its own queue.
		if _, err := self.Handle(ctx, relay(self), bus.Name("self"), bus.Concurrency(4), bus.Buffer(64)); err != nil {
			t.Fatal(err)
		}
		if _, err := ping.Handle(ctx, relay(pong), bus.Name("ping"), bus.Buffer(64)); err != nil {
			t.Fatal(err)
		}
		if _, err := pong.Handle(ctx, relay(ping), bus.Name("pong"), bus.Buffer(64)); err != nil {
			t.Fatal(err)
		}
		for range seeds {
			if err := self.Publish(ctx, hops); err != nil {
				t.Fatal(err)
			}
			if err := ping.Publish(ctx, hops); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		if got, want := handled.Load(), int64(2*seeds*(hops+1)); got != want {
			t.Errorf("handled %d messages, want %d", got, want)
		}
		st := b.Stats()
		checkBalance(t, st)
		for _, s := range st.Subscriptions {
			if s.Failed != 0 || s.Dropped.Total() != 0 {
				t.Errorf("%s: failed %d, dropped %v", s.Name, s.Failed, s.Dropped)
			}
		}
		if err := closeBus(t, b, testTimeout); err != nil {
			t.Errorf("Close: %v", err)
		}
		goleak.VerifyNone(t)
	})

	t.Run("unbounded, DropNewest", func(t *testing.T) {
		const buffer = 32
		ctx := deadline(t, testTimeout)
		b := bus.New(bus.KillGrace(time.Second))
		top, err := bus.NewTopic[int](b, "loop.forever")
		if err != nil {
			t.Fatal(err)
		}
		var handled, refused atomic.Int64
		defer func() { t.Logf("%d handled; %d publishes refused by the closing bus", handled.Load(), refused.Load()) }()
		enough := make(chan struct{})
		if _, err := top.Handle(ctx, func(ctx context.Context, v int) error {
			if handled.Add(1) == 20000 {
				close(enough)
			}
			for range 2 { // doubles at every step: only the policy bounds it
				if err := top.Publish(ctx, v+1); err != nil {
					if !errors.Is(err, bus.ErrClosed) {
						return err
					}
					refused.Add(1)
				}
			}
			return nil
		}, bus.Name("forever"), bus.Concurrency(2), bus.Buffer(buffer), bus.WithPolicy(bus.DropNewest())); err != nil {
			t.Fatal(err)
		}
		if err := top.Publish(ctx, 0); err != nil {
			t.Fatal(err)
		}
		for range 3 { // the queue never grows past its Buffer
			if s := subStats(t, b.Stats(), "loop.forever", "forever"); s.Queued > buffer+2 {
				t.Errorf("%d queued (handled included) with a Buffer of %d", s.Queued, buffer)
			}
		}
		waitClosed(t, ctx, enough, "20000 handled messages")
		err = closeBus(t, b, 100*time.Millisecond)
		var se *bus.ShutdownError
		if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close of a bus whose handler publishes forever = %v, want a *bus.ShutdownError for the deadline", err)
		}
		st := b.Stats()
		checkBalance(t, st)
		s := subStats(t, st, "loop.forever", "forever")
		if s.Dropped[bus.ReasonFull] == 0 || s.Failed != 0 {
			t.Errorf("stats %+v: want drops for a full queue and no failed call", s)
		}
		var lost uint64
		for _, l := range se.Leftovers {
			lost += l.Count
		}
		if lost != s.Dropped[bus.ReasonShutdown] {
			t.Errorf("the ShutdownError counts %d lost, Stats %d dropped at shutdown", lost, s.Dropped[bus.ReasonShutdown])
		}
		goleak.VerifyNone(t)
	})
}

// TestDrainDeadline: Close's deadline passes while the bus drains a
// backlog. Close returns within its deadline plus KillGrace, reports per
// subscriber what it dropped, and the counts agree with Stats: a slow
// handler, a channel nobody reads, and a fast handler that drained in time.
func TestDrainDeadline(t *testing.T) {
	const n = 200
	ctx := deadline(t, testTimeout)
	b := bus.New(bus.KillGrace(50 * time.Millisecond))
	top, err := bus.NewTopic[int](b, "backlog")
	if err != nil {
		t.Fatal(err)
	}
	step := make(chan struct{})
	if _, err := top.Handle(ctx, func(ctx context.Context, _ int) error {
		select { // one message per step, or until the bus gives up
		case <-step:
		case <-ctx.Done():
		}
		return nil
	}, bus.Name("slow"), bus.Buffer(n)); err != nil {
		t.Fatal(err)
	}
	unread, err := top.Subscribe(ctx, bus.Name("unread"), bus.Buffer(n))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := top.Handle(ctx, func(context.Context, int) error { return nil }, bus.Name("fast"), bus.Buffer(n)); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := top.Publish(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		step <- struct{}{}
	}
	start := time.Now()
	err = closeBus(t, b, 100*time.Millisecond)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Close took %v with a 100ms deadline and a 50ms KillGrace", took)
	}
	var se *bus.ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want a *bus.ShutdownError for the deadline", err)
	}
	st := b.Stats()
	checkBalance(t, st)
	got := map[string]uint64{}
	for _, l := range se.Leftovers {
		got[l.Subscriber] = l.Count
		if l.Running {
			t.Errorf("%s reported running: its handler honours its context", l.Subscriber)
		}
	}
	for _, name := range []string{"slow", "unread", "fast"} {
		s := subStats(t, st, "backlog", name)
		if got[name] != s.Dropped[bus.ReasonShutdown] || s.Dropped.Total() != s.Dropped[bus.ReasonShutdown] {
			t.Errorf("%s: the ShutdownError says %d lost, Stats %v", name, got[name], s.Dropped)
		}
	}
	if got["unread"] != n || got["fast"] != 0 || got["slow"] == 0 || got["slow"] >= n-5 {
		t.Errorf("leftovers %v: want all %d of unread, none of fast, and the slow handler's backlog", got, n)
	}
	if _, ok := <-unread.C; ok {
		t.Error("the unread channel still yields a message after Close")
	}
	goleak.VerifyNone(t)
}

// TestCloseRaces: Close while publishers, synchronous publishers and
// subscribers are in flight, Close called twice and at once, and every
// call after Close. Nothing panics or hangs; every call after Close is
// ErrClosed; every channel is closed; every message is accounted for.
func TestCloseRaces(t *testing.T) {
	for round := range 20 {
		closeRacesRound(t, round)
		if t.Failed() {
			return
		}
	}
	goleak.VerifyNone(t)
}

func closeRacesRound(t *testing.T, round int) {
	ctx := deadline(t, testTimeout)
	b := bus.New(bus.KillGrace(100 * time.Millisecond))
	top, err := bus.NewTopic[int](b, "race")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := top.Handle(ctx, func(context.Context, int) error { return nil }, bus.Name("h"), bus.Concurrency(2), bus.Buffer(8)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	progress := make(chan struct{}, 64)
	var bad limiter
	bad.t = t
	for p := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				var err error
				if p == 0 {
					err = top.PublishSync(ctx, i)
				} else {
					err = top.Publish(ctx, i)
				}
				select {
				case progress <- struct{}{}:
				default:
				}
				if errors.Is(err, bus.ErrClosed) {
					return
				}
				if err != nil {
					var de *bus.DropError
					if !errors.As(err, &de) || de.Reason != bus.ReasonShutdown {
						bad.Errorf("round %d: publish: %v", round, err)
						return
					}
				}
			}
		})
	}
	for g := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				s, err := bus.Subscribe[int](ctx, b, "race", bus.Name(fmt.Sprintf("s%d-%d", g, i)), bus.Buffer(4), bus.WithPolicy(bus.DropOldest()))
				if errors.Is(err, bus.ErrClosed) {
					return
				}
				if err != nil {
					bad.Errorf("round %d: subscribe: %v", round, err)
					return
				}
				n := 0
				for range s.C {
					if n++; n == 3 {
						s.Close()
					}
				}
				if err := s.Err(); !errors.Is(err, bus.ErrUnsubscribed) && !errors.Is(err, bus.ErrClosed) {
					bad.Errorf("round %d: subscription ended with %v", round, err)
				}
			}
		})
	}
	for range 32 {
		waitClosed(t, ctx, progress, "publishes before Close")
	}
	errs := make(chan error, 2)
	for range 2 { // at once
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			errs <- b.Close(cctx)
		}()
	}
	for range 2 {
		select {
		case err := <-errs:
			var se *bus.ShutdownError
			if err != nil && (!errors.As(err, &se) || se.Cause != nil) {
				// Publishes racing with Close may be reported; a drain
				// that ran out of time may not.
				t.Errorf("round %d: Close = %v", round, err)
			}
		case <-ctx.Done():
			t.Fatalf("round %d: Close did not return", round)
		}
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("round %d: Close again = %v, want nil", round, err)
	}
	waitGroup(t, ctx, &wg, "publishers and subscribers after Close")
	for name, err := range map[string]error{
		"Publish":     top.Publish(ctx, 1),
		"PublishSync": top.PublishSync(ctx, 1),
		"Subscribe":   second(bus.Subscribe[int](ctx, b, "race")),
		"Handle":      second(top.Handle(ctx, func(context.Context, int) error { return nil })),
		"NewTopic":    second(bus.NewTopic[int](b, "race.new")),
	} {
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("%s after Close = %v, want bus.ErrClosed", name, err)
		}
	}
	st := b.Stats()
	checkBalance(t, st)
	for _, s := range st.Subscriptions {
		if s.Active || s.Queued != 0 {
			t.Errorf("round %d: %s active %v, queued %d after Close", round, s.Name, s.Active, s.Queued)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestShutdownReportsStuckBatch: a handler that ignores its context is
// stuck on the first message of the batch its activation took. When Close
// gives up, the ShutdownError must count the rest of that batch as lost
// (they will never be handled: once the handler returns they are dropped
// with ReasonShutdown), not report "lost 0" while Stats later counts them.
func TestShutdownReportsStuckBatch(t *testing.T) {
	const queued = 10
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // the worker takes its batch after the publishes
	ctx := deadline(t, testTimeout)
	b := bus.New(bus.KillGrace(20 * time.Millisecond))
	top, err := bus.NewTopic[int](b, "stuck")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s, err := top.Handle(ctx, func(context.Context, int) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	}, bus.Name("stuck"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range queued + 1 {
		if err := top.Publish(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	waitClosed(t, ctx, started, "the first call")
	err = closeBus(t, b, 50*time.Millisecond)
	close(release)
	waitClosed(t, ctx, s.Done(), "the stuck handler's end once released")
	var se *bus.ShutdownError
	if !errors.As(err, &se) {
		t.Fatalf("Close = %v, want a *bus.ShutdownError", err)
	}
	ss := subStats(t, b.Stats(), "stuck", "stuck")
	want := []bus.Leftover{{Topic: "stuck", Subscriber: "stuck", Count: ss.Dropped[bus.ReasonShutdown], Running: true}}
	if ss.Dropped[bus.ReasonShutdown] != queued || !slices.Equal(se.Leftovers, want) {
		t.Errorf("ShutdownError leftovers %+v; Stats afterwards: %v dropped; want %d lost, reported", se.Leftovers, ss.Dropped, queued)
	}
	goleak.VerifyNone(t)
}
