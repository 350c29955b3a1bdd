package fxbus_test

// Tests of Module written with package fxtest: the same ground as
// module_test.go's, without waiting by hand.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
)

// chainOptions is the app of the chain Order -> Payment -> Receipt, whose
// last handler saves to db. first handles each order before it is paid;
// onClose runs when db closes.
func chainOptions(db *fakeDB, first handlers.Handler[Order], onClose func()) fx.Option {
	return fx.Options(
		fxbus.Topic[Order]("orders"),
		fxbus.Topic[Payment]("payments"),
		fxbus.Topic[Receipt]("receipts"),
		handlers.ProvideHandler[Order]("orders", func(p fxbus.Publisher[Payment]) handlers.Func[Order] {
			return func(ctx context.Context, o Order) error {
				if err := first.Handle(ctx, o); err != nil {
					return err
				}
				return p.Publish(ctx, Payment{OrderID: o.ID})
			}
		}, bus.Name("payer")),
		handlers.ProvideHandler[Payment]("payments", func(p fxbus.Publisher[Receipt]) handlers.Func[Payment] {
			return func(ctx context.Context, v Payment) error { return p.Publish(ctx, Receipt(v)) }
		}, bus.Name("invoicer")),
		fx.Provide(func(lc fx.Lifecycle) *fakeDB {
			lc.Append(fx.StopHook(func() {
				onClose()
				db.closed.Store(true)
			}))
			return db
		}),
		handlers.ProvideHandler[Receipt]("receipts", func(db *fakeDB) handlers.Func[Receipt] {
			return func(_ context.Context, r Receipt) error { return db.save(r) }
		}, bus.Name("archiver")),
	)
}

// TestFxtestChain: in synchronous mode the whole chain has run when the
// first Publish returns, and every message of it carries the publisher's
// correlation ID.
func TestFxtestChain(t *testing.T) {
	db := &fakeDB{}
	spy := new(fxtest.Spy[Order])
	receipts := fxtest.NewRecorder[Receipt]("receipts")
	var orders fxbus.Publisher[Order]
	app := fxtest.New(t, chainOptions(db, spy, func() {}), receipts.Option(), fx.Populate(&orders))
	payments := fxtest.Record[Payment](app, "payments")

	id := bus.NewCorrelationID()
	if err := orders.Publish(bus.WithCorrelationID(testContext(t), id), Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if n := db.receipts.Load(); n != 1 {
		t.Errorf("%d receipts saved when Publish returned, want 1", n)
	}
	for _, m := range append(payments.Messages(), receiptsAsPayments(receipts.Messages())...) {
		if m.CorrelationID != id || m.Value.OrderID != "o1" {
			t.Errorf("message %+v, want order o1 with correlation ID %s", m, id)
		}
	}
	if payments.Len() != 1 || receipts.Len() != 1 || spy.Calls()[0].CorrelationID != id {
		t.Errorf("%d payments, %d receipts, first call %+v", payments.Len(), receipts.Len(), spy.Calls())
	}
}

func receiptsAsPayments(ms []bus.Message[Receipt]) []bus.Message[Payment] {
	out := make([]bus.Message[Payment], len(ms))
	for i, m := range ms {
		out[i] = bus.Message[Payment]{Value: Payment(m.Value), CorrelationID: m.CorrelationID, Topic: m.Topic}
	}
	return out
}

// TestFxtestStopDrains is TestStopOrder with fxtest: a backlog held by a
// Blocker, released by a component that stops before the bus; the bus
// drains the whole chain before the database closes.
func TestFxtestStopDrains(t *testing.T) {
	const n = 30
	db := &fakeDB{}
	gate := new(fxtest.Blocker[Order])
	var atDBStop int64
	var orders fxbus.Publisher[Order]
	app := fxtest.New(t,
		fxtest.Async(),
		chainOptions(db, gate, func() { atDBStop = db.receipts.Load() }),
		// The publishing component, built after the bus: it stops first.
		fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.StopHook(gate.ReleaseAll)) }),
		fx.Populate(&orders),
	)
	ctx := testContext(t)
	for i := range n {
		if err := orders.Publish(ctx, Order{ID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	<-gate.Started()
	if got := db.receipts.Load(); got != 0 {
		t.Fatalf("%d receipts before the gate opened", got)
	}
	app.RequireStop()
	if atDBStop != n {
		t.Errorf("%d receipts when the database stopped, want %d: the bus did not drain first", atDBStop, n)
	}
	if got := gate.Len(); got != n {
		t.Errorf("the first handler ran %d times, want %d", got, n)
	}
}

// TestFxtestJoinedErrors: a synchronous Publish returns the errors of every
// failing handler.
func TestFxtestJoinedErrors(t *testing.T) {
	errA, errB := errors.New("a failed"), errors.New("b failed")
	var jobs fxbus.Publisher[Job]
	fxtest.New(t,
		fxbus.Topic[Job]("jobs"),
		handlers.Supply(
			handlers.Register[Job]("jobs", fxtest.NewFlaky[Job](1, errA), bus.Name("a"), handlers.NoDeadLetters()),
			handlers.Register[Job]("jobs", fxtest.NewFlaky[Job](1, errB), bus.Name("b"), handlers.NoDeadLetters()),
			handlers.Register[Job]("jobs", new(fxtest.Spy[Job]), bus.Name("ok")),
		),
		fx.Populate(&jobs),
	)
	err := jobs.Publish(testContext(t), Job{N: 1})
	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Errorf("Publish = %v, want both handlers' errors", err)
	}
	if err := jobs.Publish(testContext(t), Job{N: 2}); err != nil {
		t.Errorf("second Publish = %v, want nil", err)
	}
}

// TestFxtestUndeclaredExemptions is TestUndeclaredExemptions with fxtest:
// wildcard patterns, topics already on the bus and dead-letter topics need
// no fxbus.Topic.
func TestFxtestUndeclaredExemptions(t *testing.T) {
	wildcard, bridged := new(fxtest.Spy[Job]), new(fxtest.Spy[Job])
	dead := new(fxtest.Spy[handlers.DeadLetter[Job]])
	app := fxtest.New(t,
		fxbus.Topic[Job]("jobs.new"),
		handlers.Supply(
			handlers.Register[Job]("jobs.*", wildcard, bus.Name("wildcard")),
			handlers.Register[Job]("jobs.new", fxtest.NewFlaky[Job](1, nil), bus.Name("flaky")),
			handlers.Register[handlers.DeadLetter[Job]]("jobs.new.dead-letter", dead, bus.Name("dead")),
			handlers.Register[Job]("jobs.bridged", bridged, bus.Name("bridged")),
		),
		// A topic that a component declares on the bus itself (as a bridge
		// does) before the start.
		fx.Invoke(func(b *bus.Bus) error { _, err := bus.NewTopic[Job](b, "jobs.bridged"); return err }),
	)
	jobs := fxtest.Record[Job](app, "jobs.>")
	if err := errors.Join(publishJob(app, "jobs.new", 1), publishJob(app, "jobs.bridged", 2)); !errors.Is(err, fxtest.ErrInjected) {
		t.Errorf("publishing = %v, want the flaky handler's error", err)
	}
	if got := wildcard.Values(); !slices.Equal(got, []Job{{N: 1}, {N: 2}}) {
		t.Errorf("the wildcard handler got %v", got)
	}
	if got := bridged.Values(); !slices.Equal(got, []Job{{N: 2}}) {
		t.Errorf("the bridged topic's handler got %v", got)
	}
	if got := dead.Calls(); len(got) != 1 || got[0].Value.Message.N != 1 || got[0].Value.Subscriber != "flaky" {
		t.Errorf("dead letters %+v", got)
	}
	if jobs.Len() != 2 {
		t.Errorf("recorded %v", jobs.Messages())
	}
}

func publishJob(app *fxtest.App, topic string, n int) error {
	t, err := bus.NewTopic[Job](app.Bus(), topic)
	if err != nil {
		return err
	}
	return t.Publish(context.Background(), Job{N: n})
}
