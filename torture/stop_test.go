package torture

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/decl"
	"github.com/fxbus/fxbus/lifecycle"
)

// jobApp is an fx app with fxbus.Module, the topic "jobs" and the handlers
// given, and what a test needs from its graph.
type jobApp struct {
	app  *fxtest.App
	bus  *bus.Bus
	jobs fxbus.Publisher[Job]
}

func newJobApp(t *testing.T, opts ...fx.Option) *jobApp {
	var a jobApp
	a.app = fxtest.New(t, append([]fx.Option{
		fx.NopLogger,
		fxbus.Module,
		fxbus.Topic[Job]("jobs"),
		fx.Populate(&a.bus, &a.jobs),
	}, opts...)...)
	return &a
}

// TestStopWhileBusy stops an fx app while publishers publish, synchronous
// publishers wait for handlers, and subscribers come and go. Stop returns
// (nil, or a report of the publishes that raced with it, never a drain
// deadline), every goroutine ends, every call after Stop is ErrClosed, and
// every message is accounted for.
func TestStopWhileBusy(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			ctx := deadline(t, testTimeout)
			var handled atomic.Int64
			a := newJobApp(t, handlers.Supply(
				handlers.RegisterFunc("jobs", func(context.Context, Job) error { handled.Add(1); return nil },
					bus.Name("worker"), bus.Concurrency(2), bus.Buffer(16)),
				handlers.RegisterFunc("jobs", func(context.Context, Job) error { return nil },
					bus.Name("queue"), bus.QueueGroup("q"), bus.Buffer(4)),
			))
			a.app.RequireStart()
			bad := &limiter{t: t}
			var wg sync.WaitGroup
			progress := make(chan struct{}, 1)
			for p := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						var err error
						if p == 0 {
							err = a.jobs.PublishSync(ctx, Job{i})
						} else {
							err = a.jobs.Publish(ctx, Job{i})
						}
						if i == 100 {
							select {
							case progress <- struct{}{}:
							default:
							}
						}
						if errors.Is(err, bus.ErrClosed) {
							return
						}
						var de *bus.DropError
						if err != nil && !(errors.As(err, &de) && de.Reason == bus.ReasonShutdown) {
							bad.Errorf("publish: %v", err)
							return
						}
					}
				})
			}
			for g := range 2 {
				wg.Go(func() {
					for i := 0; ; i++ {
						sctx, cancel := context.WithCancel(ctx)
						s, err := bus.Subscribe[Job](sctx, a.bus, "jobs", bus.Name(fmt.Sprintf("sub%d-%d", g, i)), bus.Buffer(2))
						if err != nil {
							cancel()
							if !errors.Is(err, bus.ErrClosed) {
								bad.Errorf("subscribe: %v", err)
							}
							return
						}
						n := 0
						for range s.C { // Block: read until the channel closes
							if n++; n == 5 {
								cancel()
							}
						}
						cancel()
					}
				})
			}
			waitClosed(t, ctx, progress, "101 publishes")
			stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			err := a.app.Stop(stopCtx)
			var se *bus.ShutdownError
			if err != nil && (!errors.As(err, &se) || se.Cause != nil) {
				t.Errorf("Stop = %v, want nil or a report of publishes that raced with it", err)
			}
			waitGroup(t, ctx, &wg, "publishers and subscribers after Stop")
			if err := a.jobs.Publish(ctx, Job{}); !errors.Is(err, bus.ErrClosed) {
				t.Errorf("Publish after Stop = %v, want bus.ErrClosed", err)
			}
			if err := a.jobs.PublishSync(ctx, Job{}); !errors.Is(err, bus.ErrClosed) {
				t.Errorf("PublishSync after Stop = %v, want bus.ErrClosed", err)
			}
			if _, err := bus.Subscribe[Job](ctx, a.bus, "jobs"); !errors.Is(err, bus.ErrClosed) {
				t.Errorf("Subscribe after Stop = %v, want bus.ErrClosed", err)
			}
			st := a.bus.Stats()
			checkBalance(t, st)
			for _, s := range st.Subscriptions {
				if s.Active || s.Queued != 0 {
					t.Errorf("%s: active %v, queued %d after Stop", s.Name, s.Active, s.Queued)
				}
			}
			w := subStats(t, st, "jobs", "worker")
			if uint64(handled.Load()) != w.Delivered || w.Delivered == 0 {
				t.Errorf("worker handled %d, Stats says %d delivered", handled.Load(), w.Delivered)
			}
			goleak.VerifyNone(t)
		})
	}
}

// TestStopTwice: a second Stop, after the first or at the same time,
// returns without error and without waiting forever; so does a lifecycle
// Runner's Stop called twice.
func TestStopTwice(t *testing.T) {
	t.Run("app, one after the other", func(t *testing.T) {
		ctx := deadline(t, testTimeout)
		a := newJobApp(t)
		a.app.RequireStart()
		if err := a.app.Stop(ctx); err != nil {
			t.Fatalf("Stop: %v", err)
		}
		if err := a.app.Stop(ctx); err != nil {
			t.Errorf("second Stop: %v", err)
		}
		goleak.VerifyNone(t)
	})
	t.Run("app, at the same time", func(t *testing.T) {
		ctx := deadline(t, testTimeout)
		a := newJobApp(t)
		a.app.RequireStart()
		errs := make(chan error, 2)
		for range 2 {
			go func() { errs <- a.app.Stop(ctx) }()
		}
		for range 2 {
			select {
			case err := <-errs:
				if err != nil {
					t.Errorf("Stop: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("Stop did not return")
			}
		}
		if err := a.jobs.Publish(ctx, Job{}); !errors.Is(err, bus.ErrClosed) {
			t.Errorf("Publish after Stop = %v, want bus.ErrClosed", err)
		}
		goleak.VerifyNone(t)
	})
	t.Run("lifecycle.Runner", func(t *testing.T) {
		ctx := deadline(t, testTimeout)
		b := bus.New()
		var handled atomic.Int64
		r := lifecycle.New(b, []handlers.Registration{
			handlers.RegisterFunc("jobs", func(context.Context, Job) error { handled.Add(1); return nil }, bus.Name("h")),
		}, lifecycle.Options{Topics: []decl.Declaration{decl.Declare[Job]("jobs")}})
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		top, err := bus.NewTopic[Job](b, "jobs")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			if err := top.Publish(ctx, Job{i}); err != nil {
				t.Fatal(err)
			}
		}
		errs := make(chan error, 3)
		for range 2 {
			go func() { errs <- r.Stop(ctx) }()
		}
		for range 2 {
			select {
			case err := <-errs:
				if err != nil {
					t.Errorf("Stop: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("Stop did not return")
			}
		}
		if err := r.Stop(ctx); err != nil {
			t.Errorf("third Stop: %v", err)
		}
		if handled.Load() != 100 {
			t.Errorf("handled %d of 100 messages published before Stop", handled.Load())
		}
		goleak.VerifyNone(t)
	})
}

// TestStopDeadlineInFx: the app's stop deadline (Config.DrainTimeout) passes
// while the bus drains, because a handler publishes to its own topic without
// end. app.Stop returns the bus's report, which names the subscriber, and
// leaves no goroutine behind.
func TestStopDeadlineInFx(t *testing.T) {
	ctx := deadline(t, testTimeout)
	var jobs fxbus.Publisher[Job]
	enough := make(chan struct{})
	var handled atomic.Int64
	a := newJobApp(t,
		fx.Supply(fxbus.Config{DrainTimeout: 100 * time.Millisecond, KillGrace: 50 * time.Millisecond}),
		fx.Populate(&jobs),
		handlers.Supply(handlers.RegisterFunc("jobs", func(ctx context.Context, j Job) error {
			if handled.Add(1) == 1000 {
				close(enough)
			}
			_ = jobs.Publish(ctx, Job{j.N + 1}) // ErrClosed once the bus closes
			return jobs.Publish(ctx, Job{j.N + 1})
		}, bus.Name("forever"), handlers.NoDeadLetters(), bus.WithPolicy(bus.DropNewest()), bus.Buffer(16))),
	)
	a.app.RequireStart()
	if err := a.jobs.Publish(ctx, Job{}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ctx, enough, "1000 handled messages")
	stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	err := a.app.Stop(stopCtx)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Stop took %v with a DrainTimeout of 100ms", took)
	}
	var se *bus.ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want the bus's *bus.ShutdownError for the drain deadline", err)
	}
	if !strings.Contains(err.Error(), "jobs/forever lost") {
		t.Errorf("Stop's error %q does not name the subscriber", err)
	}
	st := a.bus.Stats()
	checkBalance(t, st)
	s := subStats(t, st, "jobs", "forever")
	var lost uint64
	for _, l := range se.Leftovers {
		lost += l.Count
	}
	if lost != s.Dropped[bus.ReasonShutdown] {
		t.Errorf("the report says %d lost, Stats %d dropped at shutdown", lost, s.Dropped[bus.ReasonShutdown])
	}
	goleak.VerifyNone(t)
}
