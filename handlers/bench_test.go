package handlers

import (
	"context"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

type benchEvent struct {
	ID    int64
	Price int64
}

var benchSink int64

func benchWork(_ context.Context, v benchEvent) error {
	benchSink += v.Price
	return nil
}

// BenchmarkChain measures what the layers cost per call, beside calling the
// handler directly, in the same run: compare the sub-benchmarks with
// "direct".
func BenchmarkChain(b *testing.B) {
	h := Handler[benchEvent](Func[benchEvent](benchWork))
	pass := Middleware[benchEvent](func(next Handler[benchEvent]) Handler[benchEvent] {
		return Func[benchEvent](func(ctx context.Context, v benchEvent) error { return next.Handle(ctx, v) })
	})
	cases := []struct {
		name string
		env  Env
		opts []bus.SubscribeOption
	}{
		{"defaults", Env{}, nil},
		{"retry+middleware", Env{}, []bus.SubscribeOption{Retry(5), WithMiddleware(pass)}},
		{"observer", Env{Observer: nopObserver{}}, nil},
		{"timeout", Env{}, []bus.SubscribeOption{Timeout(time.Minute)}},
	}
	ctx := bus.WithCorrelationID(context.Background(), bus.NewCorrelationID())
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = h.Handle(ctx, benchEvent{ID: int64(i), Price: 1})
		}
	})
	for _, c := range cases {
		chained := chainOf(b, h, c.env, c.opts...)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = chained.Handle(ctx, benchEvent{ID: int64(i), Price: 1})
			}
		})
	}
}

// BenchmarkBus publishes to one handler subscription made with bus.Handle,
// and to one made from a Registration, in the same run.
func BenchmarkBus(b *testing.B) {
	for _, c := range []struct {
		name      string
		subscribe func(bs *bus.Bus) error
	}{
		{"bus.Handle", func(bs *bus.Bus) error {
			_, err := bus.Handle(context.Background(), bs, "bench", benchWork, bus.Buffer(1024))
			return err
		}},
		{"Registration", func(bs *bus.Bus) error {
			_, err := RegisterFunc("bench", benchWork, bus.Buffer(1024)).Subscribe(context.Background(), bs)
			return err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			bs := bus.New()
			defer bs.Close(context.Background())
			top, err := bus.NewTopic[benchEvent](bs, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if err := c.subscribe(bs); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				_ = top.Publish(ctx, benchEvent{ID: int64(i), Price: 1})
			}
			if err := bs.WaitIdle(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
