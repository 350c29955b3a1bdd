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
	"github.com/fxbus/fxbus/otelfxbus"
)

// since returns the spans that ended after the first n.
func since(rec *tracetest.SpanRecorder, n int) []sdktrace.ReadOnlySpan { return rec.Ended()[n:] }

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

// TestCorrelationIDRule checks the package documentation's rule: a publish
// through a Publisher without a correlation ID takes the trace ID of its
// send span, inside a caller's span or not; one with an ID keeps it, and
// the spans carry it; a publish straight through the bus has no send span
// and keeps the bus's own ID.
func TestCorrelationIDRule(t *testing.T) {
	rec, tracing := recorder(t)
	var orders fxbus.Publisher[Order]
	var b *bus.Bus
	var seen bus.CorrelationID // synchronous: the handler has run when Publish returns
	newApp(t, tracing, fxbus.Topic[Order]("orders"), fx.Populate(&orders, &b),
		handlers.Supply(handlers.RegisterFunc("orders", func(ctx context.Context, _ Order) error {
			seen, _ = bus.CorrelationIDFrom(ctx)
			return nil
		}, bus.Name("billing"))),
	)
	caller := sdktrace.NewTracerProvider().Tracer("caller")
	conversation := func(s sdktrace.ReadOnlySpan) string {
		return attr(s, semconv.MessagingMessageConversationIDKey).AsString()
	}

	t.Run("outside any span", func(t *testing.T) {
		n := len(rec.Ended())
		if err := orders.Publish(context.Background(), Order{ID: "o1"}); err != nil {
			t.Fatal(err)
		}
		send := only(t, since(rec, n), "send orders")
		if send.Parent().IsValid() {
			t.Errorf("send span has parent %v, want a root", send.Parent())
		}
		want := bus.CorrelationID(send.SpanContext().TraceID())
		if seen != want || conversation(send) != want.String() {
			t.Errorf("correlation ID %s, send span's %q, want the new trace's ID %s", seen, conversation(send), want)
		}
	})
	t.Run("with a correlation ID", func(t *testing.T) {
		n := len(rec.Ended())
		id := bus.NewCorrelationID()
		ctx, span := caller.Start(bus.WithCorrelationID(context.Background(), id), "request")
		defer span.End()
		if err := orders.Publish(ctx, Order{ID: "o2"}); err != nil {
			t.Fatal(err)
		}
		spans := since(rec, n)
		send, proc := only(t, spans, "send orders"), only(t, spans, "process orders")
		if seen != id || conversation(send) != id.String() || conversation(proc) != id.String() {
			t.Errorf("correlation ID %s, spans' %q and %q, want the publisher's %s", seen, conversation(send), conversation(proc), id)
		}
	})
	t.Run("straight through the bus", func(t *testing.T) {
		n := len(rec.Ended())
		topic, err := bus.NewTopic[Order](b, "orders")
		if err != nil {
			t.Fatal(err)
		}
		ctx, span := caller.Start(context.Background(), "request")
		defer span.End()
		if err := topic.PublishSync(ctx, Order{ID: "o3"}); err != nil {
			t.Fatal(err)
		}
		spans := since(rec, n)
		if len(spans) != 1 {
			t.Fatalf("%d spans, want the handler's only: %v", len(spans), spans)
		}
		proc := only(t, spans, "process orders")
		if proc.Parent().SpanID() != span.SpanContext().SpanID() {
			t.Errorf("process span's parent %s, want the caller's span %s", proc.Parent().SpanID(), span.SpanContext().SpanID())
		}
		if seen.IsZero() || seen == bus.CorrelationID(span.SpanContext().TraceID()) {
			t.Errorf("correlation ID %s, want the bus's own, not the trace ID", seen)
		}
	})
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
	if err := topic.PublishSync(handlers.WithBrokerDelivery(context.Background(), "orders", 3), Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	proc := only(t, rec.Ended(), "process orders")
	if got := attr(proc, "messaging.fxbus.attempt").AsInt64(); got != 3 {
		t.Errorf("attempt %d, want the delivery count 3", got)
	}
}
