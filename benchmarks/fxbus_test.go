package benchmarks

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// closeTimeout bounds the bus's Close, so that a teardown that cannot finish
// fails the row (Close returns a *bus.ShutdownError) instead of hanging it.
const closeTimeout = 30 * time.Second

// newFxbusTopic makes a bus with the benchmarks' topic and closes the bus
// when the row is done. Subscriptions keep the default policy, Block, which
// waits for room as a raw channel send does.
func newFxbusTopic(b *testing.B) *bus.Topic[event] {
	bs := bus.New()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := bs.Close(ctx); err != nil {
			b.Error(err)
		}
	})
	t, err := bus.NewTopic[event](bs, topic)
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// fxbusChannels subscribes with Topic.Subscribe; a goroutine per
// subscription reads its channel C.
func fxbusChannels(b *testing.B, hs []handler) func(event) error {
	var readers sync.WaitGroup
	b.Cleanup(readers.Wait) // after the bus's Close (cleanups run last first), which closes every C
	t := newFxbusTopic(b)
	for i, h := range hs {
		s, err := t.Subscribe(context.Background(), bus.Name(subName(i)), bus.Buffer(buffer))
		if err != nil {
			b.Fatal(err)
		}
		readers.Go(func() {
			for m := range s.C {
				h(m.Value)
			}
		})
	}
	return fxbusPublish(t)
}

// fxbusHandlers subscribes with Topic.Handle: the bus's workers call the
// handlers.
func fxbusHandlers(b *testing.B, hs []handler) func(event) error {
	t := newFxbusTopic(b)
	for i, h := range hs {
		fn := func(_ context.Context, ev event) error {
			h(ev)
			return nil
		}
		if _, err := t.Handle(context.Background(), fn, bus.Name(subName(i)), bus.Buffer(buffer)); err != nil {
			b.Fatal(err)
		}
	}
	return fxbusPublish(t)
}

func fxbusPublish(t *bus.Topic[event]) func(event) error {
	ctx := context.Background()
	return func(ev event) error { return t.Publish(ctx, ev) }
}
