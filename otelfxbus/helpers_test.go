package otelfxbus_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/otelfxbus"
)

// recorder returns a span recorder and the fx options of tracing with it: a
// TracerProvider in the graph that records every span.
func recorder(t testing.TB) (*tracetest.SpanRecorder, fx.Option) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	return rec, fx.Options(
		fx.Supply(fx.Annotate(tp, fx.As(new(trace.TracerProvider)))),
		otelfxbus.Module,
	)
}

// newApp starts a synchronous app with opts: Publish returns once every
// handler has run.
func newApp(t *testing.T, opts ...fx.Option) *fxtest.App {
	t.Helper()
	return fxtest.New(t, append(opts, fxtest.NoRetryWait())...)
}

// attr returns the value of a span's attribute k.
func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// byName returns the ended spans called name.
func byName(rec *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}
