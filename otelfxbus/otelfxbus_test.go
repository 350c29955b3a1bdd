package otelfxbus_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

type Order struct{ ID string }
type Payment struct{ ID string }
type Receipt struct{ ID string }

// TestPublishToTwoHandlers: one publish in a span gives one producer span,
// child of that span, and one consumer span per handler, children of it,
// with the messaging attributes; the correlation ID is the trace ID.
func TestPublishToTwoHandlers(t *testing.T) {
	rec, tracing := recorder(t)
	var orders fxbus.Publisher[Order]
	var mu sync.Mutex // the two handlers run at once
	var seen []bus.CorrelationID
	h := func(ctx context.Context, _ Order) error {
		id, _ := bus.CorrelationIDFrom(ctx)
		mu.Lock()
		seen = append(seen, id)
		mu.Unlock()
		return nil
	}
	newApp(t, tracing, fxbus.Topic[Order]("orders.created"), fx.Populate(&orders),
		handlers.Supply(handlers.RegisterFunc("orders.created", h, bus.Name("billing"))),
		handlers.Supply(handlers.RegisterFunc("orders.*", h, bus.Name("audit"))),
	)
	tp := sdktrace.NewTracerProvider()
	ctx, root := tp.Tracer("test").Start(context.Background(), "request")
	if err := orders.Publish(ctx, Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	root.End()

	sends := byName(rec, "send orders.created")
	if len(sends) != 1 {
		t.Fatalf("%d send spans, want 1: %v", len(sends), rec.Ended())
	}
	send := sends[0]
	if send.SpanKind() != trace.SpanKindProducer || send.Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("send span: kind %v, parent %v, want producer, child of %v", send.SpanKind(), send.Parent().SpanID(), root.SpanContext().SpanID())
	}
	procs := append(byName(rec, "process orders.created"), byName(rec, "process orders.*")...)
	if len(procs) != 2 {
		t.Fatalf("%d process spans, want 2", len(procs))
	}
	for _, s := range procs {
		if s.SpanKind() != trace.SpanKindConsumer || s.Parent().SpanID() != send.SpanContext().SpanID() {
			t.Errorf("%s: kind %v, parent %v, want consumer, child of the send span", s.Name(), s.SpanKind(), s.Parent().SpanID())
		}
		if attr(s, semconv.MessagingSystemKey).AsString() != "fxbus" ||
			attr(s, semconv.MessagingDestinationNameKey).AsString() != "orders.created" ||
			attr(s, semconv.MessagingOperationTypeKey).AsString() != "process" {
			t.Errorf("%s: attributes %v", s.Name(), s.Attributes())
		}
	}
	want := bus.CorrelationID(root.SpanContext().TraceID())
	if len(seen) != 2 || seen[0] != want || seen[1] != want {
		t.Errorf("handlers saw correlation IDs %v, want the trace ID %s", seen, want)
	}
}

// TestChainIsOneTrace: A -> B -> C, each handler publishing the next, is
// one trace, each span the child of the one before.
func TestChainIsOneTrace(t *testing.T) {
	rec, tracing := recorder(t)
	var orders fxbus.Publisher[Order]
	newApp(t, tracing, fx.Populate(&orders),
		fxbus.Topic[Order]("orders"), fxbus.Topic[Payment]("payments"), fxbus.Topic[Receipt]("receipts"),
		handlers.ProvideHandler[Order]("orders", func(p fxbus.Publisher[Payment]) handlers.Func[Order] {
			return func(ctx context.Context, o Order) error { return p.Publish(ctx, Payment(o)) }
		}),
		handlers.ProvideHandler[Payment]("payments", func(p fxbus.Publisher[Receipt]) handlers.Func[Payment] {
			return func(ctx context.Context, v Payment) error { return p.Publish(ctx, Receipt(v)) }
		}),
		handlers.Supply(handlers.RegisterFunc("receipts", func(context.Context, Receipt) error { return nil })),
	)
	if err := orders.Publish(context.Background(), Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 6 {
		t.Fatalf("%d spans, want 6 (3 sends, 3 processes)", len(spans))
	}
	ids := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID()] = s
	}
	roots := 0
	for _, s := range spans {
		if s.SpanContext().TraceID() != spans[0].SpanContext().TraceID() {
			t.Errorf("%s is in trace %s, want %s", s.Name(), s.SpanContext().TraceID(), spans[0].SpanContext().TraceID())
		}
		if !s.Parent().IsValid() {
			roots++
		} else if _, ok := ids[s.Parent().SpanID()]; !ok {
			t.Errorf("%s: parent %s is not a span of the chain", s.Name(), s.Parent().SpanID())
		}
	}
	if roots != 1 {
		t.Errorf("%d root spans, want 1", roots)
	}
}

// TestErrorAndPanicRecorded: a failed attempt's span has status Error, the
// error as an event and its Go type as error.type; a panic too, with its
// stack and error.type "panic"; a retried message has one span per
// attempt, numbered.
func TestErrorAndPanicRecorded(t *testing.T) {
	rec, tracing := recorder(t)
	var orders fxbus.Publisher[Order]
	boom := errors.New("boom")
	newApp(t, tracing, fxbus.Topic[Order]("orders"), fx.Populate(&orders),
		handlers.Supply(handlers.RegisterFunc("orders", func(context.Context, Order) error { return boom },
			bus.Name("failing"), handlers.Retry(2), handlers.NoDeadLetters())),
		handlers.Supply(handlers.RegisterFunc("orders", func(context.Context, Order) error { panic("oops") },
			bus.Name("panicking"), handlers.Retry(1), handlers.NoDeadLetters())),
	)
	if err := orders.Publish(context.Background(), Order{ID: "o1"}); err == nil {
		t.Fatal("Publish: nil error, want the handlers' errors")
	}
	var failing, panicking []sdktrace.ReadOnlySpan
	for _, s := range byName(rec, "process orders") {
		switch attr(s, semconv.MessagingDestinationSubscriptionNameKey).AsString() {
		case "failing":
			failing = append(failing, s)
		case "panicking":
			panicking = append(panicking, s)
		}
	}
	if len(failing) != 2 || len(panicking) != 1 {
		t.Fatalf("%d spans of the failing handler (want 2 attempts), %d of the panicking one (want 1)", len(failing), len(panicking))
	}
	for i, s := range failing {
		if s.Status().Code != codes.Error || len(s.Events()) != 1 || attr(s, "messaging.fxbus.attempt").AsInt64() != int64(i+1) ||
			attr(s, semconv.ErrorTypeKey).AsString() != "*errors.errorString" {
			t.Errorf("failing attempt %d: status %v, events %v, attributes %v", i+1, s.Status(), s.Events(), s.Attributes())
		}
	}
	p := panicking[0]
	if p.Status().Code != codes.Error || len(p.Events()) != 1 || attr(p, semconv.ErrorTypeKey).AsString() != "panic" {
		t.Fatalf("panicking: status %v, events %v", p.Status(), p.Events())
	}
	hasStack := false
	for _, kv := range p.Events()[0].Attributes {
		hasStack = hasStack || kv.Key == semconv.ExceptionStacktraceKey && kv.Value.AsString() != ""
	}
	if !hasStack {
		t.Errorf("the panic's event has no stack: %v", p.Events()[0].Attributes)
	}
}
