package otelfxbus_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/otelfxbus"
)

// printSpans prints the ended spans sorted by name: name, kind, and the
// span it is the child of.
func printSpans(spans []sdktrace.ReadOnlySpan) {
	names := map[trace.SpanID]string{}
	for _, s := range spans {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	slices.SortFunc(spans, func(a, b sdktrace.ReadOnlySpan) int { return strings.Compare(a.Name(), b.Name()) })
	for _, s := range spans {
		parent := "root of the trace"
		if s.Parent().IsValid() {
			parent = "child of " + names[s.Parent().SpanID()]
		}
		fmt.Printf("%s (%s), %s\n", s.Name(), s.SpanKind(), parent)
	}
}

// An fx app with tracing: otelfxbus.Module and a TracerProvider in the
// graph (the SDK's, recording into a tracetest.SpanRecorder here; an app
// gives it an exporter). One publish to a handler that publishes in turn
// is one trace: a producer span per publish, a consumer span per handler
// call, each the child of the one before.
func ExampleModule() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))

	var orders fxbus.Publisher[Order]
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		otelfxbus.Module,
		fx.Supply(fx.Annotate(tp, fx.As(new(trace.TracerProvider)))),
		fxbus.Topic[Order]("orders.placed"),
		fxbus.Topic[Payment]("payments.due"),
		handlers.ProvideHandler[Order]("orders.placed", func(p fxbus.Publisher[Payment]) handlers.Func[Order] {
			return func(ctx context.Context, o Order) error { return p.Publish(ctx, Payment(o)) }
		}),
		handlers.Supply(handlers.RegisterFunc("payments.due", func(context.Context, Payment) error { return nil }, bus.Name("billing"))),
		fx.Populate(&orders),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println("start:", err)
		return
	}
	if err := orders.Publish(ctx, Order{ID: "o1"}); err != nil {
		fmt.Println("publish:", err)
	}
	if err := app.Stop(ctx); err != nil { // the bus drains: every handler has run
		fmt.Println("stop:", err)
	}
	_ = tp.Shutdown(ctx)
	printSpans(rec.Ended())
	// Output:
	// process orders.placed (consumer), child of send orders.placed
	// process payments.due (consumer), child of send payments.due
	// send orders.placed (producer), root of the trace
	// send payments.due (producer), child of process orders.placed
}

// A publish made inside a span, without a correlation ID, takes the trace
// ID as its correlation ID: the handler's logs and the trace join on one
// value.
func ExampleModule_correlationID() {
	tp := sdktrace.NewTracerProvider()
	var orders fxbus.Publisher[Order]
	app := fx.New(
		fx.NopLogger,
		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		otelfxbus.Module,
		fx.Supply(fx.Annotate(tp, fx.As(new(trace.TracerProvider)))),
		fxbus.Topic[Order]("orders.placed"),
		handlers.Supply(handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
			id, _ := bus.CorrelationIDFrom(ctx)
			fmt.Println("handler: correlation ID is the trace ID:", id.String() == trace.SpanContextFromContext(ctx).TraceID().String())
			return nil
		}, bus.Name("billing"))),
		fx.Populate(&orders),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		fmt.Println("start:", err)
		return
	}
	ctx, span := tp.Tracer("checkout").Start(ctx, "POST /orders")
	if err := orders.Publish(ctx, Order{ID: "o1"}); err != nil {
		fmt.Println("publish:", err)
	}
	span.End()
	if err := app.Stop(context.Background()); err != nil {
		fmt.Println("stop:", err)
	}
	// Output:
	// handler: correlation ID is the trace ID: true
}
