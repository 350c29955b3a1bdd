package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/observe"
)

// TestWithHandlers runs real handler registrations (retry, dead letters,
// panic recovery, timeouts) with the Metrics observer, and checks the
// outcome counters, the histogram's counts and the unhandled dead letter.
// Durations are real here; TestScenario checks the histogram exactly.
func TestWithHandlers(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New()
	defer closeBus(t, b)
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, b)
	check(t, err)
	defer m.Close()
	env := observe.Env{Observer: m.Observer()}
	errFlaky := errors.New("flaky")

	// billing retries: "flaky" succeeds on its second attempt, "bad" never
	// does and is dead-lettered after three. It ignores the other kinds.
	billing := handlers.RegisterFunc("orders.created", func(ctx context.Context, o order) error {
		switch {
		case o.Kind == "flaky" && handlers.AttemptFrom(ctx) == 1, o.Kind == "bad":
			return errFlaky
		}
		return nil
	}, bus.Name("billing"), handlers.Retry(3, handlers.Backoff(time.Microsecond, time.Microsecond), handlers.Jitter(0)))
	// audit never retries nor dead-letters: its failures are error, panic
	// and timeout.
	audit := handlers.RegisterFunc("orders.created", func(ctx context.Context, o order) error {
		switch o.Kind {
		case "error":
			return errors.New("invalid order")
		case "panic":
			panic("order without lines")
		case "slow":
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}, bus.Name("audit"), handlers.NoDeadLetters(), handlers.Timeout(time.Millisecond))
	for _, r := range []handlers.Registration{billing, audit} {
		_, err := r.Subscribe(observe.WithEnv(t.Context(), env), b)
		check(t, err)
	}

	created := newTopic[order](t, b, "orders.created")
	for i, kind := range []string{"ok", "flaky", "bad", "error", "panic", "slow"} {
		err := created.PublishSync(ctx, order{ID: i, Kind: kind})
		if wantErr := kind != "ok" && kind != "flaky"; (err != nil) != wantErr {
			t.Fatalf("PublishSync(%s) = %v", kind, err)
		}
	}

	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP fxbus_handler_calls_total Handler calls (each attempt), by what the call did: ok, error, panic or timeout.
# TYPE fxbus_handler_calls_total counter
fxbus_handler_calls_total{outcome="error",subscriber="audit",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="ok",subscriber="audit",topic="orders.created"} 3
fxbus_handler_calls_total{outcome="panic",subscriber="audit",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="timeout",subscriber="audit",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="error",subscriber="billing",topic="orders.created"} 4
fxbus_handler_calls_total{outcome="ok",subscriber="billing",topic="orders.created"} 5
fxbus_handler_calls_total{outcome="panic",subscriber="billing",topic="orders.created"} 0
fxbus_handler_calls_total{outcome="timeout",subscriber="billing",topic="orders.created"} 0
# HELP fxbus_handler_failures_total Failed handler calls (each attempt), by what became of the message then: retried, or where it went after its last attempt.
# TYPE fxbus_handler_failures_total counter
fxbus_handler_failures_total{subscriber="audit",then="dead-letter-failed",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="audit",then="dead-letter-unread",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="audit",then="dead-lettered",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="audit",then="discarded",topic="orders.created"} 3
fxbus_handler_failures_total{subscriber="audit",then="retried",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="billing",then="dead-letter-failed",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="billing",then="dead-letter-unread",topic="orders.created"} 1
fxbus_handler_failures_total{subscriber="billing",then="dead-lettered",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="billing",then="discarded",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="billing",then="retried",topic="orders.created"} 3
# HELP fxbus_events_delivered_total Events a subscriber took: received from its channel, or handled by its handler whatever the outcome.
# TYPE fxbus_events_delivered_total counter
fxbus_events_delivered_total{subscriber="audit",topic="orders.created"} 6
fxbus_events_delivered_total{subscriber="billing",topic="orders.created"} 6
# HELP fxbus_events_unrouted_total Events published on a topic that no subscription matched.
# TYPE fxbus_events_unrouted_total counter
fxbus_events_unrouted_total{topic="orders.created"} 0
fxbus_events_unrouted_total{topic="orders.created.dead-letter"} 1
`), "fxbus_handler_calls_total", "fxbus_handler_failures_total", "fxbus_events_delivered_total", "fxbus_events_unrouted_total"); err != nil {
		t.Error(err)
	}
	samples := scrape(t, reg)
	if v := sum(samples, "fxbus_events_dropped_total", map[string]string{"reason": reasonDeadLetterUnhandled}); v != 1 {
		t.Errorf("dead-letter-unhandled = %v, want 1", v)
	}

	families, err := reg.Gather()
	check(t, err)
	counts := map[string]uint64{}
	for _, mf := range families {
		if mf.GetName() == "fxbus_handler_duration_seconds" {
			for _, mt := range mf.GetMetric() {
				for _, lp := range mt.GetLabel() {
					if lp.GetName() == labelSubscriber {
						counts[lp.GetValue()] = mt.GetHistogram().GetSampleCount()
					}
				}
			}
		}
	}
	if counts["billing"] != 9 || counts["audit"] != 6 {
		t.Errorf("histogram counts = %v, want billing 9 and audit 6", counts)
	}
}

// TestPanicsCountAsPanics is the alert that never fired: with default dead
// letters, 100 panics in 1,000 calls are 100 panics in the metrics, and
// where those messages went (a dead-letter topic that a handler reads) is
// counted on its own. It reads the series with testutil.ToFloat64 and lints
// the collector, as an app's own tests can.
func TestPanicsCountAsPanics(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New()
	defer closeBus(t, b)
	m, err := New(prometheus.NewPedanticRegistry(), b)
	check(t, err)
	defer m.Close()
	env := observe.Env{Observer: m.Observer()}
	worker := handlers.RegisterFunc("jobs", func(_ context.Context, n int) error {
		if n%10 == 0 {
			panic("every tenth job")
		}
		return nil
	}, bus.Name("worker"))
	keeper := handlers.RegisterFunc("jobs.dead-letter", func(context.Context, handlers.DeadLetter[int]) error { return nil },
		bus.Name("keeper"), handlers.NoDeadLetters())
	for _, r := range []handlers.Registration{worker, keeper} {
		_, err := r.Subscribe(observe.WithEnv(t.Context(), env), b)
		check(t, err)
	}
	jobs := newTopic[int](t, b, "jobs")
	for n := range 1000 {
		_ = jobs.PublishSync(ctx, n)
	}
	value := func(name string, l prometheus.Labels) float64 {
		l["topic"], l["subscriber"] = "jobs", "worker"
		return testutil.ToFloat64(m.Series(name, l))
	}
	if got := value("fxbus_handler_calls_total", prometheus.Labels{"outcome": "panic"}); got != 100 {
		t.Errorf("panics = %v, want 100", got)
	}
	if got := value("fxbus_handler_failures_total", prometheus.Labels{"then": "dead-lettered"}); got != 100 {
		t.Errorf("dead-lettered = %v, want 100", got)
	}
	if got := value("fxbus_handler_calls_total", prometheus.Labels{"outcome": "ok"}); got != 900 {
		t.Errorf("ok = %v, want 900", got)
	}
	if n := testutil.CollectAndCount(m.Collector(), "fxbus_handler_calls_total"); n != 2*len(outcomeLabels) {
		t.Errorf("CollectAndCount = %d call series, want %d (2 handlers)", n, 2*len(outcomeLabels))
	}
	problems, err := testutil.CollectAndLint(m.Collector())
	check(t, err)
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestSeries narrows the collector to one series, and says so when the
// name is not an fxbus metric.
func TestSeries(t *testing.T) {
	b := bus.New()
	defer closeBus(t, b)
	m, err := New(nil, b)
	check(t, err)
	defer m.Close()
	top := newTopic[int](t, b, "a")
	newTopic[int](t, b, "b")
	check(t, top.Publish(testCtx(t), 1))
	if got := testutil.ToFloat64(m.Series("fxbus_events_published_total", prometheus.Labels{"topic": "a"})); got != 1 {
		t.Errorf("a = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.Series("fxbus_events_published_total", nil)); n != 2 {
		t.Errorf("%d series without labels, want 2", n)
	}
	if n := testutil.CollectAndCount(m.Series("fxbus_events_published_total", prometheus.Labels{"topic": "c"})); n != 0 {
		t.Errorf("%d series of topic c, want 0", n)
	}
	defer func() {
		r := recover()
		if r == nil || !strings.Contains(fmt.Sprint(r), `no fxbus metric is called "fxbus_nope"`) {
			t.Errorf("ToFloat64 of an unknown name: %v, want it to say the name is unknown", r)
		}
	}()
	testutil.ToFloat64(m.Series("fxbus_nope", nil))
}
