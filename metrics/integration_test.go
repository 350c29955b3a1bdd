package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
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
	env := handlers.Env{Observer: m.Observer()}
	errFlaky := errors.New("flaky")

	// billing retries: "flaky" succeeds on its second attempt, "bad" never
	// does and is dead-lettered after three. It ignores the other kinds.
	billing := handlers.RegisterFunc("orders.created", func(ctx context.Context, o order) error {
		switch {
		case o.Kind == "flaky" && handlers.AttemptFrom(ctx) == 1, o.Kind == "bad":
			return errFlaky
		}
		return nil
	}, handlers.Name("billing"), handlers.Retry(3, handlers.Backoff(time.Microsecond, time.Microsecond), handlers.Jitter(0)))
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
	}, handlers.Name("audit"), handlers.NoDeadLetters(), handlers.Timeout(time.Millisecond))
	for _, r := range []handlers.Registration{billing, audit} {
		_, err := r.Subscribe(t.Context(), b, env)
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
# HELP fxbus_handler_calls_total Handler calls (each attempt), by outcome.
# TYPE fxbus_handler_calls_total counter
fxbus_handler_calls_total{outcome="dead-lettered",subscriber="audit",topic="orders.created"} 0
fxbus_handler_calls_total{outcome="error",subscriber="audit",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="ok",subscriber="audit",topic="orders.created"} 3
fxbus_handler_calls_total{outcome="panic",subscriber="audit",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="retried",subscriber="audit",topic="orders.created"} 0
fxbus_handler_calls_total{outcome="timeout",subscriber="audit",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="dead-lettered",subscriber="billing",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="error",subscriber="billing",topic="orders.created"} 0
fxbus_handler_calls_total{outcome="ok",subscriber="billing",topic="orders.created"} 5
fxbus_handler_calls_total{outcome="panic",subscriber="billing",topic="orders.created"} 0
fxbus_handler_calls_total{outcome="retried",subscriber="billing",topic="orders.created"} 3
fxbus_handler_calls_total{outcome="timeout",subscriber="billing",topic="orders.created"} 0
# HELP fxbus_events_delivered_total Events a subscriber took: received from its channel, or handled by its handler whatever the outcome.
# TYPE fxbus_events_delivered_total counter
fxbus_events_delivered_total{subscriber="audit",topic="orders.created"} 6
fxbus_events_delivered_total{subscriber="billing",topic="orders.created"} 6
# HELP fxbus_events_unrouted_total Events published on a topic that no subscription matched.
# TYPE fxbus_events_unrouted_total counter
fxbus_events_unrouted_total{topic="orders.created"} 0
fxbus_events_unrouted_total{topic="orders.created.dead-letter"} 1
`), "fxbus_handler_calls_total", "fxbus_events_delivered_total", "fxbus_events_unrouted_total"); err != nil {
		t.Error(err)
	}
	samples := scrape(t, reg)
	if v := sum(samples, "fxbus_events_dropped_total", map[string]string{"reason": ReasonDeadLetterUnhandled}); v != 1 {
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
