package natsbridge_test

import (
	"context"
	"testing"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// Billing is the handler of the README's billing service.
type Billing struct{ billed chan OrderPlaced }

func (b *Billing) Handle(ctx context.Context, o OrderPlaced) error {
	b.billed <- o
	return nil
}

// The README's "Across processes" snippet, as written, beside an order
// service that connects to its embedded server: the order reaches billing.
func TestReadmeAcrossProcesses(t *testing.T) {
	checkLeaks(t)
	billed := make(chan OrderPlaced, 10)
	NewBilling := func() handlers.Registration {
		return handlers.Register[OrderPlaced]("orders.placed", &Billing{billed: billed})
	}
	var bridge *natsbridge.Bridge
	billing := fxtestApp(t,
		natsbridge.Configure(func(c *natsbridge.Config) { // where the test keeps the store
			c.Embedded.StoreDir = t.TempDir()
			c.Embedded.Listen = "127.0.0.1:0"
		}),
		fx.Populate(&bridge),

		// The README's lines:
		fxbus.Module,
		natsbridge.Module, // embedded JetStream unless a URL is configured
		fxbus.Topic[OrderPlaced]("orders.placed"),
		natsbridge.Export[OrderPlaced]("orders.>"), // local publishes also go to the stream
		natsbridge.Import[OrderPlaced]("orders.placed", // the stream feeds local handlers
			natsbridge.Durable("billing")),
		handlers.Provide(NewBilling), // an ordinary handler, unchanged
	)
	billing.RequireStart()
	defer billing.RequireStop()

	var orders fxbus.Publisher[OrderPlaced]
	orderService := fxtestApp(t,
		fxbus.Module, natsbridge.Module,
		natsbridge.Configure(func(c *natsbridge.Config) { c.URLs = []string{bridge.ClientURL()} }),
		fxbus.Topic[OrderPlaced]("orders.placed"),
		natsbridge.Export[OrderPlaced]("orders.>"),
		fx.Populate(&orders),
	)
	orderService.RequireStart()
	if err := orders.Publish(testCtx(t), OrderPlaced{ID: "A-1"}); err != nil {
		t.Fatal(err)
	}
	if o := <-billed; o.ID != "A-1" {
		t.Errorf("billed %+v", o)
	}
	orderService.RequireStop()
}
