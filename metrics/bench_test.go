package metrics

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/observe"
)

type benchEvent struct {
	ID    int64
	Price int64
}

// benchBus is a bus with n channel subscribers, each drained by its own
// goroutine, and, if withMetrics, its metrics registered and scraped once.
func benchBus(b *testing.B, n int, withMetrics bool) (*bus.Topic[benchEvent], func()) {
	b.Helper()
	bs := bus.New()
	top, err := bus.NewTopic[benchEvent](bs, "bench.events")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		s, err := top.Subscribe(context.Background(), bus.Buffer(1024), bus.Name(fmt.Sprint("s", i)))
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
	var m *Metrics
	if withMetrics {
		reg := prometheus.NewRegistry()
		if m, err = New(reg, bs); err != nil {
			b.Fatal(err)
		}
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
	return top, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := bs.Close(ctx); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
		if m != nil {
			m.Close()
		}
	}
}

// BenchmarkPublish measures Publish without and with metrics, side by side
// in one run: the publish path does nothing for metrics, so the two should
// match, with 0 allocs/op.
func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 10} {
		for _, withMetrics := range []bool{false, true} {
			b.Run(fmt.Sprintf("subs=%d/metrics=%v", n, withMetrics), func(b *testing.B) {
				top, done := benchBus(b, n, withMetrics)
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					if err := top.Publish(ctx, benchEvent{ID: int64(i)}); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				done()
			})
		}
	}
}

// BenchmarkObserve measures one handler call's cost to the metrics: a
// histogram observation and a counter increment, with the default native
// histogram beside the classic buckets, and with classic buckets only.
func BenchmarkObserve(b *testing.B) {
	call := observe.Call{Ctx: context.Background(), Duration: 3 * time.Millisecond, Outcome: observe.OutcomeOK, Attempt: 1}
	for _, tt := range []struct {
		name string
		opts []Option
	}{
		{name: "native+classic"},
		{name: "classic", opts: []Option{NativeHistogram(0)}},
	} {
		bs := bus.New()
		m, err := New(prometheus.NewRegistry(), bs, tt.opts...)
		if err != nil {
			b.Fatal(err)
		}
		co := m.Observer().Bind("bench.events", "h")
		b.Run(tt.name+"/serial", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				co.Observe(call)
			}
		})
		b.Run(tt.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					co.Observe(call)
				}
			})
		})
		m.Close()
		_ = bs.Close(context.Background())
	}
}

// BenchmarkScrape measures a scrape of a bus with 10 topics of 10
// subscribers each: what the collector costs, off the publish path.
func BenchmarkScrape(b *testing.B) {
	bs := bus.New()
	defer func() { _ = bs.Close(context.Background()) }()
	reg := prometheus.NewRegistry()
	m, err := New(reg, bs)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	for i := range 10 {
		for j := range 10 {
			if _, err := bus.Subscribe[int](context.Background(), bs, fmt.Sprint("t", i), bus.Name(fmt.Sprint("s", j))); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
