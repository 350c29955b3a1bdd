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
	"github.com/fxbus/fxbus/internal/observe"
)

type order struct {
	ID   int
	Kind string // what the handler does with it: ok, error, panic, timeout, retry, dead
}

type deadLetter struct {
	Order    order
	Err      string
	Attempts int
}

// The durations the stand-in handler layer reports: fractions of a second
// that are powers of two, so that the histogram's sum is exact.
const (
	dOK      = 1953125 * time.Nanosecond // 2^-9 s
	dPanic   = 2 * dOK                   // 2^-8 s
	dRetried = 4 * dOK                   // 2^-7 s
	dError   = 16 * dOK                  // 2^-5 s
	dTimeout = time.Second
)

var errTransient = errors.New("payment service unavailable")

// observed stands in for the handlers package's middleware, which is not
// there yet: it plays a message's attempts as its Kind says, reports each
// to co with a fixed duration, lets a panic through to the bus, and
// publishes dead letters.
func observed(co observe.CallObserver, dl *bus.Topic[deadLetter]) func(context.Context, order) error {
	return func(ctx context.Context, o order) error {
		obs := func(d time.Duration, out observe.Outcome, f observe.Fate, attempt int, err error) {
			c := observe.Call{Ctx: ctx, Duration: d, Outcome: out, Err: err, Attempt: attempt, Fate: f}
			if f == observe.FateDeadLetterUnread {
				c.DeadLetterTopic = dl.Name()
			}
			co.Observe(c)
		}
		switch o.Kind {
		case "ok":
			obs(dOK, observe.OutcomeOK, observe.FateHandled, 1, nil)
			return nil
		case "error":
			err := errors.New("card declined")
			obs(dError, observe.OutcomeError, observe.FateDiscarded, 1, err)
			return err
		case "panic":
			defer func() {
				if r := recover(); r != nil {
					obs(dPanic, observe.OutcomePanic, observe.FateDiscarded, 1, fmt.Errorf("panic: %v", r))
					panic(r)
				}
			}()
			panic("order without lines")
		case "timeout":
			obs(dTimeout, observe.OutcomeTimeout, observe.FateDiscarded, 1, context.DeadlineExceeded)
			return context.DeadlineExceeded
		case "retry":
			obs(dRetried, observe.OutcomeError, observe.FateRetried, 1, errTransient)
			obs(dOK, observe.OutcomeOK, observe.FateHandled, 2, nil)
			return nil
		case "dead":
			obs(dRetried, observe.OutcomeError, observe.FateRetried, 1, errTransient)
			obs(dRetried, observe.OutcomeError, observe.FateDeadLetterUnread, 2, errTransient)
			return dl.Publish(ctx, deadLetter{Order: o, Err: errTransient.Error(), Attempts: 2})
		}
		return fmt.Errorf("unknown kind %q", o.Kind)
	}
}

// TestScenario drives a bus through every way a message can go and checks
// every exported series, before and after a shutdown that gives up at once.
func TestScenario(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, b, Buckets(0.005, 0.05, 0.5))
	check(t, err)
	defer m.Close()

	created := newTopic[order](t, b, "orders.created")
	dl := newTopic[deadLetter](t, b, "orders.created.dead-letter")

	// Delivered: a channel subscriber reads 5 of 7 (2 stay queued); a
	// handler subscriber handles all 7, with every outcome. The dead letter
	// finds no subscriber: dead-letter-unhandled.
	audit := subscribe[order](t, b, "orders.created", bus.Name("audit"), bus.Buffer(8))
	co := m.Observer().Bind("orders.created", "billing")
	_, err = bus.Handle(t.Context(), b, "orders.created", observed(co, dl), bus.Name("billing"), bus.Buffer(16))
	check(t, err)
	for i, kind := range []string{"ok", "ok", "error", "panic", "timeout", "retry", "dead"} {
		err := created.PublishSync(ctx, order{ID: i, Kind: kind})
		if wantErr := kind == "error" || kind == "panic" || kind == "timeout"; (err != nil) != wantErr {
			t.Fatalf("PublishSync(%s) = %v", kind, err)
		}
	}
	for range 5 {
		recv(t, audit.C)
	}

	// full: a pattern subscriber (DropNewest, queue of 2) gets 4.
	shipped := newTopic[order](t, b, "orders.shipped")
	subscribe[order](t, b, "orders.>", bus.Name("firehose"), bus.Buffer(2), bus.WithPolicy(bus.DropNewest()))
	for i := range 4 {
		check(t, shipped.Publish(ctx, order{ID: i}))
	}

	// evicted and timeout: nobody reads the prices.
	prices := newTopic[int](t, b, "prices")
	subscribe[int](t, b, "prices", bus.Name("ticker"), bus.Buffer(2), bus.WithPolicy(bus.DropOldest()))
	subscribe[int](t, b, "prices", bus.Name("slow"), bus.Buffer(2), bus.WithPolicy(bus.BlockFor(time.Millisecond)))
	for i := range 5 {
		check(t, prices.Publish(ctx, i))
	}

	// canceled: a Block subscriber's queue is full and the publisher's
	// context has ended.
	jobs := newTopic[int](t, b, "jobs")
	subscribe[int](t, b, "jobs", bus.Name("worker"), bus.Buffer(1))
	check(t, jobs.Publish(ctx, 1))
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := jobs.Publish(canceled, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled context = %v", err)
	}

	// disconnect: after 2 drops in a row the pager is disconnected (its
	// queued message dropped with reason disconnect); it subscribes again
	// under the same name and keeps counting.
	alerts := newTopic[int](t, b, "alerts")
	pagerOpts := []bus.SubscribeOption{bus.Name("pager"), bus.Buffer(1), bus.WithPolicy(bus.DisconnectAfter(2))}
	pager := subscribe[int](t, b, "alerts", pagerOpts...)
	for i := range 3 {
		check(t, alerts.Publish(ctx, i))
	}
	waitDone(t, pager.Done())
	if !errors.Is(pager.Err(), bus.ErrDisconnected) {
		t.Fatalf("pager.Err() = %v", pager.Err())
	}
	pager = subscribe[int](t, b, "alerts", pagerOpts...)
	check(t, alerts.Publish(ctx, 3))
	recv(t, pager.C)

	// unsubscribed: tail closes with 2 queued. The next publish on logs
	// is unrouted, which is no drop: logs is no dead-letter topic.
	logs := newTopic[int](t, b, "logs")
	tail := subscribe[int](t, b, "logs", bus.Name("tail"), bus.Buffer(4))
	check(t, logs.Publish(ctx, 1))
	check(t, logs.Publish(ctx, 2))
	tail.Close()
	waitDone(t, tail.Done())
	check(t, logs.Publish(ctx, 3))

	if err := testutil.CollectAndCompare(m.c, strings.NewReader(scenarioCommon+scenarioLive), scenarioNames...); err != nil {
		t.Error("before Close:", err)
	}

	// shutdown: Close gives up at once; what is queued is dropped.
	var se *bus.ShutdownError
	if err := b.Close(canceled); !errors.As(err, &se) {
		t.Fatalf("Close = %v, want a *bus.ShutdownError", err)
	}
	if err := testutil.CollectAndCompare(m.c, strings.NewReader(scenarioCommon+scenarioClosed), scenarioNames...); err != nil {
		t.Error("after Close:", err)
	}

	problems, err := testutil.CollectAndLint(m.c)
	check(t, err)
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

var scenarioNames = []string{
	"fxbus_events_published_total",
	"fxbus_events_unrouted_total",
	"fxbus_events_delivered_total",
	"fxbus_events_dropped_total",
	"fxbus_subscriber_disconnects_total",
	"fxbus_subscribers",
	"fxbus_queue_depth",
	"fxbus_queue_capacity",
	"fxbus_handler_duration_seconds",
	"fxbus_handler_calls_total",
	"fxbus_handler_failures_total",
}

// scenarioCommon holds what Close does not change.
const scenarioCommon = `
# HELP fxbus_events_published_total Events accepted by Publish on a topic, routed to a subscriber or not.
# TYPE fxbus_events_published_total counter
fxbus_events_published_total{topic="alerts"} 4
fxbus_events_published_total{topic="jobs"} 2
fxbus_events_published_total{topic="logs"} 3
fxbus_events_published_total{topic="orders.created"} 7
fxbus_events_published_total{topic="orders.created.dead-letter"} 1
fxbus_events_published_total{topic="orders.shipped"} 4
fxbus_events_published_total{topic="prices"} 5
# HELP fxbus_events_unrouted_total Events published on a topic that no subscription matched.
# TYPE fxbus_events_unrouted_total counter
fxbus_events_unrouted_total{topic="alerts"} 0
fxbus_events_unrouted_total{topic="jobs"} 0
fxbus_events_unrouted_total{topic="logs"} 1
fxbus_events_unrouted_total{topic="orders.created"} 0
fxbus_events_unrouted_total{topic="orders.created.dead-letter"} 1
fxbus_events_unrouted_total{topic="orders.shipped"} 0
fxbus_events_unrouted_total{topic="prices"} 0
# HELP fxbus_events_delivered_total Events a subscriber took: received from its channel, or handled by its handler whatever the outcome.
# TYPE fxbus_events_delivered_total counter
fxbus_events_delivered_total{subscriber="pager",topic="alerts"} 1
fxbus_events_delivered_total{subscriber="worker",topic="jobs"} 0
fxbus_events_delivered_total{subscriber="tail",topic="logs"} 0
fxbus_events_delivered_total{subscriber="firehose",topic="orders.>"} 0
fxbus_events_delivered_total{subscriber="audit",topic="orders.created"} 5
fxbus_events_delivered_total{subscriber="billing",topic="orders.created"} 7
fxbus_events_delivered_total{subscriber="slow",topic="prices"} 0
fxbus_events_delivered_total{subscriber="ticker",topic="prices"} 0
# HELP fxbus_subscriber_disconnects_total Subscriptions ended by their DisconnectAfter policy.
# TYPE fxbus_subscriber_disconnects_total counter
fxbus_subscriber_disconnects_total{subscriber="pager",topic="alerts"} 1
fxbus_subscriber_disconnects_total{subscriber="worker",topic="jobs"} 0
fxbus_subscriber_disconnects_total{subscriber="tail",topic="logs"} 0
fxbus_subscriber_disconnects_total{subscriber="firehose",topic="orders.>"} 0
fxbus_subscriber_disconnects_total{subscriber="audit",topic="orders.created"} 0
fxbus_subscriber_disconnects_total{subscriber="billing",topic="orders.created"} 0
fxbus_subscriber_disconnects_total{subscriber="slow",topic="prices"} 0
fxbus_subscriber_disconnects_total{subscriber="ticker",topic="prices"} 0
# HELP fxbus_queue_capacity Size of a subscriber's queue: when fxbus_queue_depth reaches it, the subscriber's policy blocks or drops.
# TYPE fxbus_queue_capacity gauge
fxbus_queue_capacity{subscriber="pager",topic="alerts"} 1
fxbus_queue_capacity{subscriber="worker",topic="jobs"} 1
fxbus_queue_capacity{subscriber="tail",topic="logs"} 4
fxbus_queue_capacity{subscriber="firehose",topic="orders.>"} 2
fxbus_queue_capacity{subscriber="audit",topic="orders.created"} 8
fxbus_queue_capacity{subscriber="billing",topic="orders.created"} 16
fxbus_queue_capacity{subscriber="slow",topic="prices"} 2
fxbus_queue_capacity{subscriber="ticker",topic="prices"} 2
# HELP fxbus_handler_duration_seconds Duration of handler calls (each attempt), in seconds.
# TYPE fxbus_handler_duration_seconds histogram
fxbus_handler_duration_seconds_bucket{subscriber="billing",topic="orders.created",le="0.005"} 4
fxbus_handler_duration_seconds_bucket{subscriber="billing",topic="orders.created",le="0.05"} 8
fxbus_handler_duration_seconds_bucket{subscriber="billing",topic="orders.created",le="0.5"} 8
fxbus_handler_duration_seconds_bucket{subscriber="billing",topic="orders.created",le="+Inf"} 9
fxbus_handler_duration_seconds_sum{subscriber="billing",topic="orders.created"} 1.064453125
fxbus_handler_duration_seconds_count{subscriber="billing",topic="orders.created"} 9
# HELP fxbus_handler_calls_total Handler calls (each attempt), by what the call did: ok, error, panic or timeout.
# TYPE fxbus_handler_calls_total counter
fxbus_handler_calls_total{outcome="error",subscriber="billing",topic="orders.created"} 4
fxbus_handler_calls_total{outcome="ok",subscriber="billing",topic="orders.created"} 3
fxbus_handler_calls_total{outcome="panic",subscriber="billing",topic="orders.created"} 1
fxbus_handler_calls_total{outcome="timeout",subscriber="billing",topic="orders.created"} 1
# HELP fxbus_handler_failures_total Failed handler calls (each attempt), by what became of the message then: retried, or where it went after its last attempt.
# TYPE fxbus_handler_failures_total counter
fxbus_handler_failures_total{subscriber="billing",then="dead-letter-failed",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="billing",then="dead-letter-unread",topic="orders.created"} 1
fxbus_handler_failures_total{subscriber="billing",then="dead-lettered",topic="orders.created"} 0
fxbus_handler_failures_total{subscriber="billing",then="discarded",topic="orders.created"} 3
fxbus_handler_failures_total{subscriber="billing",then="retried",topic="orders.created"} 2
`

// scenarioLive is the rest before Close.
const scenarioLive = `
# HELP fxbus_subscribers Live subscriptions attached to a topic, wildcard ones included.
# TYPE fxbus_subscribers gauge
fxbus_subscribers{topic="alerts"} 1
fxbus_subscribers{topic="jobs"} 1
fxbus_subscribers{topic="logs"} 0
fxbus_subscribers{topic="orders.created"} 3
fxbus_subscribers{topic="orders.created.dead-letter"} 0
fxbus_subscribers{topic="orders.shipped"} 1
fxbus_subscribers{topic="prices"} 2
# HELP fxbus_queue_depth Events waiting in a subscriber's queue, or being handled: the in-process form of consumer lag.
# TYPE fxbus_queue_depth gauge
fxbus_queue_depth{subscriber="pager",topic="alerts"} 0
fxbus_queue_depth{subscriber="worker",topic="jobs"} 1
fxbus_queue_depth{subscriber="tail",topic="logs"} 0
fxbus_queue_depth{subscriber="firehose",topic="orders.>"} 2
fxbus_queue_depth{subscriber="audit",topic="orders.created"} 2
fxbus_queue_depth{subscriber="billing",topic="orders.created"} 0
fxbus_queue_depth{subscriber="slow",topic="prices"} 2
fxbus_queue_depth{subscriber="ticker",topic="prices"} 2
# HELP fxbus_events_dropped_total Events not delivered to a subscriber, by reason.
# TYPE fxbus_events_dropped_total counter
fxbus_events_dropped_total{reason="full",subscriber="pager",topic="alerts"} 2
fxbus_events_dropped_total{reason="evicted",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="pager",topic="alerts"} 1
fxbus_events_dropped_total{reason="unsubscribed",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="full",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="worker",topic="jobs"} 1
fxbus_events_dropped_total{reason="disconnect",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="full",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="tail",topic="logs"} 2
fxbus_events_dropped_total{reason="shutdown",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="full",subscriber="firehose",topic="orders.>"} 2
fxbus_events_dropped_total{reason="evicted",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="full",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="full",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="dead-letter-unhandled",subscriber="",topic="orders.created.dead-letter"} 1
fxbus_events_dropped_total{reason="full",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="slow",topic="prices"} 3
fxbus_events_dropped_total{reason="canceled",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="full",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="ticker",topic="prices"} 3
fxbus_events_dropped_total{reason="timeout",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="ticker",topic="prices"} 0
`

// scenarioClosed is the rest after Close gave up at once: no subscriber
// is left, and what was queued is dropped with reason shutdown.
const scenarioClosed = `
# HELP fxbus_subscribers Live subscriptions attached to a topic, wildcard ones included.
# TYPE fxbus_subscribers gauge
fxbus_subscribers{topic="alerts"} 0
fxbus_subscribers{topic="jobs"} 0
fxbus_subscribers{topic="logs"} 0
fxbus_subscribers{topic="orders.created"} 0
fxbus_subscribers{topic="orders.created.dead-letter"} 0
fxbus_subscribers{topic="orders.shipped"} 0
fxbus_subscribers{topic="prices"} 0
# HELP fxbus_queue_depth Events waiting in a subscriber's queue, or being handled: the in-process form of consumer lag.
# TYPE fxbus_queue_depth gauge
fxbus_queue_depth{subscriber="pager",topic="alerts"} 0
fxbus_queue_depth{subscriber="worker",topic="jobs"} 0
fxbus_queue_depth{subscriber="tail",topic="logs"} 0
fxbus_queue_depth{subscriber="firehose",topic="orders.>"} 0
fxbus_queue_depth{subscriber="audit",topic="orders.created"} 0
fxbus_queue_depth{subscriber="billing",topic="orders.created"} 0
fxbus_queue_depth{subscriber="slow",topic="prices"} 0
fxbus_queue_depth{subscriber="ticker",topic="prices"} 0
# HELP fxbus_events_dropped_total Events not delivered to a subscriber, by reason.
# TYPE fxbus_events_dropped_total counter
fxbus_events_dropped_total{reason="full",subscriber="pager",topic="alerts"} 2
fxbus_events_dropped_total{reason="evicted",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="pager",topic="alerts"} 1
fxbus_events_dropped_total{reason="unsubscribed",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="pager",topic="alerts"} 0
fxbus_events_dropped_total{reason="full",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="worker",topic="jobs"} 1
fxbus_events_dropped_total{reason="disconnect",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="worker",topic="jobs"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="worker",topic="jobs"} 1
fxbus_events_dropped_total{reason="full",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="tail",topic="logs"} 2
fxbus_events_dropped_total{reason="shutdown",subscriber="tail",topic="logs"} 0
fxbus_events_dropped_total{reason="full",subscriber="firehose",topic="orders.>"} 2
fxbus_events_dropped_total{reason="evicted",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="firehose",topic="orders.>"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="firehose",topic="orders.>"} 2
fxbus_events_dropped_total{reason="full",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="audit",topic="orders.created"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="audit",topic="orders.created"} 2
fxbus_events_dropped_total{reason="full",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="billing",topic="orders.created"} 0
fxbus_events_dropped_total{reason="dead-letter-unhandled",subscriber="",topic="orders.created.dead-letter"} 1
fxbus_events_dropped_total{reason="full",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="timeout",subscriber="slow",topic="prices"} 3
fxbus_events_dropped_total{reason="canceled",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="slow",topic="prices"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="slow",topic="prices"} 2
fxbus_events_dropped_total{reason="full",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="evicted",subscriber="ticker",topic="prices"} 3
fxbus_events_dropped_total{reason="timeout",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="canceled",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="disconnect",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="unsubscribed",subscriber="ticker",topic="prices"} 0
fxbus_events_dropped_total{reason="shutdown",subscriber="ticker",topic="prices"} 2
`
