package fxtest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/metrics"
)

func supply(regs ...handlers.Registration) fx.Option { return handlers.Supply(regs...) }

// TestNewSynchronous: by default Publish returns once the handlers have run,
// with their errors.
func TestNewSynchronous(t *testing.T) {
	spy := new(fxtest.Spy[Order])
	flaky := fxtest.NewFlaky[Order](1, nil)
	var orders fxbus.Publisher[Order]
	app := fxtest.New(t,
		fxbus.Topic[Order]("orders"),
		supply(
			handlers.Register[Order]("orders", spy, bus.Name("spy")),
			handlers.Register[Order]("orders", flaky, bus.Name("flaky"), handlers.NoDeadLetters()),
		),
		fx.Populate(&orders),
	)
	if !app.Bus().Synchronous() {
		t.Fatal("the bus is not synchronous")
	}
	ctx := testContext(t)
	if err := orders.Publish(ctx, Order{ID: "a"}); !errors.Is(err, fxtest.ErrInjected) {
		t.Errorf("first Publish = %v, want the flaky handler's fxtest.ErrInjected", err)
	}
	if got := spy.Len(); got != 1 {
		t.Errorf("right after Publish the spy has %d calls, want 1", got)
	}
	if err := orders.Publish(ctx, Order{ID: "b"}); err != nil {
		t.Errorf("second Publish = %v, want nil", err)
	}
	if got := fmt.Sprint(spy.Values()); got != "[{a 0} {b 0}]" {
		t.Errorf("spy values %s", got)
	}
}

// TestNewAsync: with Async, Publish does not wait for the handlers.
func TestNewAsync(t *testing.T) {
	blk := new(fxtest.Blocker[Job])
	var jobs fxbus.Publisher[Job]
	app := fxtest.New(t,
		fxtest.Async(),
		fxbus.Topic[Job]("jobs"),
		supply(handlers.Register[Job]("jobs", blk)),
		fx.Populate(&jobs),
	)
	t.Cleanup(blk.ReleaseAll) // runs before the app stops
	if app.Bus().Synchronous() {
		t.Fatal("the bus is synchronous with fxtest.Async")
	}
	// The handler blocks, yet Publish returns.
	if err := jobs.Publish(testContext(t), Job{N: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-blk.Started():
		if v.N != 1 {
			t.Errorf("started with %v", v)
		}
	case <-testContext(t).Done():
		t.Fatal("the handler did not start")
	}
	if blk.Len() != 0 || blk.Running() != 1 {
		t.Errorf("%d calls returned and %d running, want 0 and 1", blk.Len(), blk.Running())
	}
	blk.Release()
	if calls := blk.WaitN(app, 1); calls[0].Err != nil || calls[0].Topic != "jobs" {
		t.Errorf("call %+v", calls[0])
	}
	app.WaitIdle()
}

// TestNewWithModule: options that bring fxbus.Module themselves (an app's
// own module) work as they are.
func TestNewWithModule(t *testing.T) {
	for name, opt := range map[string]fx.Option{
		"fxbus.Module":        fxbus.Module,
		"inside a module":     fx.Module("app", fxbus.Module),
		"inside fx.Options":   fx.Options(fx.Options(fxbus.Module)),
		"added by fxtest.New": fx.Options(),
	} {
		t.Run(name, func(t *testing.T) {
			spy := new(fxtest.Spy[Job])
			app := fxtest.New(t, opt, fxbus.Topic[Job]("jobs"), supply(handlers.Register[Job]("jobs", spy)))
			fxtest.RequirePublish(app, "jobs", Job{N: 1})
			if spy.Len() != 1 {
				t.Errorf("the handler ran %d times, want 1 (synchronous mode)", spy.Len())
			}
		})
	}
}

// TestNewFailures: an app that does not build or start fails the test with
// fx's error, which names the culprit, and ends it (FailNow).
func TestNewFailures(t *testing.T) {
	ok := func(context.Context, Job) error { return nil }
	for _, tc := range []struct {
		name string
		opts []fx.Option
		want []string
	}{
		{
			name: "bad topic name",
			opts: []fx.Option{fxbus.Topic[Job]("jobs..new")},
			want: []string{"fxtest.New: the app did not build", `fxbus.Topic[fxtest_test.Job]("jobs..new")`},
		},
		{
			name: "missing dependency",
			opts: []fx.Option{fx.Invoke(func(*Order) {})},
			want: []string{"fxtest.New: the app did not build", "*fxtest_test.Order"},
		},
		{
			name: "undeclared topic",
			opts: []fx.Option{supply(handlers.RegisterFunc("jobs", ok, bus.Name("h")))},
			want: []string{"fxtest.New: the app did not start", `handler "h" for "jobs"`, `fxbus.Topic[fxtest_test.Job]("jobs")`},
		},
		{
			name: "failing start hook",
			opts: []fx.Option{fx.Invoke(func(lc fx.Lifecycle) {
				lc.Append(fx.StartHook(func() error { return errors.New("no database") }))
			})},
			want: []string{"fxtest.New: the app did not start", "no database"},
		},
		{
			name: "nil option",
			opts: []fx.Option{fxtest.Async(), nil},
			want: []string{"fxtest.New: option 2 of 2 is nil"},
		},
		{
			name: "bad Timeout",
			opts: []fx.Option{fxtest.Timeout(-time.Second)},
			want: []string{"fxtest.Timeout(-1s): want a positive duration"},
		},
		{
			name: "nil LeakCheck option",
			opts: []fx.Option{fxtest.LeakCheck(nil)},
			want: []string{"fxtest.LeakCheck: option 1 of 1 is nil"},
		},
		{
			name: "fxbus.Module and another error",
			opts: []fx.Option{fxbus.Module, fx.Invoke(func(*Order) {})},
			want: []string{"fxtest.New: the app did not build", "*fxtest_test.Order"},
		},
		{
			name: "a bus of their own and another error",
			opts: []fx.Option{fx.Provide(func() *bus.Bus { return bus.New() }), fx.Invoke(func(*Order) {})},
			want: []string{"fxtest.New: the app did not build", "*fxtest_test.Order"},
		},
		{
			// The options are fine with any bus, but clash with the module:
			// that clash is the error.
			name: "a type the module provides",
			opts: []fx.Option{fx.Provide(func() *metrics.Metrics { return nil })},
			want: []string{"fxtest.New: the app did not build", "*metrics.Metrics"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ftb := newFakeTB(t.Name())
			reached := false
			ftb.run(t, func(tb fxtest.TB) {
				fxtest.New(tb, tc.opts...)
				reached = true
			})
			ftb.cleanup(t)
			ftb.wantError(t, tc.want...)
			if reached || !ftb.failedNow() {
				t.Errorf("New returned after the failure (FailNow called: %v)", ftb.failedNow())
			}
		})
	}
}

// TestStopFailure: a stop that fails (a handler that never returns within
// the drain) fails the test from the cleanup; Stop returns the error
// instead, for tests that expect it.
func TestStopFailure(t *testing.T) {
	newApp := func(tb fxtest.TB, blk *fxtest.Blocker[Job]) *fxtest.App {
		var jobs fxbus.Publisher[Job]
		app := fxtest.New(tb,
			fxtest.Async(),
			fx.Supply(fxbus.Config{DrainTimeout: 50 * time.Millisecond, KillGrace: time.Second}),
			fxbus.Topic[Job]("jobs"),
			supply(handlers.Register[Job]("jobs", blk, bus.Name("stuck"))),
			fx.Populate(&jobs),
		)
		ctx := context.Background()
		if err := jobs.Publish(ctx, Job{N: 1}); err != nil {
			tb.Errorf("Publish: %v", err)
		}
		<-blk.Started()
		if err := jobs.Publish(ctx, Job{N: 2}); err != nil { // queued behind job 1
			tb.Errorf("Publish: %v", err)
		}
		return app
	}
	t.Run("cleanup", func(t *testing.T) {
		ftb := newFakeTB(t.Name())
		ftb.run(t, func(tb fxtest.TB) { newApp(tb, new(fxtest.Blocker[Job])) })
		ftb.cleanup(t) // the Blocker returns when the bus cancels its context
		ftb.wantError(t, "fxtest: the app did not stop cleanly", "jobs/stuck")
	})
	t.Run("Stop", func(t *testing.T) {
		ftb := newFakeTB(t.Name())
		var err error
		ftb.run(t, func(tb fxtest.TB) {
			app := newApp(tb, new(fxtest.Blocker[Job]))
			err = app.Stop()
			if again := app.Stop(); again != err {
				tb.Errorf("a second Stop returned %v, want the first's %v", again, err)
			}
		})
		ftb.cleanup(t)
		ftb.wantNoError(t)
		var se *bus.ShutdownError
		if !errors.As(err, &se) || len(se.Leftovers) != 1 || se.Leftovers[0].Subscriber != "stuck" {
			t.Errorf("Stop = %v, want a *bus.ShutdownError for stuck", err)
		}
	})
	t.Run("RequireStop", func(t *testing.T) {
		ftb := newFakeTB(t.Name())
		ftb.run(t, func(tb fxtest.TB) {
			newApp(tb, new(fxtest.Blocker[Job])).RequireStop()
			tb.Errorf("RequireStop returned")
		})
		ftb.cleanup(t)
		ftb.wantError(t, "fxtest: the app did not stop cleanly", "jobs/stuck")
	})
}

// TestRequireStopThenAssert: a test can stop the app and assert what the
// stop did; the cleanup then does not stop it again.
func TestRequireStopThenAssert(t *testing.T) {
	spy := new(fxtest.Spy[Job])
	var closedWith int
	var jobs fxbus.Publisher[Job]
	app := fxtest.New(t,
		fxtest.Async(),
		fx.Provide(func(lc fx.Lifecycle) *fxtest.Spy[Job] {
			lc.Append(fx.StopHook(func() { closedWith = spy.Len() }))
			return spy
		}),
		fxbus.Topic[Job]("jobs"),
		handlers.ProvideHandler[Job]("jobs", func(s *fxtest.Spy[Job]) *fxtest.Spy[Job] { return s }),
		fx.Populate(&jobs),
	)
	for i := range 20 {
		if err := jobs.Publish(testContext(t), Job{N: i}); err != nil {
			t.Fatal(err)
		}
	}
	app.RequireStop()
	if closedWith != 20 {
		t.Errorf("the spy's dependency closed after %d calls, want 20: the bus did not drain first", closedWith)
	}
	if err := jobs.Publish(testContext(t), Job{}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after RequireStop = %v, want bus.ErrClosed", err)
	}
}

// TestRequirePublish is the proof that a failing handler fails the
// test with a readable message.
func TestRequirePublish(t *testing.T) {
	validate := func(_ context.Context, o Order) error {
		if o.Cents <= 0 {
			return fmt.Errorf("order %s has no amount", o.ID)
		}
		return nil
	}
	opts := []fx.Option{
		fxbus.Topic[Order]("orders"),
		supply(handlers.RegisterFunc("orders", validate, bus.Name("validate"), handlers.NoDeadLetters())),
	}
	t.Run("passes", func(t *testing.T) {
		app := fxtest.New(t, opts...)
		fxtest.RequirePublish(app, "orders", Order{ID: "a", Cents: 1})
	})
	for _, tc := range []struct {
		name  string
		topic string
		want  []string
	}{
		{name: "failing handler", topic: "orders", want: []string{
			`fxtest.RequirePublish[fxtest_test.Order]("orders", {ID:b Cents:0}): order b has no amount`,
		}},
		{name: "unknown topic", topic: "order", want: []string{
			`no topic "order" on the bus: declare it with fxbus.Topic[fxtest_test.Order]("order"), or check the name`,
		}},
		{name: "invalid topic", topic: "orders.*", want: []string{`"orders.*"`, "wildcard"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ftb := newFakeTB(t.Name())
			ftb.run(t, func(tb fxtest.TB) {
				app := fxtest.New(tb, opts...)
				fxtest.RequirePublish(app, tc.topic, Order{ID: "b"})
				tb.Errorf("RequirePublish returned")
			})
			ftb.cleanup(t)
			ftb.wantError(t, tc.want...)
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		ftb := newFakeTB(t.Name())
		ftb.run(t, func(tb fxtest.TB) {
			fxtest.RequirePublish(fxtest.New(tb, opts...), "orders", Job{N: 1})
		})
		ftb.cleanup(t)
		ftb.wantError(t, `fxtest.RequirePublish[fxtest_test.Job]("orders", {N:1})`, "fxtest_test.Order", "fxtest_test.Job")
	})
}

// TestWaitIdle: WaitIdle returns once the handlers are done, and fails the
// test, saying what is busy, when they never are.
func TestWaitIdle(t *testing.T) {
	ftb := newFakeTB(t.Name())
	blk := new(fxtest.Blocker[Job])
	ftb.run(t, func(tb fxtest.TB) {
		var jobs fxbus.Publisher[Job]
		app := fxtest.New(tb,
			fxtest.Async(), fxtest.Timeout(50*time.Millisecond),
			fxbus.Topic[Job]("jobs"),
			supply(handlers.Register[Job]("jobs", blk, bus.Name("slow"))),
			fx.Populate(&jobs),
		)
		tb.Cleanup(blk.ReleaseAll)
		_ = jobs.Publish(context.Background(), Job{N: 1})
		_ = jobs.Publish(context.Background(), Job{N: 2})
		app.WaitIdle()
	})
	ftb.cleanup(t)
	ftb.wantError(t, "fxtest: App.WaitIdle: the bus was not idle after 50ms", `subscriber "slow" on "jobs" has 2 message(s) queued or being handled`)
	if !ftb.failedNow() {
		t.Error("WaitIdle did not end the test")
	}
	if blk.Len() != 2 {
		t.Errorf("%d calls returned after ReleaseAll and stop, want 2", blk.Len())
	}
}

// TestParallel runs apps in parallel tests, each checking for leaks: none
// sees another's goroutines as its own, and nothing is shared.
func TestParallel(t *testing.T) {
	for i := range 6 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			var opts []fx.Option
			if i%2 == 1 {
				opts = append(opts, fxtest.Async())
			}
			spy := new(fxtest.Spy[Job])
			var jobs fxbus.Publisher[Job]
			app := fxtest.New(t, append(opts,
				fxbus.Topic[Job]("jobs"),
				supply(handlers.Register[Job]("jobs", spy, bus.Concurrency(4))),
				fx.Populate(&jobs),
			)...)
			rec := fxtest.Record[Job](app, "jobs")
			for n := range 50 {
				if err := jobs.Publish(testContext(t), Job{N: n}); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(rec.WaitN(t, 50)); got != 50 {
				t.Errorf("recorded %d, want 50", got)
			}
			spy.WaitN(app, 50)
			for n, v := range rec.Values() {
				if v.N != n {
					t.Fatalf("message %d is %v: out of order", n, v)
				}
			}
		})
	}
}

func TestNewNilTB(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "fxtest.New: nil TB") {
			t.Errorf("New(nil) recovered %v, want a panic that names the nil TB", r)
		}
	}()
	fxtest.New(nil)
}

// TestNoRetryWait: with NoRetryWait a message retried three times with the
// default backoff (0.1 s, then 0.2 s) and then dead-lettered takes no time;
// without it, the same publish waits its backoff.
func TestNoRetryWait(t *testing.T) {
	run := func(opts ...fx.Option) (time.Duration, *fxtest.Flaky[Job], *fxtest.Spy[handlers.DeadLetter[Job]]) {
		flaky := fxtest.NewFlaky[Job](3, nil)
		dead := new(fxtest.Spy[handlers.DeadLetter[Job]])
		var jobs fxbus.Publisher[Job]
		app := fxtest.New(t, append(opts,
			fxbus.Topic[Job]("jobs"),
			supply(
				handlers.Register[Job]("jobs", flaky, bus.Name("worker"), handlers.Retry(3)),
				handlers.Register[handlers.DeadLetter[Job]]("jobs.dead-letter", dead, handlers.NoDeadLetters()),
			),
			fx.Populate(&jobs),
		)...)
		began := time.Now()
		_ = jobs.Publish(testContext(t), Job{N: 1})
		took := time.Since(began)
		app.RequireStop()
		return took, flaky, dead
	}
	took, flaky, dead := run(fxtest.NoRetryWait())
	if flaky.Len() != 3 || dead.Len() != 1 {
		t.Fatalf("%d calls and %d dead letters, want 3 and 1", flaky.Len(), dead.Len())
	}
	if attempts := flaky.Calls(); attempts[0].Attempt != 1 || attempts[2].Attempt != 3 {
		t.Errorf("attempts %v, want 1 to 3", attempts)
	}
	slow, _, _ := run()
	// The backoff waits at least 0.8 * (0.1 + 0.2) s with jitter.
	if slow < 240*time.Millisecond || took >= slow/2 {
		t.Errorf("with NoRetryWait the publish took %v, without it %v: want the waits gone", took, slow)
	}
}

// TestStatsLogReadable: what fxtest logs about a subscriber at stop reads
// as text, not as Go maps.
func TestStatsLogReadable(t *testing.T) {
	tb := newFakeTB(t.Name())
	tb.run(t, func(tb fxtest.TB) {
		var jobs fxbus.Publisher[Job]
		app := fxtest.New(tb, fxtest.NoLeakCheck(),
			fxbus.Topic[Job]("jobs"),
			supply(handlers.RegisterFunc("jobs", func(context.Context, Job) error { return errors.New("no") },
				bus.Name("worker"), handlers.NoDeadLetters())),
			fx.Populate(&jobs),
		)
		_ = jobs.Publish(context.Background(), Job{N: 1})
		app.RequireStop()
	})
	tb.cleanup(t)
	tb.wantNoError(t)
	logs := strings.Join(tb.logLines(), "\n")
	if want := `subscriber "worker" on "jobs": 1 handler call(s) failed; dropped nothing`; !strings.Contains(logs, want) {
		t.Errorf("logs:\n%s\nwant a line %q", logs, want)
	}
	if strings.Contains(logs, "map[") {
		t.Errorf("logs print a Go map:\n%s", logs)
	}
}
