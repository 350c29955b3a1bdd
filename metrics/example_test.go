package metrics_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/lifecycle"
	"github.com/fxbus/fxbus/metrics"
)

// Export a bus's metrics on the app's registry. A subscriber with a queue
// of one that reads late loses the second message: the drop shows, with
// its reason.
func Example() {
	ctx := context.Background()
	b := bus.New()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, b)
	if err != nil {
		panic(err)
	}
	defer m.Close()

	orders, _ := bus.NewTopic[string](b, "orders.created")
	audit, _ := orders.Subscribe(ctx, bus.Name("audit"), bus.Buffer(1), bus.WithPolicy(bus.DropNewest()))
	_ = orders.Publish(ctx, "A-1")
	_ = orders.Publish(ctx, "A-2") // the queue is full: dropped
	<-audit.C

	printNonZero(reg)
	_ = b.Close(ctx)
	// Output:
	// fxbus_events_delivered_total{subscriber="audit",topic="orders.created"} 1
	// fxbus_events_dropped_total{reason="full",subscriber="audit",topic="orders.created"} 1
	// fxbus_events_published_total{topic="orders.created"} 2
	// fxbus_queue_capacity{subscriber="audit",topic="orders.created"} 1
	// fxbus_subscribers{topic="orders.created"} 1
}

// The observer feeds the handler duration histogram and the handler
// counters: a call that panicked counts as a panic, and what became of the
// message (here: retried) counts on its own. Without fx, give it to the
// lifecycle.Runner that subscribes the handlers (fxbus.Module does this
// when the app has a prometheus.Registerer).
func ExampleMetrics_Observer() {
	ctx := context.Background()
	b := bus.New()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, b, metrics.Buckets(0.01, 0.1, 1))
	if err != nil {
		panic(err)
	}
	defer m.Close()

	orders, _ := bus.NewTopic[string](b, "orders.created")
	tries := 0
	billing := handlers.RegisterFunc("orders.created", func(context.Context, string) error {
		if tries++; tries == 1 {
			panic("the first try fails")
		}
		return nil
	}, bus.Name("billing"), handlers.Retry(2))
	r := lifecycle.New(b, []handlers.Registration{billing}, lifecycle.Options{
		Observer: m.Observer(),
		Wait:     func(ctx context.Context, _ time.Duration) error { return ctx.Err() }, // retry at once
	})
	if err := r.Start(ctx); err != nil {
		panic(err)
	}
	_ = orders.PublishSync(ctx, "A-1") // returns once the handler is done

	printNonZero(reg, "fxbus_handler_")
	_ = r.Stop(ctx)
	// Output:
	// fxbus_handler_calls_total{outcome="ok",subscriber="billing",topic="orders.created"} 1
	// fxbus_handler_calls_total{outcome="panic",subscriber="billing",topic="orders.created"} 1
	// fxbus_handler_duration_seconds_count{subscriber="billing",topic="orders.created"} 2
	// fxbus_handler_failures_total{subscriber="billing",then="retried",topic="orders.created"} 1
}

// Collector and Series give prometheus/testutil the fxbus metrics, without a
// registry of one's own: CollectAndCount and CollectAndLint take the
// collector, ToFloat64 one series.
func ExampleMetrics_Series() {
	b := bus.New()
	defer func() { _ = b.Close(context.Background()) }()
	m, err := metrics.New(nil, b) // nil: not registered anywhere
	if err != nil {
		panic(err)
	}
	defer m.Close()
	orders, _ := bus.NewTopic[string](b, "orders.created")
	_ = orders.Publish(context.Background(), "A-1")
	_ = orders.Publish(context.Background(), "A-2")

	fmt.Println(testutil.ToFloat64(m.Series("fxbus_events_unrouted_total", prometheus.Labels{"topic": "orders.created"})))
	fmt.Println(testutil.CollectAndCount(m.Collector(), "fxbus_events_published_total"))
	// Output:
	// 2
	// 1
}

// printNonZero prints the series of reg that are not zero, sorted; with a
// prefix, only those whose name starts with it.
func printNonZero(reg prometheus.Gatherer, prefix ...string) {
	families, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	var lines []string
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			name, v := mf.GetName(), 0.0
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				v = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				name, v = name+"_count", float64(m.GetHistogram().GetSampleCount())
			}
			if v == 0 || (len(prefix) > 0 && !strings.HasPrefix(name, prefix[0])) {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			lines = append(lines, fmt.Sprintf("%s{%s} %v", name, strings.Join(labels, ","), v))
		}
	}
	sort.Strings(lines)
	fmt.Println(strings.Join(lines, "\n"))
}
