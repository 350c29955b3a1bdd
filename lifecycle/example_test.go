package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/lifecycle"
)

type Order struct{ ID string }

// A Runner without fx: declare the topics, start, publish, and stop, which
// drains the bus before it returns.
func ExampleRunner() {
	log := lifecycle.NewLog(nil) // give it a *zap.Logger to log
	b := bus.New(bus.WithHooks(log.Hooks()))
	orders, err := bus.NewTopic[Order](b, "orders") // declares the topic
	if err != nil {
		fmt.Println(err)
		return
	}
	var saved atomic.Int64
	r := lifecycle.New(b, []handlers.Registration{
		handlers.RegisterFunc("orders", func(ctx context.Context, o Order) error {
			saved.Add(1)
			return nil
		}, bus.Name("saver")),
	}, lifecycle.Options{
		Log: log,
	})
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		fmt.Println("start:", err)
		return
	}
	for _, id := range []string{"a", "b", "c"} {
		_ = orders.Publish(ctx, Order{ID: id})
	}
	if err := r.Stop(ctx); err != nil {
		fmt.Println("stop:", err)
	}
	fmt.Println("saved", saved.Load())
	fmt.Println(errors.Is(orders.Publish(ctx, Order{ID: "late"}), bus.ErrClosed))
	// Output:
	// saved 3
	// true
}

// A handler for a topic that nothing declared fails the start, and the
// error says what to add.
func ExampleRunner_Start() {
	b := bus.New()
	r := lifecycle.New(b, []handlers.Registration{
		handlers.RegisterFunc("orders.created", func(context.Context, Order) error { return nil }, bus.Name("saver")),
	}, lifecycle.Options{})
	err := r.Start(context.Background())
	_, hint, _ := strings.Cut(err.Error(), "is declared: ")
	fmt.Println(hint)
	// Output:
	// add fxbus.Topic[lifecycle_test.Order]("orders.created") to the app's options (or declare it with bus.NewTopic before Start)
}
