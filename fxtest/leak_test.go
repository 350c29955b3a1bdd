package fxtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
)

// parkUntil is what a leaked goroutine runs: it names the leak in stacks.
func parkUntil(release <-chan struct{}) { <-release }

const parkUntilName = "github.com/fxbus/fxbus/fxtest_test.parkUntil"

// leakyApp starts an app on tb whose handler starts a goroutine that runs
// until release is closed, and publishes once, so that it runs.
func leakyApp(tb fxtest.TB, release <-chan struct{}, opts ...fx.Option) *fxtest.App {
	leak := func(context.Context, Job) error {
		go parkUntil(release)
		return nil
	}
	app := fxtest.New(tb, append(opts,
		fxbus.Topic[Job]("jobs"),
		handlers.Supply(handlers.RegisterFunc("jobs", leak, bus.Name("leaky"))),
	)...)
	fxtest.RequirePublish(app, "jobs", Job{N: 1})
	return app
}

// busyApp starts an asynchronous app on tb and publishes to it, so that its
// bus has a worker goroutine (parked until the bus closes).
func busyApp(tb fxtest.TB, opts ...fx.Option) *fxtest.App {
	spy := new(fxtest.Spy[Job])
	app := fxtest.New(tb, append(opts,
		fxtest.Async(),
		fxbus.Topic[Job]("jobs"),
		handlers.Supply(handlers.Register[Job]("jobs", spy)),
	)...)
	fxtest.RequirePublish(app, "jobs", Job{N: 1})
	spy.WaitN(app, 1)
	return app
}

// unexpectedGoroutines reports whether goleak finds goroutines that ignore
// does not cover: the proof that a leak check would have something to
// confuse.
func unexpectedGoroutines(ignore goleak.Option) bool {
	return goleak.Find(ignore) != nil
}

func TestLeakCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []fx.Option
		want []string // the error; none: the check passes
	}{
		{name: "leak", want: []string{
			"fxtest: goroutines started while the app ran are still running after it stopped",
			parkUntilName, "fxtest.NoLeakCheck()",
		}},
		{name: "NoLeakCheck", opts: []fx.Option{fxtest.NoLeakCheck()}},
		{name: "LeakCheck ignores it", opts: []fx.Option{fxtest.LeakCheck(goleak.IgnoreTopFunction(parkUntilName))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			ftb := newFakeTB(t.Name())
			ftb.run(t, func(tb fxtest.TB) { leakyApp(tb, release, tc.opts...) })
			ftb.cleanup(t)
			if len(tc.want) == 0 {
				ftb.wantNoError(t)
			} else {
				ftb.wantError(t, tc.want...)
			}
		})
	}
}

// TestLeakCheckIgnoresParallelApps: app A's check runs while app B, started
// after A's New in a test running in parallel, still has a worker. B's
// goroutines carry B's label, not A's: A's check neither reports nor waits
// for them, and passes while B runs.
func TestLeakCheckIgnoresParallelApps(t *testing.T) {
	a, b := newFakeTB("TestA"), newFakeTB("TestB")
	var sinceA goleak.Option
	a.run(t, func(tb fxtest.TB) { fxtest.New(tb, fxtest.Timeout(time.Hour)); sinceA = goleak.IgnoreCurrent() })
	b.run(t, func(tb fxtest.TB) { busyApp(tb) })
	if !unexpectedGoroutines(sinceA) {
		t.Fatal("B's app started no goroutine: the test proves nothing")
	}
	a.cleanup(t) // within testTimeout, though B runs on and A's Timeout is an hour
	a.wantNoError(t)
	if !unexpectedGoroutines(sinceA) {
		t.Fatal("B's goroutines ended before A's check: the test proves nothing")
	}
	b.cleanup(t)
	b.wantNoError(t)
}

// TestLeakCheckParallelLeak: A leaks while B runs in parallel. A's check
// waits for B, then reports A's leak; B's does not (the goroutine is older
// than B's app).
func TestLeakCheckParallelLeak(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a, b := newFakeTB("TestA"), newFakeTB("TestB")
	a.run(t, func(tb fxtest.TB) { leakyApp(tb, release) })
	b.run(t, func(tb fxtest.TB) { busyApp(tb) })
	aDone := make(chan struct{})
	go func() { defer close(aDone); a.runCleanups() }()
	b.cleanup(t)
	wait(t, aDone, "A's leak check")
	a.wantError(t, "still running after it stopped", parkUntilName)
	b.wantNoError(t)
}

// TestLeakCheckEnclosingApp: a subtest's check cannot wait for the app of
// its parent test, which stops after it. When it finds goroutines that
// also carry the parent's label it logs and passes; the parent's check
// covers them.
func TestLeakCheckEnclosingApp(t *testing.T) {
	for _, child := range []string{"TestParent/child", "TestParent"} {
		t.Run(child, func(t *testing.T) {
			parent, sub := newFakeTB("TestParent"), newFakeTB(child)
			var sinceSub goleak.Option
			var parentApp *fxtest.App
			parent.run(t, func(tb fxtest.TB) {
				parentApp = fxtest.New(tb, fxtest.Async(), fxbus.Topic[Job]("jobs"),
					handlers.Supply(handlers.Register[Job]("jobs", new(fxtest.Spy[Job]))))
			})
			// The subtest uses the parent's app (a shared fixture), so the
			// parent's worker starts from the subtest and carries both
			// labels.
			sub.run(t, func(tb fxtest.TB) {
				fxtest.New(tb)
				sinceSub = goleak.IgnoreCurrent()
				fxtest.RequirePublish(parentApp, "jobs", Job{})
			})
			if !unexpectedGoroutines(sinceSub) {
				t.Fatal("the parent's app started no goroutine: the test proves nothing")
			}
			sub.cleanup(t)
			sub.wantNoError(t)
			if logs := strings.Join(sub.logLines(), "\n"); !strings.Contains(logs, "leak check inconclusive") || !strings.Contains(logs, `"TestParent"`) {
				t.Errorf("the subtest's log does not say why its check passed:\n%s", logs)
			}
			parent.cleanup(t)
			parent.wantNoError(t)
		})
	}
}

// TestLeakCheckSameTest: two apps of one test; the later one stops first
// (cleanups run last first) while the earlier one still runs.
func TestLeakCheckSameTest(t *testing.T) {
	ftb := newFakeTB(t.Name())
	ftb.run(t, func(tb fxtest.TB) {
		first := fxtest.New(tb, fxtest.Async(), fxbus.Topic[Job]("jobs"),
			handlers.Supply(handlers.Register[Job]("jobs", new(fxtest.Spy[Job]))))
		fxtest.New(tb)
		fxtest.RequirePublish(first, "jobs", Job{}) // a worker of the first app, after the second's New
	})
	ftb.cleanup(t)
	ftb.wantNoError(t)
	if logs := strings.Join(ftb.logLines(), "\n"); !strings.Contains(logs, "leak check inconclusive") {
		t.Errorf("the second app's check did not say why it passed:\n%s", logs)
	}
}

// TestLeakCheckIgnoresRunningTests: a test that runs while the check looks
// (here a parallel subtest, started after the app) is not a leak: testing
// waits for it.
func TestLeakCheckIgnoresRunningTests(t *testing.T) {
	ftb := newFakeTB("TestA")
	ftb.run(t, func(tb fxtest.TB) { fxtest.New(tb) })
	running, release := make(chan struct{}), make(chan struct{})
	t.Run("group", func(t *testing.T) {
		t.Run("other test", func(t *testing.T) {
			t.Parallel()
			close(running)
			<-release
		})
		t.Run("check", func(t *testing.T) {
			t.Parallel()
			defer close(release)
			wait(t, running, "the other test")
			ftb.cleanup(t)
			ftb.wantNoError(t)
		})
	})
}
