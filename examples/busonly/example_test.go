package busonly_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fxbus/fxbus/bus"
)

type Order struct{ ID string }

func Example() {
	ctx := context.Background()
	b := bus.New()
	defer b.Close(ctx) // drains the queues, then ends every subscription

	orders, err := bus.NewTopic[Order](b, "orders.placed")
	if err != nil {
		log.Fatal(err)
	}
	feed, err := orders.Subscribe(ctx, bus.Buffer(16), bus.WithPolicy(bus.DropOldest()))
	if err != nil {
		log.Fatal(err)
	}
	if err := orders.Publish(ctx, Order{ID: "A-1"}); err != nil {
		log.Fatal(err)
	}
	msg := <-feed.C
	fmt.Println(msg.Topic, msg.Value.ID)
	// Output: orders.placed A-1
}
