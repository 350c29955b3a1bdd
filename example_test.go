package fxbus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// Order and Shipment are the messages of the example's two topics.
type Order struct {
	ID    string
	Cents int
}

type Shipment struct{ OrderID string }

// Store stands in for a database: the handlers depend on it, so it must
// close only after the bus has drained.
type Store struct {
	mu                         sync.Mutex
	orders, shipments, audited int
}

func NewStore(lc fx.Lifecycle) *Store {
	s := &Store{}
	lc.Append(fx.StopHook(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		fmt.Printf("store: closed with %d orders, %d shipments, %d audited\n", s.orders, s.shipments, s.audited)
	}))
	return s
}

func (s *Store) add(n *int) {
	s.mu.Lock()
	*n++
	s.mu.Unlock()
}

// OrderSaver is a handler with dependencies: it saves each order and
// publishes its shipment.
type OrderSaver struct {
	store     *Store
	shipments fxbus.Publisher[Shipment]
}

func (h *OrderSaver) Handle(ctx context.Context, o Order) error {
	h.store.add(&h.store.orders)
	return h.shipments.Publish(ctx, Shipment{OrderID: o.ID})
}

func NewOrderSaver(s *Store, p fxbus.Publisher[Shipment]) *OrderSaver {
	return &OrderSaver{store: s, shipments: p}
}

func NewAudit(s *Store) handlers.Registration {
	return handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
		s.add(&s.audited)
		return nil
	}, bus.Name("audit"))
}

func NewNotifier(s *Store) handlers.Registration {
	return handlers.RegisterFunc("shipments.created", func(ctx context.Context, sh Shipment) error {
		s.add(&s.shipments)
		return nil
	}, bus.Name("notify"))
}

// Checkout publishes orders. It is built after the bus, so it stops before
// the bus drains.
type Checkout struct{ orders fxbus.Publisher[Order] }

func NewCheckout(lc fx.Lifecycle, orders fxbus.Publisher[Order]) *Checkout {
	c := &Checkout{orders: orders}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			for i := 1; i <= 3; i++ {
				if err := c.orders.Publish(ctx, Order{ID: fmt.Sprint("order-", i), Cents: 100 * i}); err != nil {
					return err
				}
			}
			fmt.Println("checkout: placed 3 orders")
			return nil
		},
		OnStop: func(context.Context) error {
			fmt.Println("checkout: stopped")
			return nil
		},
	})
	return c
}

// An app with two typed topics, three handlers (one a struct with
// dependencies, one publishing a chain of events) and a component that
// publishes. At stop the publisher stops first, the bus delivers everything
// already published (shipments included), and the store closes last.
func ExampleModule() {
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fxbus.Topic[Order]("orders.placed"),
		fxbus.Topic[Shipment]("shipments.created"),
		fx.Provide(NewStore, NewCheckout),
		handlers.ProvideHandler[Order]("orders.placed", NewOrderSaver),
		handlers.Provide(NewAudit, NewNotifier),
		fx.Invoke(func(*Checkout) {}),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println("start:", err)
		return
	}
	if err := app.Stop(ctx); err != nil {
		fmt.Println("stop:", err)
	}
	// Output:
	// checkout: placed 3 orders
	// checkout: stopped
	// store: closed with 3 orders, 3 shipments, 3 audited
}

var errNotPositive = errors.New("the amount is not positive")

// Configure sets Config fields whether or not the app supplied a Config;
// here synchronous mode, in which Publish returns the handlers' errors.
func ExampleConfigure() {
	var orders fxbus.Publisher[Order]
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fxbus.Topic[Order]("orders.placed"),
		handlers.Supply(handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
			if o.Cents <= 0 {
				return fmt.Errorf("order %s: %w", o.ID, errNotPositive)
			}
			return nil
		}, bus.Name("validate"))),
		fx.Populate(&orders),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println("start:", err)
		return
	}
	defer app.Stop(ctx)
	fmt.Println("a:", orders.Publish(ctx, Order{ID: "a", Cents: 100}))
	err := orders.Publish(ctx, Order{ID: "b", Cents: 0})
	fmt.Println("b rejected:", errors.Is(err, errNotPositive))
	// Output:
	// a: <nil>
	// b rejected: true
}

// Refunds asks for two topics of one message type by their fx names.
type Refunds struct {
	fx.In
	EU fxbus.Publisher[Order] `name:"refunds-eu"`
	US fxbus.Publisher[Order] `name:"refunds-us"`
}

// Two topics of one message type: NamedTopic provides each under an fx
// name, and a constructor picks one with a name tag.
func ExampleNamedTopic() {
	var refunds struct {
		fx.In
		Refunds
	}
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fxbus.NamedTopic[Order]("refunds.eu", "refunds-eu"),
		fxbus.NamedTopic[Order]("refunds.us", "refunds-us"),
		// A wildcard pattern: one handler for both topics.
		handlers.Supply(handlers.RegisterFunc("refunds.*", func(ctx context.Context, o Order) error {
			topic, _ := bus.TopicFrom(ctx)
			fmt.Println("refund", o.ID, "on", topic)
			return nil
		}, bus.Name("refunds"))),
		fx.Populate(&refunds),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println("start:", err)
		return
	}
	defer app.Stop(ctx)
	_ = refunds.EU.Publish(ctx, Order{ID: "r1"})
	_ = refunds.US.Publish(ctx, Order{ID: "r2"})
	// Output:
	// refund r1 on refunds.eu
	// refund r2 on refunds.us
}
