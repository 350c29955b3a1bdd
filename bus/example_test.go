package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/fxbus/fxbus/bus"
)

type OrderCreated struct {
	ID    string
	Total int
}

func ExampleNewTopic() {
	ctx := context.Background()
	b := bus.New()
	defer b.Close(ctx)

	orders, err := bus.NewTopic[OrderCreated](b, "orders.created")
	if err != nil {
		panic(err)
	}
	sub, err := orders.Subscribe(ctx, bus.Name("mailer"), bus.Buffer(16))
	if err != nil {
		panic(err)
	}
	_ = orders.Publish(ctx, OrderCreated{ID: "A-1", Total: 42})

	m := <-sub.C
	fmt.Println(m.Topic, m.Value.ID, m.Value.Total)
	// Output: orders.created A-1 42
}

func ExampleHandle() {
	ctx := context.Background()
	b := bus.New()
	orders, _ := bus.NewTopic[OrderCreated](b, "orders.created")

	// Handlers run on the bus's workers, one message at a time by default.
	_, err := bus.Handle(ctx, b, "orders.*", func(ctx context.Context, o OrderCreated) error {
		topic, _ := bus.TopicFrom(ctx)
		fmt.Println("handling", o.ID, "from", topic)
		return nil
	}, bus.Name("billing"))
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"A-1", "A-2"} {
		_ = orders.Publish(ctx, OrderCreated{ID: id})
	}
	_ = b.Close(ctx) // delivers what was published before it
	// Output:
	// handling A-1 from orders.created
	// handling A-2 from orders.created
}

func ExampleQueueGroup() {
	ctx := context.Background()
	b := bus.New()
	jobs, _ := bus.NewTopic[int](b, "jobs")

	// Two workers share the jobs; the audit log sees every one.
	var worked, audited atomic.Int64
	for range 2 {
		_, _ = jobs.Handle(ctx, func(context.Context, int) error {
			worked.Add(1)
			return nil
		}, bus.QueueGroup("workers"))
	}
	_, _ = jobs.Handle(ctx, func(context.Context, int) error {
		audited.Add(1)
		return nil
	}, bus.Name("audit"))

	for i := range 10 {
		_ = jobs.Publish(ctx, i)
	}
	_ = b.Close(ctx)
	fmt.Println("worked:", worked.Load(), "audited:", audited.Load())
	// Output: worked: 10 audited: 10
}

func ExampleDropNewest() {
	ctx := context.Background()
	b := bus.New()
	prices, _ := bus.NewTopic[float64](b, "prices")

	// A subscriber that must never hold up the publisher.
	sub, _ := prices.Subscribe(ctx, bus.Name("chart"), bus.Buffer(2), bus.WithPolicy(bus.DropNewest()))
	for _, p := range []float64{1.0, 1.1, 1.2, 1.3, 1.4} {
		_ = prices.Publish(ctx, p) // never waits
	}

	st := b.Stats().Subscriptions[0]
	fmt.Printf("%s: published %d, queued %d, dropped %v\n", st.Name, st.Published, st.Queued, st.Dropped)
	fmt.Println((<-sub.C).Value, (<-sub.C).Value)
	_ = b.Close(ctx)
	// Output:
	// chart: published 5, queued 2, dropped map[full:3]
	// 1 1.1
}

func ExampleTopic_PublishSync() {
	ctx := context.Background()
	b := bus.New()
	defer b.Close(ctx)
	payments, _ := bus.NewTopic[int](b, "payments")

	balance := 0
	_, _ = payments.Handle(ctx, func(_ context.Context, amount int) error {
		if balance+amount < 0 {
			return errors.New("insufficient funds")
		}
		balance += amount
		return nil
	})

	// PublishSync returns once the handler has run, with its error.
	fmt.Println(payments.PublishSync(ctx, 100), balance)
	fmt.Println(payments.PublishSync(ctx, -250), balance)
	// Output:
	// <nil> 100
	// insufficient funds 100
}

func ExampleBus_Close() {
	ctx := context.Background()
	b := bus.New()
	events, _ := bus.NewTopic[string](b, "events")
	sub, _ := events.Subscribe(ctx, bus.Name("reader"))

	done := make(chan int)
	go func() {
		n := 0
		for range sub.C { // ends when Close closes the channel
			n++
		}
		done <- n
	}()
	for _, e := range []string{"a", "b", "c"} {
		_ = events.Publish(ctx, e)
	}

	// Close waits until the reader has every message, then closes C.
	fmt.Println("close:", b.Close(ctx))
	fmt.Println("read:", <-done)
	fmt.Println("sub:", sub.Err())
	fmt.Println("publish:", events.Publish(ctx, "d"))
	// Output:
	// close: <nil>
	// read: 3
	// sub: bus: closed
	// publish: bus: closed
}

// A Policy reads itself from configuration text (YAML, JSON, flag.TextVar).
func ExamplePolicy_UnmarshalText() {
	for _, s := range []string{"block:250ms", "drop-oldest", "disconnect:10", "sometimes"} {
		var p bus.Policy
		err := p.UnmarshalText([]byte(s))
		fmt.Println(p, err)
	}
	// Output:
	// block:250ms <nil>
	// drop-oldest <nil>
	// disconnect:10 <nil>
	// block bus: unknown policy "sometimes": want block, block:DURATION, drop-newest, drop-oldest or disconnect:N
}
