package fxtest_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
)

// The doubles are handlers.
var (
	_ handlers.Handler[Order] = (*fxtest.Spy[Order])(nil)
	_ handlers.Handler[Order] = (*fxtest.Flaky[Order])(nil)
	_ handlers.Handler[Order] = (*fxtest.Blocker[Order])(nil)
)

func TestSpy(t *testing.T) {
	var spy fxtest.Spy[Order] // the zero value works
	id := bus.NewCorrelationID()
	var orders fxbus.Publisher[Order]
	fxtest.New(t,
		fxbus.Topic[Order]("orders"),
		supply(handlers.Register[Order]("orders", &spy)),
		fx.Populate(&orders),
	)
	for _, o := range []Order{{ID: "a"}, {ID: "b"}} {
		if err := orders.Publish(bus.WithCorrelationID(testContext(t), id), o); err != nil {
			t.Fatal(err)
		}
	}
	calls := spy.Calls()
	if len(calls) != 2 || spy.Len() != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	for i, c := range calls {
		want := fxtest.Call[Order]{Value: []Order{{ID: "a"}, {ID: "b"}}[i], CorrelationID: id, Topic: "orders", Attempt: 1}
		if c != want {
			t.Errorf("call %d = %+v, want %+v", i, c, want)
		}
	}
}

// TestFlakyRetry: a Flaky that fails n times, under Retry(n+1), handles the
// message on the last attempt; under Retry(n) it dead-letters it.
func TestFlakyRetry(t *testing.T) {
	backoff := handlers.Backoff(time.Millisecond, time.Millisecond)
	for _, tc := range []struct {
		name     string
		attempts int
		wantErrs []bool // per call: failed
		dead     bool
	}{
		{name: "enough attempts", attempts: 3, wantErrs: []bool{true, true, false}},
		{name: "too few attempts", attempts: 2, wantErrs: []bool{true, true}, dead: true},
		{name: "no retry", attempts: 1, wantErrs: []bool{true}, dead: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flaky := fxtest.NewFlaky[Order](2, nil)
			app := fxtest.New(t,
				fxbus.Topic[Order]("orders"),
				supply(handlers.Register[Order]("orders", flaky, bus.Name("flaky"), handlers.Retry(tc.attempts, backoff))),
			)
			dead := fxtest.Record[handlers.DeadLetter[Order]](app, "orders.dead-letter")
			id := bus.NewCorrelationID()
			topic, _ := bus.NewTopic[Order](app.Bus(), "orders")
			err := topic.Publish(bus.WithCorrelationID(testContext(t), id), Order{ID: "a"})
			if (err != nil) != tc.dead || (err != nil && !errors.Is(err, fxtest.ErrInjected)) {
				t.Errorf("Publish = %v, want an error: %v", err, tc.dead)
			}
			var attempts []int
			var failed []bool
			for _, c := range flaky.Calls() {
				attempts = append(attempts, c.Attempt)
				failed = append(failed, c.Err != nil)
				if c.CorrelationID != id {
					t.Errorf("attempt %d has correlation ID %s, want %s", c.Attempt, c.CorrelationID, id)
				}
			}
			if !slices.Equal(failed, tc.wantErrs) || len(attempts) != len(tc.wantErrs) || attempts[len(attempts)-1] != len(attempts) {
				t.Errorf("calls: attempts %v, failed %v; want failed %v", attempts, failed, tc.wantErrs)
			}
			nFailed := 0
			for _, c := range flaky.Calls() {
				if c.Err != nil {
					nFailed++
				}
			}
			if nFailed != len(slices.DeleteFunc(slices.Clone(tc.wantErrs), func(b bool) bool { return !b })) {
				t.Errorf("%d calls failed", nFailed)
			}
			if tc.dead {
				dl := dead.WaitN(t, 1)[0]
				if dl.Value.Message.ID != "a" || dl.Value.Attempts != len(tc.wantErrs) || dl.Value.Subscriber != "flaky" || dl.CorrelationID != id {
					t.Errorf("dead letter %+v", dl)
				}
			} else {
				dead.AssertNone(t)
			}
		})
	}
}

func TestFlaky(t *testing.T) {
	ctx := testContext(t)
	errBusy := errors.New("busy")
	f := fxtest.NewFlaky[Job](1, handlers.Permanent(errBusy))
	if err := f.Handle(ctx, Job{}); !errors.Is(err, errBusy) || !handlers.IsPermanent(err) {
		t.Errorf("first call = %v, want the permanent errBusy", err)
	}
	if err := f.Handle(ctx, Job{}); err != nil {
		t.Errorf("second call = %v", err)
	}
	var zero fxtest.Flaky[Job]
	if err := zero.Handle(ctx, Job{}); err != nil {
		t.Errorf("a zero Flaky failed: %v", err)
	}
	bad := fxtest.NewFlaky[Job](-1, nil)
	if err := bad.Handle(ctx, Job{}); err == nil || err.Error() != "fxtest.NewFlaky[fxtest_test.Job](-1, ...): the number of failing calls must be at least 0" {
		t.Errorf("NewFlaky(-1) call = %v", err)
	}
}

// TestBlocker: starts are reported, Release lets one call through (even
// ahead of time), ReleaseAll all, and an ended context ends a call.
func TestBlocker(t *testing.T) {
	ctx := testContext(t)
	var blk fxtest.Blocker[Job] // the zero value works
	errs := make(chan error, 10)
	call := func(c context.Context, n int) {
		go func() { errs <- blk.Handle(c, Job{N: n}) }()
	}
	recv := func() error {
		select {
		case err := <-errs:
			return err
		case <-ctx.Done():
			t.Fatal("a call did not return")
			return nil
		}
	}
	started := func() Job {
		select {
		case v := <-blk.Started():
			return v
		case <-ctx.Done():
			t.Fatal("no call started")
			return Job{}
		}
	}

	call(ctx, 1)
	if v := started(); v.N != 1 {
		t.Errorf("started %v", v)
	}
	if blk.Running() != 1 || blk.Len() != 0 {
		t.Errorf("running %d, returned %d; want 1 and 0", blk.Running(), blk.Len())
	}
	blk.Release()
	if err := recv(); err != nil {
		t.Errorf("released call = %v", err)
	}

	// A Release ahead of time lets the next call through without a start.
	blk.Release()
	call(ctx, 2)
	if err := recv(); err != nil {
		t.Errorf("call released ahead = %v", err)
	}

	// An ended context ends a blocked call with its error.
	cctx, cancel := context.WithCancel(ctx)
	call(cctx, 3)
	started()
	cancel()
	if err := recv(); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call = %v, want context.Canceled", err)
	}

	// ReleaseAll lets the blocked calls and every later one through, whether
	// or not their starts were received.
	call(ctx, 4)
	call(ctx, 5)
	started()
	blk.ReleaseAll()
	call(ctx, 6)
	for range 3 {
		if err := recv(); err != nil {
			t.Errorf("call after ReleaseAll = %v", err)
		}
	}
	if blk.Running() != 0 {
		t.Errorf("%d calls still running", blk.Running())
	}
	var ns []int
	for _, c := range blk.Calls() {
		ns = append(ns, c.Value.N)
	}
	slices.Sort(ns)
	if !slices.Equal(ns, []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("recorded calls %v", ns)
	}
}

// TestBlockerDropPolicy: a slow subscriber with a queue of 2 and
// DisconnectAfter(3): the Blocker holds one message, two wait, three more
// are dropped and the subscription is disconnected.
func TestBlockerDropPolicy(t *testing.T) {
	blk := new(fxtest.Blocker[Job])
	var jobs fxbus.Publisher[Job]
	app := fxtest.New(t,
		fxtest.Async(),
		fxbus.Topic[Job]("jobs"),
		supply(handlers.Register[Job]("jobs", blk, bus.Name("slow"),
			bus.Buffer(2), bus.WithPolicy(bus.DisconnectAfter(3)))),
		fx.Populate(&jobs),
	)
	t.Cleanup(blk.ReleaseAll)
	ctx := testContext(t)
	if err := jobs.Publish(ctx, Job{N: 0}); err != nil {
		t.Fatal(err)
	}
	<-blk.Started()
	for n := 1; n <= 5; n++ {
		if err := jobs.Publish(ctx, Job{N: n}); err != nil {
			t.Fatal(err)
		}
	}
	// Stats after the stop: while the disconnected subscription's last call
	// still runs, the bus shows it nowhere.
	blk.ReleaseAll()
	app.RequireStop()
	var slow bus.SubscriptionStats
	for _, s := range app.Bus().Stats().Subscriptions {
		if s.Name == "slow" {
			slow = s
		}
	}
	wantDropped := bus.DropCounts{bus.ReasonFull: 3, bus.ReasonDisconnect: 2}
	if !maps.Equal(slow.Dropped, wantDropped) || slow.Disconnects != 1 || slow.Delivered != 1 {
		t.Errorf("stats of slow: delivered %d, dropped %v, disconnects %d; want 1, %v, 1", slow.Delivered, slow.Dropped, slow.Disconnects, wantDropped)
	}
	if got := blk.Values(); !slices.Equal(got, []Job{{N: 0}}) {
		t.Errorf("handled %v, want only job 0", got)
	}
}

// TestCallLogWait: WaitN for calls that come from other goroutines, and its
// failure.
func TestCallLogWait(t *testing.T) {
	app := fxtest.New(t)
	spy := new(fxtest.Spy[Job])
	var wg sync.WaitGroup
	for n := range 5 {
		wg.Go(func() { _ = spy.Handle(context.Background(), Job{N: n}) })
	}
	if got := len(spy.WaitN(app, 5)); got != 5 {
		t.Errorf("WaitN(5) returned %d calls", got)
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(testContext(t), time.Millisecond)
	defer cancel()
	if _, err := spy.Wait(ctx, 6); err == nil || err.Error() != "5 call(s) of the fxtest_test.Job handler returned, want 6: context deadline exceeded" {
		t.Errorf("Wait(6) = %v", err)
	}
}

// TestWaitNTimeout: the Timeout option bounds a double's WaitN, which fails
// the app's test when the calls do not come in time.
func TestWaitNTimeout(t *testing.T) {
	ftb := newFakeTB(t.Name())
	spy := new(fxtest.Spy[Job])
	var took time.Duration
	ftb.run(t, func(tb fxtest.TB) {
		app := fxtest.New(tb, fxtest.Timeout(50*time.Millisecond), fxtest.Async(), fxbus.Topic[Job]("jobs"),
			handlers.Supply(handlers.Register[Job]("jobs", spy)))
		start := time.Now()
		defer func() { took = time.Since(start) }()
		spy.WaitN(app, 1) // nothing is published
	})
	ftb.cleanup(t)
	ftb.wantError(t, "0 call(s) of the fxtest_test.Job handler returned, want 1")
	if !ftb.failedNow() {
		t.Error("WaitN did not end the test (FailNow)")
	}
	if took >= fxtest.DefaultTimeout/2 {
		t.Errorf("WaitN took %v: the Timeout of 50ms did not bound it", took)
	}
}
