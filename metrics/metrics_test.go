package metrics

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/observe"
)

// twoBusNames are the metrics TestTwoBusesOneRegistry compares.
var twoBusNames = []string{
	"fxbus_events_published_total",
	"fxbus_subscribers",
	"fxbus_queue_depth",
	"fxbus_handler_calls_total",
}

// TestTwoBusesOneRegistry is two apps in one test binary: the second New
// on a registry joins the first's collector, series with the same labels
// are summed, and each Close takes its bus out.
func TestTwoBusesOneRegistry(t *testing.T) {
	ctx := testCtx(t)
	reg := prometheus.NewPedanticRegistry()
	b1, b2 := bus.New(), bus.New()
	defer closeBus(t, b1)
	defer closeBus(t, b2)
	m1, err := New(reg, b1)
	check(t, err)
	defer m1.Close()
	m2, err := New(reg, b2)
	check(t, err)
	defer m2.Close()
	if m1.c != m2.c {
		t.Fatal("the second bus did not join the registry's collector")
	}

	t1, t2 := newTopic[int](t, b1, "t"), newTopic[int](t, b2, "t")
	subscribe[int](t, b1, "t", bus.Name("s"), bus.Buffer(4))
	subscribe[int](t, b2, "t", bus.Name("s"), bus.Buffer(4))
	subscribe[int](t, b2, "t", bus.Name("only2"), bus.Buffer(4))
	check(t, t1.Publish(ctx, 1))
	check(t, t2.Publish(ctx, 2))
	check(t, t2.Publish(ctx, 3))
	ok := observe.Call{Duration: time.Millisecond, Outcome: observe.OutcomeOK, Attempt: 1}
	m1.Observer().Bind("t", "h").Observe(ok)
	m2.Observer().Bind("t", "h").Observe(ok)
	m2.Observer().Bind("t", "h2").Observe(ok)

	both := `
# HELP fxbus_events_published_total Events accepted by Publish on a topic, routed to a subscriber or not.
# TYPE fxbus_events_published_total counter
fxbus_events_published_total{topic="t"} 3
# HELP fxbus_subscribers Live subscriptions attached to a topic, wildcard ones included.
# TYPE fxbus_subscribers gauge
fxbus_subscribers{topic="t"} 3
# HELP fxbus_queue_depth Events waiting in a subscriber's queue, or being handled: the in-process form of consumer lag.
# TYPE fxbus_queue_depth gauge
fxbus_queue_depth{subscriber="only2",topic="t"} 2
fxbus_queue_depth{subscriber="s",topic="t"} 3
# HELP fxbus_handler_calls_total Handler calls (each attempt), by what the call did: ok, error, panic or timeout.
# TYPE fxbus_handler_calls_total counter
fxbus_handler_calls_total{outcome="error",subscriber="h",topic="t"} 0
fxbus_handler_calls_total{outcome="ok",subscriber="h",topic="t"} 2
fxbus_handler_calls_total{outcome="panic",subscriber="h",topic="t"} 0
fxbus_handler_calls_total{outcome="timeout",subscriber="h",topic="t"} 0
fxbus_handler_calls_total{outcome="error",subscriber="h2",topic="t"} 0
fxbus_handler_calls_total{outcome="ok",subscriber="h2",topic="t"} 1
fxbus_handler_calls_total{outcome="panic",subscriber="h2",topic="t"} 0
fxbus_handler_calls_total{outcome="timeout",subscriber="h2",topic="t"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(both), twoBusNames...); err != nil {
		t.Error("both buses:", err)
	}

	// Without b1: its share of the sums goes; the handler series of h stay
	// (b2 has an h too), those of h2 were only ever b2's.
	m1.Close()
	only2 := `
# HELP fxbus_events_published_total Events accepted by Publish on a topic, routed to a subscriber or not.
# TYPE fxbus_events_published_total counter
fxbus_events_published_total{topic="t"} 2
# HELP fxbus_subscribers Live subscriptions attached to a topic, wildcard ones included.
# TYPE fxbus_subscribers gauge
fxbus_subscribers{topic="t"} 2
# HELP fxbus_queue_depth Events waiting in a subscriber's queue, or being handled: the in-process form of consumer lag.
# TYPE fxbus_queue_depth gauge
fxbus_queue_depth{subscriber="only2",topic="t"} 2
fxbus_queue_depth{subscriber="s",topic="t"} 2
`
	want := only2 + both[strings.Index(both, "# HELP fxbus_handler_calls_total"):]
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), twoBusNames...); err != nil {
		t.Error("after closing the first:", err)
	}

	// Without either: the collector leaves the registry.
	m2.Close()
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("after closing both: %d series (%v), want none", n, err)
	}

	// And a new bus registers afresh.
	m3, err := New(reg, b1)
	check(t, err)
	defer m3.Close()
	if m3.c == m1.c {
		t.Error("New reused an unregistered collector")
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP fxbus_events_published_total Events accepted by Publish on a topic, routed to a subscriber or not.
# TYPE fxbus_events_published_total counter
fxbus_events_published_total{topic="t"} 1
`), "fxbus_events_published_total"); err != nil {
		t.Error("after registering again:", err)
	}
}

// TestConstLabels exports two buses side by side on one registry.
func TestConstLabels(t *testing.T) {
	ctx := testCtx(t)
	reg := prometheus.NewPedanticRegistry()
	b1, b2 := bus.New(), bus.New()
	defer closeBus(t, b1)
	defer closeBus(t, b2)
	m1, err := New(reg, b1, ConstLabels(prometheus.Labels{"bus": "orders"}))
	check(t, err)
	defer m1.Close()
	m2, err := New(reg, b2, ConstLabels(prometheus.Labels{"bus": "billing"}))
	check(t, err)
	defer m2.Close()
	if m1.c == m2.c {
		t.Fatal("buses with different const labels share a collector")
	}
	check(t, newTopic[int](t, b1, "t").Publish(ctx, 1))
	t2 := newTopic[int](t, b2, "t")
	check(t, t2.Publish(ctx, 1))
	check(t, t2.Publish(ctx, 1))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP fxbus_events_published_total Events accepted by Publish on a topic, routed to a subscriber or not.
# TYPE fxbus_events_published_total counter
fxbus_events_published_total{bus="billing",topic="t"} 2
fxbus_events_published_total{bus="orders",topic="t"} 1
`), "fxbus_events_published_total"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	check(t, err)
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestNewErrors(t *testing.T) {
	b := bus.New()
	defer closeBus(t, b)
	other := bus.New()
	defer closeBus(t, other)

	tests := []struct {
		name  string
		setup func(reg *prometheus.Registry) // registers something first
		b     *bus.Bus
		opts  []Option
		want  string
	}{
		{name: "nil bus", want: "nil *bus.Bus"},
		{name: "nil option", b: b, opts: []Option{nil}, want: "nil Option"},
		{name: "no buckets", b: b, opts: []Option{Buckets()}, want: "no buckets"},
		{name: "unsorted buckets", b: b, opts: []Option{Buckets(1, 0.5)}, want: "increasing order"},
		{name: "const label clash", b: b, opts: []Option{ConstLabels(prometheus.Labels{"topic": "x"})}, want: `"topic" is a label`},
		{
			name:  "same bus twice",
			setup: func(reg *prometheus.Registry) { _, _ = New(reg, b) },
			b:     b,
			want:  "already exported",
		},
		{
			name:  "other buckets",
			setup: func(reg *prometheus.Registry) { _, _ = New(reg, b) },
			b:     other,
			opts:  []Option{Buckets(1, 2)},
			want:  "histogram buckets",
		},
		{
			name: "foreign collector",
			setup: func(reg *prometheus.Registry) {
				m, _ := New(nil, b)
				reg.MustRegister(&foreign{newCollector(&config{buckets: DefaultBuckets})})
				_ = m
			},
			b:    b,
			want: "another collector",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			if tt.setup != nil {
				tt.setup(reg)
			}
			m, err := New(reg, tt.b, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, %v; want an error containing %q", m, err, tt.want)
			}
		})
	}
}

// foreign has the fxbus descriptors but is not this package's collector.
type foreign struct{ c *collector }

func (f *foreign) Describe(ch chan<- *prometheus.Desc) { f.c.Describe(ch) }
func (f *foreign) Collect(chan<- prometheus.Metric)    {}

func TestNilRegisterer(t *testing.T) {
	b := bus.New()
	defer closeBus(t, b)
	m, err := New(nil, b)
	check(t, err)
	// Nothing is registered, but the collector serves the bus's metrics.
	top := newTopic[int](t, b, "t")
	check(t, top.Publish(testCtx(t), 1))
	if got := testutil.ToFloat64(m.Series("fxbus_events_published_total", prometheus.Labels{"topic": "t"})); got != 1 {
		t.Errorf("published = %v, want 1", got)
	}
	m.Close()
	m.Close()
	if n := testutil.CollectAndCount(m.Collector()); n != 0 {
		t.Errorf("%d series after Close, want 0", n)
	}
}

// TestObserverAfterClose: Close deletes the handler series, and observers
// bound later record nothing.
func TestObserverAfterClose(t *testing.T) {
	b := bus.New()
	defer closeBus(t, b)
	reg := prometheus.NewPedanticRegistry()
	keep, err := New(reg, bus.New()) // keeps the collector registered
	check(t, err)
	defer keep.Close()
	m, err := New(reg, b)
	check(t, err)
	o := m.Observer()
	o.Bind("t", "h").Observe(observe.Call{Outcome: observe.OutcomeError})
	if n := testutil.CollectAndCount(m.c, "fxbus_handler_calls_total"); n != len(outcomeLabels) {
		t.Fatalf("%d call series, want %d", n, len(outcomeLabels))
	}
	m.Close()
	o.Bind("t", "h").Observe(observe.Call{Outcome: observe.OutcomeError})
	if n := testutil.CollectAndCount(m.c, "fxbus_handler_calls_total", "fxbus_handler_duration_seconds"); n != 0 {
		t.Errorf("%d handler series after Close, want 0", n)
	}
}

// TestNativeHistogram checks that the duration histogram carries classic
// buckets and, unless turned off, a native histogram.
func TestNativeHistogram(t *testing.T) {
	tests := []struct {
		name       string
		opts       []Option
		wantSchema bool
	}{
		{name: "default", wantSchema: true},
		{name: "off", opts: []Option{NativeHistogram(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := bus.New()
			defer closeBus(t, b)
			reg := prometheus.NewPedanticRegistry()
			m, err := New(reg, b, tt.opts...)
			check(t, err)
			defer m.Close()
			m.Observer().Bind("t", "h").Observe(observe.Call{Duration: 3 * time.Millisecond})
			families, err := reg.Gather()
			check(t, err)
			for _, mf := range families {
				if mf.GetName() != "fxbus_handler_duration_seconds" {
					continue
				}
				h := mf.GetMetric()[0].GetHistogram()
				if got := len(h.GetBucket()); got != len(DefaultBuckets) {
					t.Errorf("%d classic buckets, want %d", got, len(DefaultBuckets))
				}
				if got := h.Schema != nil; got != tt.wantSchema {
					t.Errorf("native histogram = %v, want %v", got, tt.wantSchema)
				}
				if tt.wantSchema && h.GetSchema() != 3 {
					t.Errorf("schema %d, want 3 (bucket factor 1.1)", h.GetSchema())
				}
				return
			}
			t.Fatal("no fxbus_handler_duration_seconds")
		})
	}
}

// TestDeadLetterTopics: the unrouted publishes that count as unhandled dead
// letters are those on the topics that observed handlers reported as their
// dead-letter topics, whatever their names; a topic named like a default
// dead-letter topic that no handler reported is not one.
func TestDeadLetterTopics(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New()
	defer closeBus(t, b)
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, b)
	check(t, err)
	defer m.Close()
	giveUp := handlers.RegisterFunc("orders", func(context.Context, int) error { return errors.New("no") },
		bus.Name("w"), handlers.DeadLetterTopic("dlq.orders"))
	if _, err := giveUp.Subscribe(observe.WithEnv(ctx, observe.Env{Observer: m.Observer()}), b); err != nil {
		t.Fatal(err)
	}
	if err := newTopic[int](t, b, "orders").PublishSync(ctx, 1); !errors.Is(err, handlers.ErrDeadLetterUnread) {
		t.Fatalf("PublishSync = %v, want a dead letter nobody reads", err)
	}
	check(t, newTopic[int](t, b, "other.dead-letter").Publish(ctx, 1))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP fxbus_events_dropped_total Events not delivered to a subscriber, by reason.
# TYPE fxbus_events_dropped_total counter
fxbus_events_dropped_total{reason="canceled",subscriber="w",topic="orders"} 0
fxbus_events_dropped_total{reason="dead-letter-unhandled",subscriber="",topic="dlq.orders"} 1
fxbus_events_dropped_total{reason="disconnect",subscriber="w",topic="orders"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="w",topic="orders"} 0
fxbus_events_dropped_total{reason="full",subscriber="w",topic="orders"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="w",topic="orders"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="w",topic="orders"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="w",topic="orders"} 0
`), "fxbus_events_dropped_total"); err != nil {
		t.Error(err)
	}
}

// TestConcurrentNewClose registers, scrapes and closes from several
// goroutines on one registry, for the race detector.
func TestConcurrentNewClose(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := bus.New()
			defer func() { _ = b.Close(context.Background()) }()
			for range 20 {
				m, err := New(reg, b)
				if err != nil {
					t.Error(err)
					return
				}
				m.Observer().Bind("t", "h").Observe(observe.Call{})
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
				}
				m.Close()
			}
		}()
	}
	wg.Wait()
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("%d series left (%v), want none", n, err)
	}
}

// TestNoAllocs: Observe, and Publish with metrics registered, do not
// allocate.
func TestNoAllocs(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, b)
	check(t, err)
	defer m.Close()
	co := m.Observer().Bind("t", "h")
	call := observe.Call{Ctx: ctx, Duration: time.Millisecond, Outcome: observe.OutcomeError, Fate: observe.FateRetried, Err: errTransient, Attempt: 1}
	if n := testing.AllocsPerRun(1000, func() { co.Observe(call) }); n != 0 {
		t.Errorf("Observe: %v allocations", n)
	}

	top := newTopic[int](t, b, "t")
	s := subscribe[int](t, b, "t", bus.Buffer(1024))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range s.C {
		}
	}()
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = top.Publish(ctx, 1) }); n != 0 {
		t.Errorf("Publish: %v allocations", n)
	}
	closeBus(t, b)
	waitDone(t, done)
}

// TestCloseIdempotent: closing twice, and closing in any order with the
// bus, is fine.
func TestCloseIdempotent(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	b := bus.New()
	m, err := New(reg, b)
	check(t, err)
	closeBus(t, b)
	if _, err := reg.Gather(); err != nil {
		t.Fatal("gather after the bus closed:", err)
	}
	m.Close()
	m.Close()
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 0 {
		t.Errorf("%d series left (%v), want none", n, err)
	}
}
