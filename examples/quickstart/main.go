package main

import (
	"context"
	"fmt"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
)

// OrderPlaced is the one event of the quickstart.
type OrderPlaced struct{ ID string }

func main() {
	fx.New(
		fxbus.Module,
		fxbus.Topic[OrderPlaced]("orders.placed"),
		handlers.Supply(handlers.RegisterFunc("orders.placed", func(ctx context.Context, o OrderPlaced) error {
			fmt.Println("order placed:", o.ID)
			return nil
		})),
		fx.Invoke(func(lc fx.Lifecycle, orders fxbus.Publisher[OrderPlaced]) {
			lc.Append(fx.StartHook(func(ctx context.Context) error {
				return orders.Publish(ctx, OrderPlaced{ID: "A-1"})
			}))
		}),
	).Run() // until SIGINT or SIGTERM; then the bus drains and closes
}
