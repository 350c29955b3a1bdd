package fxtest_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
)

// runTest runs test as go test runs a test function, with a TB that prints
// failures, then runs its cleanups (the app's stop and leak check). In a
// real test, t is the test's *testing.T and none of this is needed.
func runTest(name string, test func(t fxtest.TB)) {
	t := &exampleTB{name: name}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer t.runCleanups()
		test(t)
	}()
	<-done
}

// exampleTB stands in for *testing.T, which examples do not get.
type exampleTB struct {
	name     string
	cleanups []func()
}

func (t *exampleTB) Helper()                   {}
func (t *exampleTB) Name() string              { return t.name }
func (t *exampleTB) Logf(string, ...any)       {}
func (t *exampleTB) Errorf(f string, a ...any) { fmt.Printf("FAIL: "+f+"\n", a...) }
func (t *exampleTB) FailNow()                  { runtime.Goexit() }
func (t *exampleTB) Cleanup(fn func())         { t.cleanups = append(t.cleanups, fn) }

func (t *exampleTB) runCleanups() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// Validator is the handler under test.
type Validator struct{}

var errNoAmount = errors.New("no amount")

func (Validator) Handle(ctx context.Context, o Order) error {
	if o.Cents <= 0 {
		return fmt.Errorf("order %s: %w", o.ID, errNoAmount)
	}
	return nil
}

// Testing a handler through the app: the bus is synchronous, so Publish
// returns once the handler has run, with its error.
func ExampleNew() {
	runTest("TestValidator", func(t fxtest.TB) {
		var orders fxbus.Publisher[Order]
		fxtest.New(t,
			fxbus.Topic[Order]("orders.placed"),
			handlers.Supply(handlers.Register[Order]("orders.placed", Validator{}, bus.Name("validator"))),
			fx.Populate(&orders),
		)
		ctx := context.Background()
		fmt.Println("valid order:", orders.Publish(ctx, Order{ID: "a", Cents: 100}))
		err := orders.Publish(ctx, Order{ID: "b"})
		fmt.Println("invalid order:", errors.Is(err, errNoAmount))
		fmt.Println(err)
	})
	// Output:
	// valid order: <nil>
	// invalid order: true
	// handlers: "validator" failed; the message went to dead-letter topic "orders.placed.dead-letter", but nothing subscribes to it, so nobody will read it (subscribe a handler to "orders.placed.dead-letter", or drop such messages with handlers.NoDeadLetters): order b: no amount
}

// TestValidator is ExampleNew as a test: the README shows it.
func TestValidator(t *testing.T) {
	var orders fxbus.Publisher[Order]
	fxtest.New(t,
		fxbus.Topic[Order]("orders.placed"),
		handlers.Supply(handlers.Register[Order]("orders.placed", Validator{})),
		fx.Populate(&orders),
	)
	ctx := context.Background()
	if err := orders.Publish(ctx, Order{ID: "a", Cents: 100}); err != nil {
		t.Errorf("valid order: %v", err)
	}
	// Synchronous mode: the handler has run, and Publish returns its error.
	if err := orders.Publish(ctx, Order{ID: "b"}); !errors.Is(err, errNoAmount) {
		t.Errorf("order without amount: %v, want errNoAmount", err)
	}
}

// Checkout is a component under test: it publishes a shipment per order.
type Checkout struct{ shipments fxbus.Publisher[Shipment] }

func NewCheckout(p fxbus.Publisher[Shipment]) *Checkout { return &Checkout{shipments: p} }

func (c *Checkout) Place(ctx context.Context, orderID string) error {
	return c.shipments.Publish(ctx, Shipment{OrderID: orderID})
}

// Asserting what a component published: a Recorder sees every message of
// its topic, in order, with its correlation ID.
func ExampleRecord() {
	runTest("TestCheckout", func(t fxtest.TB) {
		var checkout *Checkout
		app := fxtest.New(t,
			fxbus.Topic[Shipment]("shipments.created"),
			fx.Provide(NewCheckout),
			fx.Populate(&checkout),
		)
		shipments := fxtest.Record[Shipment](app, "shipments.created")

		id := bus.NewCorrelationID()
		ctx := bus.WithCorrelationID(context.Background(), id)
		_ = checkout.Place(ctx, "a")
		_ = checkout.Place(ctx, "b")

		fmt.Println(shipments.Values())
		for _, m := range shipments.Messages() {
			fmt.Println(m.Topic, m.CorrelationID == id)
		}
	})
	// Output:
	// [{a} {b}]
	// shipments.created true
	// shipments.created true
}

// Testing a retry path: a handler that fails twice, retried up to three
// times, handles the message; one retried only twice sends it to the
// dead-letter topic.
func ExampleFlaky() {
	runTest("TestRetry", func(t fxtest.TB) {
		patient := fxtest.NewFlaky[Order](2, nil)
		hasty := fxtest.NewFlaky[Order](2, nil)
		fast := handlers.Backoff(time.Millisecond, time.Millisecond)
		var orders fxbus.Publisher[Order]
		app := fxtest.New(t,
			fxbus.Topic[Order]("orders.placed"),
			handlers.Supply(
				handlers.Register[Order]("orders.placed", patient, bus.Name("patient"), handlers.Retry(3, fast)),
				handlers.Register[Order]("orders.placed", hasty, bus.Name("hasty"), handlers.Retry(2, fast)),
			),
			fx.Populate(&orders),
		)
		dead := fxtest.Record[handlers.DeadLetter[Order]](app, "orders.placed.dead-letter")

		err := orders.Publish(context.Background(), Order{ID: "a", Cents: 100})
		fmt.Println("publish:", err)
		for _, c := range patient.Calls() {
			fmt.Println("patient: attempt", c.Attempt, "error:", c.Err)
		}
		for _, d := range dead.Values() {
			fmt.Printf("dead letter: order %s from %s after %d attempts: %s\n", d.Message.ID, d.Subscriber, d.Attempts, d.Err)
		}
	})
	// Output:
	// publish: handlers: "hasty" failed 2 attempts; the message went to dead-letter topic "orders.placed.dead-letter": fxtest: injected failure
	// patient: attempt 1 error: fxtest: injected failure
	// patient: attempt 2 error: fxtest: injected failure
	// patient: attempt 3 error: <nil>
	// dead letter: order a from hasty after 2 attempts: fxtest: injected failure
}

// Testing a slow subscriber's drop policy: a Blocker holds the first
// message, one more fits in the queue, and the rest are dropped. The bus is
// asynchronous here, as in production: Publish does not wait for handlers.
func ExampleBlocker() {
	runTest("TestDropNewest", func(t fxtest.TB) {
		slow := new(fxtest.Blocker[Job])
		var jobs fxbus.Publisher[Job]
		app := fxtest.New(t,
			fxtest.Async(),
			fxbus.Topic[Job]("jobs"),
			handlers.Supply(handlers.Register[Job]("jobs", slow, bus.Name("slow"),
				bus.Buffer(1), bus.WithPolicy(bus.DropNewest()))),
			fx.Populate(&jobs),
		)
		ctx := context.Background()
		_ = jobs.Publish(ctx, Job{N: 1})
		fmt.Println("started:", <-slow.Started()) // job 1 is being handled
		for n := 2; n <= 5; n++ {
			_ = jobs.Publish(ctx, Job{N: n}) // job 2 waits in the queue; 3 to 5 are dropped
		}
		printStats := func() {
			for _, s := range app.Bus().Stats().Subscriptions {
				fmt.Printf("%s: published %d, delivered %d, queued %d, dropped %d (full)\n", s.Name, s.Published, s.Delivered, s.Queued, s.Dropped[bus.ReasonFull])
			}
		}
		printStats()

		slow.ReleaseAll()
		app.WaitIdle()
		printStats()
		fmt.Println("handled:", slow.Values())
	})
	// Output:
	// started: {1}
	// slow: published 5, delivered 0, queued 2, dropped 3 (full)
	// slow: published 5, delivered 2, queued 0, dropped 3 (full)
	// handled: [{1} {2}]
}
