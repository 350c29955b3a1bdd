package otelfxbus_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/otelfxbus"
)

// globalEnv makes TestGlobalProviderAndPropagator run its checks: in a
// process of its own, since the global provider and propagator, once set,
// stay set (TestOffIsFree needs them unset).
const globalEnv = "FXBUS_OTELFXBUS_GLOBAL_TEST"

// TestGlobalProviderAndPropagator: with none in the graph, Module uses the
// global provider and propagator, looked up as messages pass. While the
// program has set neither, no span is made and no header written; once it
// sets them, the app built before uses them.
func TestGlobalProviderAndPropagator(t *testing.T) {
	if os.Getenv(globalEnv) != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalProviderAndPropagator$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), globalEnv+"=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the test in a process of its own: %v\n%s", err, out)
		}
		return
	}
	var orders fxbus.Publisher[Order]
	var h *otelfxbus.Headers
	var inSpan bool // synchronous: set when Publish returns
	newApp(t, otelfxbus.Module, fxbus.Topic[Order]("orders"), fx.Populate(&orders, &h),
		handlers.Supply(handlers.RegisterFunc("orders", func(ctx context.Context, _ Order) error {
			inSpan = trace.SpanContextFromContext(ctx).IsValid()
			return nil
		})))
	ctx := context.Background()
	if err := orders.Publish(ctx, Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	if inSpan {
		t.Error("the handler ran in a span while the global provider was unset")
	}

	rec := tracetest.NewSpanRecorder()
	remote, span := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test").Start(ctx, "remote")
	span.End()
	headers := map[string][]string{}
	h.Inject(remote, headers)
	if len(headers) != 0 {
		t.Errorf("the unset global propagator wrote %v, want nothing", headers)
	}
	n := len(rec.Ended())
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	if err := orders.Publish(ctx, Order{ID: "o2"}); err != nil {
		t.Fatal(err)
	}
	if !inSpan || n != 1 || len(rec.Ended()) != 3 {
		t.Errorf("handler in a span %v; %d spans before the global provider was set, %d after a publish; want only the test's, then a send and a process", inSpan, n, len(rec.Ended())-n)
	}

	otel.SetTextMapPropagator(propagation.TraceContext{})
	h.Inject(remote, headers)
	if len(headers["traceparent"]) != 1 {
		t.Errorf("the global propagator, once set, wrote %v, want traceparent", headers)
	}
}
