package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

type Order struct {
	ID    int
	Total int
}

type Payment struct{ OrderID int }

// Audit is a handler with a dependency: a struct with a Handle method.
type Audit struct {
	Log func(string)
}

func (a *Audit) Handle(ctx context.Context, o Order) error {
	a.Log(fmt.Sprintf("audit: order %d, total %d", o.ID, o.Total))
	return nil
}

func Example() {
	b := bus.New()
	defer b.Close(context.Background())

	reg := handlers.Register[Order]("orders.created", &Audit{Log: func(s string) { fmt.Println(s) }})
	if _, err := reg.Subscribe(context.Background(), b); err != nil {
		fmt.Println(err)
		return
	}
	orders, _ := bus.NewTopic[Order](b, "orders.created")
	_ = orders.PublishSync(context.Background(), Order{ID: 1, Total: 30})
	// Output:
	// audit: order 1, total 30
}

func ExampleRetry() {
	b := bus.New()
	defer b.Close(context.Background())

	reg := handlers.RegisterFunc("payments.requested", func(ctx context.Context, p Payment) error {
		n := handlers.AttemptFrom(ctx)
		fmt.Println("attempt", n)
		if n < 3 {
			return errors.New("gateway unavailable")
		}
		return nil
	}, handlers.Retry(5, handlers.Backoff(time.Millisecond, 10*time.Millisecond)))
	if _, err := reg.Subscribe(context.Background(), b); err != nil {
		fmt.Println(err)
		return
	}
	payments, _ := bus.NewTopic[Payment](b, "payments.requested")
	err := payments.PublishSync(context.Background(), Payment{OrderID: 1})
	fmt.Println("error:", err)
	// Output:
	// attempt 1
	// attempt 2
	// attempt 3
	// error: <nil>
}

func ExampleDeadLetter() {
	b := bus.New()
	defer b.Close(context.Background())
	ctx := context.Background()

	fail := handlers.RegisterFunc("orders.created", func(ctx context.Context, o Order) error {
		if o.Total < 0 {
			return handlers.Permanent(fmt.Errorf("order %d: negative total", o.ID))
		}
		return nil
	}, bus.Name("billing"), handlers.Retry(3))
	dead := handlers.RegisterFunc("orders.created"+handlers.DeadLetterSuffix, func(ctx context.Context, d handlers.DeadLetter[Order]) error {
		fmt.Printf("%s gave up on order %d of %s after %d attempt(s): %s\n",
			d.Subscriber, d.Message.ID, d.Topic, d.Attempts, d.Err)
		return nil
	})
	for _, r := range []handlers.Registration{fail, dead} {
		if _, err := r.Subscribe(ctx, b); err != nil {
			fmt.Println(err)
			return
		}
	}
	orders, _ := bus.NewTopic[Order](b, "orders.created")
	_ = orders.Publish(ctx, Order{ID: 7, Total: -1})
	_ = b.WaitIdle(ctx)
	// Output:
	// billing gave up on order 7 of orders.created after 1 attempt(s): order 7: negative total
}

func ExampleWithMiddleware() {
	b := bus.New()
	defer b.Close(context.Background())

	trace := func(name string) handlers.Middleware[Order] {
		return func(next handlers.Handler[Order]) handlers.Handler[Order] {
			return handlers.Func[Order](func(ctx context.Context, o Order) error {
				fmt.Println(name, "before")
				err := next.Handle(ctx, o)
				fmt.Println(name, "after")
				return err
			})
		}
	}
	reg := handlers.RegisterFunc("orders.created", func(ctx context.Context, o Order) error {
		fmt.Println("handler")
		return nil
	}, handlers.WithMiddleware(trace("outer"), trace("inner")))
	if _, err := reg.Subscribe(context.Background(), b); err != nil {
		fmt.Println(err)
		return
	}
	orders, _ := bus.NewTopic[Order](b, "orders.created")
	_ = orders.PublishSync(context.Background(), Order{ID: 1})
	// Output:
	// outer before
	// inner before
	// handler
	// inner after
	// outer after
}

// NewAuditHandler is an fx constructor of a Registration.
func NewAuditHandler(log func(string)) handlers.Registration {
	return handlers.Register[Order]("orders.created", &Audit{Log: log}, bus.Name("audit"))
}

// Mailer is a handler whose constructor knows nothing of this package.
type Mailer struct{ log func(string) }

func NewMailer(log func(string)) *Mailer { return &Mailer{log: log} }

func (m *Mailer) Handle(ctx context.Context, o Order) error {
	m.log(fmt.Sprintf("mail: order %d", o.ID))
	return nil
}

func ExampleProvide() {
	var (
		mu    sync.Mutex
		lines []string
	)
	logLine := func(s string) { mu.Lock(); defer mu.Unlock(); lines = append(lines, s) }
	app := fx.New(
		fx.NopLogger,
		fxbus.Module, // runs the registrations
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fxbus.Topic[Order]("orders.created"),
		fxbus.Topic[Payment]("payments.requested"),
		fx.Supply(logLine),
		handlers.Provide(NewAuditHandler),
		handlers.ProvideHandler[Order]("orders.created", NewMailer, bus.Name("mail")),
		handlers.Supply(handlers.RegisterFunc("payments.requested",
			func(ctx context.Context, p Payment) error {
				logLine(fmt.Sprintf("charge: order %d", p.OrderID))
				return nil
			},
			bus.Name("charge"))),
		fx.Invoke(func(orders fxbus.Publisher[Order], payments fxbus.Publisher[Payment], lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func(ctx context.Context) error {
				return errors.Join(orders.Publish(ctx, Order{ID: 1, Total: 5}), payments.Publish(ctx, Payment{OrderID: 1}))
			}))
		}),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	if err := app.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// audit: order 1, total 5
	// charge: order 1
	// mail: order 1
}
