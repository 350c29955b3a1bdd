package fxtest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
)

// TestRecorder: every message, in order, with its correlation ID and topic,
// there as soon as Publish returns (synchronous mode).
func TestRecorder(t *testing.T) {
	var orders fxbus.Publisher[Order]
	app := fxtest.New(t, fxbus.Topic[Order]("orders"), fx.Populate(&orders))
	rec := fxtest.Record[Order](app, "orders")
	if rec.Len() != 0 {
		t.Fatalf("a new recorder has %d messages", rec.Len())
	}
	ids := []bus.CorrelationID{bus.NewCorrelationID(), bus.NewCorrelationID(), bus.NewCorrelationID()}
	for i, id := range ids {
		if err := orders.Publish(bus.WithCorrelationID(testContext(t), id), Order{ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if rec.Len() != i+1 {
			t.Fatalf("after publish %d the recorder has %d messages", i+1, rec.Len())
		}
	}
	msgs := rec.Messages()
	for i, m := range msgs {
		want := bus.Message[Order]{Value: Order{ID: fmt.Sprint(i)}, CorrelationID: ids[i], Topic: "orders"}
		if m != want {
			t.Errorf("message %d = %+v, want %+v", i, m, want)
		}
	}
	if got := rec.Values(); !slices.Equal(got, []Order{{ID: "0"}, {ID: "1"}, {ID: "2"}}) {
		t.Errorf("values %v", got)
	}
	if got := len(rec.WaitN(t, 3)); got != 3 {
		t.Errorf("WaitN(3) returned %d messages", got)
	}
	// A snapshot is a copy.
	msgs[0].Value.ID = "changed"
	if rec.Messages()[0].Value.ID != "0" {
		t.Error("changing what Messages returned changed the recorder")
	}
}

// TestRecorderOption: a Recorder subscribed with its Option sees what a
// component publishes while the app starts.
func TestRecorderOption(t *testing.T) {
	rec := fxtest.NewRecorder[Shipment]("shipments")
	fxtest.New(t,
		fxbus.Topic[Shipment]("shipments"),
		rec.Option(),
		fx.Invoke(func(lc fx.Lifecycle, p fxbus.Publisher[Shipment]) {
			lc.Append(fx.StartHook(func(ctx context.Context) error {
				return p.Publish(ctx, Shipment{OrderID: "at-start"})
			}))
		}),
	)
	if got := rec.Values(); !slices.Equal(got, []Shipment{{OrderID: "at-start"}}) {
		t.Errorf("recorded %v, want the shipment published at start", got)
	}
}

// TestRecorderWildcard: a pattern records the messages of every topic it
// matches, with their topics.
func TestRecorderWildcard(t *testing.T) {
	var p struct {
		fx.In
		EU fxbus.Publisher[Order] `name:"eu"`
		US fxbus.Publisher[Order] `name:"us"`
	}
	app := fxtest.New(t,
		fxbus.NamedTopic[Order]("orders.eu", "eu"),
		fxbus.NamedTopic[Order]("orders.us", "us"),
		fx.Populate(&p),
	)
	rec := fxtest.Record[Order](app, "orders.*")
	ctx := testContext(t)
	_ = p.EU.Publish(ctx, Order{ID: "1"})
	_ = p.US.Publish(ctx, Order{ID: "2"})
	var topics []string
	for _, m := range rec.WaitN(t, 2) {
		topics = append(topics, m.Topic)
	}
	if !slices.Equal(topics, []string{"orders.eu", "orders.us"}) {
		t.Errorf("topics %v", topics)
	}
}

// TestRecorderAsync: in asynchronous mode WaitN waits for the messages,
// and AssertNone waits for the bus to be idle before it looks.
func TestRecorderAsync(t *testing.T) {
	var jobs fxbus.Publisher[Job]
	app := fxtest.New(t, fxtest.Async(), fxbus.Topic[Job]("jobs"), fxbus.Topic[Order]("orders"), fx.Populate(&jobs))
	rec := fxtest.Record[Job](app, "jobs")
	none := fxtest.Record[Order](app, "orders")
	const n = 200
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			_ = jobs.Publish(context.Background(), Job{N: i})
		}
	}()
	msgs := rec.WaitN(t, n)
	for i, m := range msgs {
		if m.Value.N != i {
			t.Fatalf("message %d is %v: out of order", i, m.Value)
		}
	}
	wait(t, published, "the publisher")
	none.AssertNone(t)
	app.WaitIdle()
}

// TestRecorderFailures: what a Recorder reports, and that it fails the test.
func TestRecorderFailures(t *testing.T) {
	declared := []fx.Option{fxbus.Topic[Order]("orders"), fxtest.Timeout(50 * time.Millisecond)}
	for _, tc := range []struct {
		name   string
		test   func(tb fxtest.TB)
		want   []string
		goesOn bool // an assertion that does not end the test (Errorf, not FailNow)
	}{
		{
			name: "WaitN times out",
			test: func(tb fxtest.TB) {
				app := fxtest.New(tb, declared...)
				rec := fxtest.Record[Order](app, "orders")
				fxtest.RequirePublish(app, "orders", Order{ID: "only"})
				rec.WaitN(tb, 2)
			},
			want: []string{`fxtest: Recorder[fxtest_test.Order]("orders"): 1 message(s) recorded, want 2: context deadline exceeded:`, "orders: {ID:only Cents:0}"},
		},
		{
			name: "AssertNone with a message",
			test: func(tb fxtest.TB) {
				app := fxtest.New(tb, declared...)
				rec := fxtest.Record[Order](app, "orders")
				fxtest.RequirePublish(app, "orders", Order{ID: "x"})
				rec.AssertNone(tb)
			},
			want:   []string{`fxtest: Recorder[fxtest_test.Order]("orders") recorded 1 message(s), want none:`, "{ID:x Cents:0}"},
			goesOn: true,
		},
		{
			name: "AssertNone on a busy bus",
			test: func(tb fxtest.TB) {
				blk := new(fxtest.Blocker[Order])
				app := fxtest.New(tb, append(declared, fxtest.Async(), handlers.Supply(handlers.Register[Order]("orders", blk, bus.Name("slow"))))...)
				tb.Cleanup(blk.ReleaseAll)
				rec := fxtest.Record[Order](app, "orders")
				fxtest.RequirePublish(app, "orders", Order{ID: "x"})
				<-blk.Started()
				rec.AssertNone(tb)
			},
			want: []string{`Recorder[fxtest_test.Order]("orders").AssertNone: the bus was not idle after 50ms`, `subscriber "slow" on "orders"`, "messages may still arrive"},
		},
		{
			name: "undeclared topic",
			test: func(tb fxtest.TB) { fxtest.Record[Order](fxtest.New(tb, declared...), "order") },
			want: []string{`fxtest.Record: Recorder[fxtest_test.Order]("order"): no topic "order" on the bus: declare it with fxbus.Topic[fxtest_test.Order]("order")`},
		},
		{
			name: "invalid pattern",
			test: func(tb fxtest.TB) { fxtest.Record[Order](fxtest.New(tb, declared...), "orders..x") },
			want: []string{`fxtest.Record: Recorder[fxtest_test.Order]("orders..x"):`, "orders..x"},
		},
		{
			name: "wrong type",
			test: func(tb fxtest.TB) { fxtest.Record[Job](fxtest.New(tb, declared...), "orders") },
			want: []string{`fxtest.Record: Recorder[fxtest_test.Job]("orders")`, "fxtest_test.Order"},
		},
		{
			name: "two recorders of one topic",
			test: func(tb fxtest.TB) {
				app := fxtest.New(tb, declared...)
				fxtest.Record[Order](app, "orders")
				fxtest.Record[Order](app, "orders")
			},
			want: []string{`fxtest.Record: Recorder[fxtest_test.Order]("orders")`, `"fxtest.recorder" already exists`},
		},
		{
			name: "Option used twice",
			test: func(tb fxtest.TB) {
				rec := fxtest.NewRecorder[Order]("orders")
				fxtest.New(tb, append(declared, rec.Option(), rec.Option())...)
			},
			want: []string{"fxtest.New", `Recorder[fxtest_test.Order]("orders") is already subscribed: make one Recorder per app`},
		},
		{
			name: "Option on an undeclared topic",
			test: func(tb fxtest.TB) {
				fxtest.New(tb, fxtest.NewRecorder[Order]("nowhere").Option())
			},
			want: []string{"fxtest.New: the app did not start", `handler "fxtest.recorder" for "nowhere"`},
		},
		{
			name: "not subscribed",
			test: func(tb fxtest.TB) { fxtest.NewRecorder[Order]("orders").WaitN(tb, 1) },
			want: []string{`Recorder[fxtest_test.Order]("orders") is not subscribed: make it with fxtest.Record, or pass its Option to fxtest.New`},
		},
		{
			name: "nil app",
			test: func(tb fxtest.TB) { fxtest.Record[Order](nil, "orders").AssertNone(tb) },
			want: []string{`Recorder[fxtest_test.Order]("orders"): nil *App: pass the app that fxtest.New returned`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ftb := newFakeTB(t.Name())
			wentOn := false
			ftb.run(t, func(tb fxtest.TB) {
				tc.test(tb)
				wentOn = true
			})
			ftb.cleanup(t)
			ftb.wantError(t, tc.want...)
			if wentOn != tc.goesOn || ftb.failedNow() == tc.goesOn {
				t.Errorf("the test went on after the failure: %v, want %v", wentOn, tc.goesOn)
			}
		})
	}
}

// TestRecorderWaitContext: Wait honours its context, and returns what it has.
func TestRecorderWaitContext(t *testing.T) {
	app := fxtest.New(t, fxbus.Topic[Order]("orders"))
	rec := fxtest.Record[Order](app, "orders")
	fxtest.RequirePublish(app, "orders", Order{ID: "a"})
	ctx, cancel := context.WithCancel(testContext(t))
	cancel()
	msgs, err := rec.Wait(ctx, 2)
	if len(msgs) != 1 || err == nil {
		t.Errorf("Wait with an ended context = %d messages, %v; want 1 and an error", len(msgs), err)
	}
	if msgs, err := rec.Wait(ctx, 1); len(msgs) != 1 || err != nil {
		t.Errorf("Wait for what is there = %d messages, %v; want 1 and nil", len(msgs), err)
	}
}
