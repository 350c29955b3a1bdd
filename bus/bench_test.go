package bus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// The benchmarks run each bus workload beside its baseline, in the same run:
// raw buffered channels, one per subscriber, each drained by its own
// goroutine. Compare them with benchstat (see BENCHMARKS.md).

type event struct {
	ID    int64
	Price int64
}

const benchBuffer = 1024

// rawFanout is the baseline: one buffered channel per subscriber.
type rawFanout struct {
	chs []chan event
	wg  sync.WaitGroup
}

func newRawFanout(n int, consume func(event)) *rawFanout {
	r := &rawFanout{}
	for range n {
		ch := make(chan event, benchBuffer)
		r.chs = append(r.chs, ch)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for v := range ch {
				consume(v)
			}
		}()
	}
	return r
}

func (r *rawFanout) publish(v event) {
	for _, ch := range r.chs {
		ch <- v
	}
}

func (r *rawFanout) close() {
	for _, ch := range r.chs {
		close(ch)
	}
	r.wg.Wait()
}

func benchBus(b *testing.B, subs int, opts ...SubscribeOption) (*Bus, *Topic[event], func()) {
	b.Helper()
	bs := New()
	top, err := NewTopic[event](bs, "bench.events")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range subs {
		s, err := top.Subscribe(context.Background(), append([]SubscribeOption{Buffer(benchBuffer), Name(fmt.Sprint("s", i))}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range s.C {
			}
		}()
	}
	return bs, top, func() {
		if err := bs.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
	}
}

func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subs=%d/impl=raw", n), func(b *testing.B) {
			r := newRawFanout(n, func(event) {})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.publish(event{ID: int64(i)})
			}
			b.StopTimer()
			r.close()
		})
		b.Run(fmt.Sprintf("subs=%d/impl=bus", n), func(b *testing.B) {
			_, top, done := benchBus(b, n)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := top.Publish(ctx, event{ID: int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			done()
		})
	}
	b.Run("subs=0/impl=bus", func(b *testing.B) {
		_, top, done := benchBus(b, 0)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = top.Publish(ctx, event{ID: int64(i)})
		}
		b.StopTimer()
		done()
	})
	b.Run("group=4/impl=raw", func(b *testing.B) {
		// A work queue: one channel read by four goroutines.
		r := newRawFanout(0, nil)
		ch := make(chan event, benchBuffer)
		for range 4 {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				for range ch {
				}
			}()
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ch <- event{ID: int64(i)}
		}
		b.StopTimer()
		close(ch)
		r.wg.Wait()
	})
	b.Run("group=4/impl=bus", func(b *testing.B) {
		_, top, done := benchBus(b, 4, QueueGroup("workers"))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = top.Publish(ctx, event{ID: int64(i)})
		}
		b.StopTimer()
		done()
	})
	b.Run("parallel/subs=1/impl=raw", func(b *testing.B) {
		r := newRawFanout(1, func(event) {})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.publish(event{ID: 1})
			}
		})
		b.StopTimer()
		r.close()
	})
	b.Run("parallel/subs=1/impl=bus", func(b *testing.B) {
		_, top, done := benchBus(b, 1)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = top.Publish(ctx, event{ID: 1})
			}
		})
		b.StopTimer()
		done()
	})
}

// BenchmarkHandlers compares handler subscriptions with the usual way to run
// a handler: a goroutine per subscriber reading a buffered channel and
// calling the same function. ns/op is per published message.
func BenchmarkHandlers(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 100} {
		var sink atomic.Int64
		work := func(v event) { sink.Add(v.ID & 1) }
		b.Run(fmt.Sprintf("subs=%d/impl=raw", n), func(b *testing.B) {
			r := newRawFanout(n, work)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.publish(event{ID: int64(i)})
			}
			b.StopTimer()
			r.close()
		})
		b.Run(fmt.Sprintf("subs=%d/impl=bus", n), func(b *testing.B) {
			bs := New()
			top, err := NewTopic[event](bs, "bench.events")
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				_, err := top.Handle(ctx, func(_ context.Context, v event) error { work(v); return nil }, Buffer(benchBuffer), Name(fmt.Sprint("h", i)))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := top.Publish(ctx, event{ID: int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := bs.Close(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}
