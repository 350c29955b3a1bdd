package otelfxbus_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/broker"
	"github.com/fxbus/fxbus/otelfxbus"
)

// only returns the one span of spans called name, or fails the test.
func only(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %q, want 1: %v", len(found), name, spans)
	}
	return found[0]
}

// correlationApp is an app with one handler on "orders" that records the
// correlation ID of the message it handles, and its spans; the rule the
// package documentation states is checked by the tests below.
type correlationApp struct {
	rec    *tracetest.SpanRecorder
	orders fxbus.Publisher[Order]
	bus    *bus.Bus
	seen   bus.CorrelationID // synchronous: the handler has run when Publish returns
	caller trace.Tracer      // the spans of the code that publishes
}

func newCorrelationApp(t *testing.T) *correlationApp {
	t.Helper()
	a := &correlationApp{caller: sdktrace.NewTracerProvider().Tracer("caller")}
	var tracing fx.Option
	a.rec, tracing = recorder(t)
	newApp(t, tracing, fxbus.Topic[Order]("orders"), fx.Populate(&a.orders, &a.bus),
		handlers.Supply(handlers.RegisterFunc("orders", func(ctx context.Context, _ Order) error {
			a.seen, _ = bus.CorrelationIDFrom(ctx)
			return nil
		}, bus.Name("billing"))),
	)
	return a
}

func conversation(s sdktrace.ReadOnlySpan) string {
	return attr(s, semconv.MessagingMessageConversationIDKey).AsString()
}

// TestCorrelationIDOutsideSpan: a Publisher publish outside any span, with
// no correlation ID, takes the ID of the new trace its send span starts.
func TestCorrelationIDOutsideSpan(t *testing.T) {
	a := newCorrelationApp(t)
	if err := a.orders.Publish(context.Background(), Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	send := only(t, a.rec.Ended(), "send orders")
	if send.Parent().IsValid() {
		t.Errorf("send span has parent %v, want a root", send.Parent())
	}
	want := bus.CorrelationID(send.SpanContext().TraceID())
	if a.seen != want || conversation(send) != want.String() {
		t.Errorf("correlation ID %s, send span's %q, want the new trace's ID %s", a.seen, conversation(send), want)
	}
}

// TestCorrelationIDKept: a publish with a correlation ID keeps it, inside a
// span, and its spans carry it.
func TestCorrelationIDKept(t *testing.T) {
	a := newCorrelationApp(t)
	id := bus.NewCorrelationID()
	ctx, span := a.caller.Start(bus.WithCorrelationID(context.Background(), id), "request")
	defer span.End()
	if err := a.orders.Publish(ctx, Order{ID: "o2"}); err != nil {
		t.Fatal(err)
	}
	send, proc := only(t, a.rec.Ended(), "send orders"), only(t, a.rec.Ended(), "process orders")
	if a.seen != id || conversation(send) != id.String() || conversation(proc) != id.String() {
		t.Errorf("correlation ID %s, spans' %q and %q, want the publisher's %s", a.seen, conversation(send), conversation(proc), id)
	}
}

// TestCorrelationIDStraightThroughBus: a publish through the *bus.Bus has
// no send span, its handler's span is a child of the caller's, and it
// keeps the bus's own correlation ID.
func TestCorrelationIDStraightThroughBus(t *testing.T) {
	a := newCorrelationApp(t)
	topic, err := bus.NewTopic[Order](a.bus, "orders")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := a.caller.Start(context.Background(), "request")
	defer span.End()
	if err := topic.PublishSync(ctx, Order{ID: "o3"}); err != nil {
		t.Fatal(err)
	}
	if spans := a.rec.Ended(); len(spans) != 1 {
		t.Fatalf("%d spans, want the handler's only: %v", len(spans), spans)
	}
	proc := only(t, a.rec.Ended(), "process orders")
	if proc.Parent().SpanID() != span.SpanContext().SpanID() {
		t.Errorf("process span's parent %s, want the caller's span %s", proc.Parent().SpanID(), span.SpanContext().SpanID())
	}
	if a.seen.IsZero() || a.seen == bus.CorrelationID(span.SpanContext().TraceID()) {
		t.Errorf("correlation ID %s, want the bus's own, not the trace ID", a.seen)
	}
}

// TestCorrelationIDUnsampled: the rule holds when the provider samples
// nothing: the handler's correlation ID is the ID of the trace it runs in.
func TestCorrelationIDUnsampled(t *testing.T) {
	var orders fxbus.Publisher[Order]
	var seen bus.CorrelationID
	var sc trace.SpanContext
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	newApp(t, fx.Supply(fx.Annotate(tp, fx.As(new(trace.TracerProvider)))), otelfxbus.Module,
		fxbus.Topic[Order]("orders"), fx.Populate(&orders),
		handlers.Supply(handlers.RegisterFunc("orders", func(ctx context.Context, _ Order) error {
			seen, _ = bus.CorrelationIDFrom(ctx)
			sc = trace.SpanContextFromContext(ctx)
			return nil
		})),
	)
	if err := orders.Publish(context.Background(), Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if !sc.HasTraceID() || sc.IsSampled() || seen != bus.CorrelationID(sc.TraceID()) {
		t.Errorf("handler in trace %s (sampled %v) with correlation ID %s, want an unsampled trace whose ID it is", sc.TraceID(), sc.IsSampled(), seen)
	}
}

// TestBrokerDeliveryAttempt: a message that a broker delivers (what a
// natsbridge import publishes) has its delivery count as the attempt.
func TestBrokerDeliveryAttempt(t *testing.T) {
	rec, tracing := recorder(t)
	var b *bus.Bus
	newApp(t, tracing, fxbus.Topic[Order]("orders"), fx.Populate(&b),
		handlers.Supply(handlers.RegisterFunc("orders", func(context.Context, Order) error { return nil }, bus.Name("billing"))),
	)
	topic, err := bus.NewTopic[Order](b, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := topic.PublishSync(broker.WithDelivery(context.Background(), "orders", 3), Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	proc := only(t, rec.Ended(), "process orders")
	if got := attr(proc, "messaging.fxbus.attempt").AsInt64(); got != 3 {
		t.Errorf("attempt %d, want the delivery count 3", got)
	}
}
