package natsbridge_test

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

type OrderPlaced struct{ ID string }

// Two services, as two fx apps: the order service runs the embedded
// JetStream server (listening on a free loopback port) and exports its
// orders; the billing service connects to it and imports them into an
// ordinary handler, which sees the publisher's correlation ID.
func Example() {
	dir, err := os.MkdirTemp("", "natsbridge-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ctx := context.Background()

	var (
		orders fxbus.Publisher[OrderPlaced]
		bridge *natsbridge.Bridge
	)
	orderService := fx.New(fx.NopLogger,
		fxbus.Module,
		natsbridge.Module, // an embedded server: no URL is configured
		natsbridge.Configure(func(c *natsbridge.Config) {
			c.Name = "orders"
			c.Embedded.StoreDir = dir
			c.Embedded.Listen = "127.0.0.1:0"
		}),
		fxbus.Topic[OrderPlaced]("orders.placed"),
		natsbridge.Export[OrderPlaced]("orders.>"), // local publishes also go to the stream
		fx.Populate(&orders, &bridge),
	)
	if err := orderService.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer orderService.Stop(ctx)

	corr := bus.NewCorrelationID()
	billed := make(chan string, 1)
	billingService := fx.New(fx.NopLogger,
		fxbus.Module,
		natsbridge.Module,
		natsbridge.Configure(func(c *natsbridge.Config) {
			c.Name = "billing"
			c.URLs = []string{bridge.ClientURL()}
		}),
		natsbridge.Import[OrderPlaced]("orders.placed", natsbridge.Durable("billing")), // the stream feeds local handlers
		handlers.Supply(handlers.RegisterFunc("orders.placed", func(ctx context.Context, o OrderPlaced) error {
			id, _ := bus.CorrelationIDFrom(ctx)
			billed <- fmt.Sprintf("billing %s, same correlation ID: %v", o.ID, id == corr)
			return nil
		})),
	)
	if err := billingService.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer billingService.Stop(ctx)

	if err := orders.Publish(bus.WithCorrelationID(ctx, corr), OrderPlaced{ID: "A-1"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-billed)
	// Output: billing A-1, same correlation ID: true
}
