package main

import (
	"io"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus/natsbridge"
	"github.com/fxbus/fxbus/otelfxbus"
)

// traceOptions turns tracing on when -trace is given: an OpenTelemetry SDK
// TracerProvider that writes each span to out, the W3C trace-context
// propagator, and otelfxbus.Module. With the bridge on, the trace goes
// across processes in the NATS headers.
func traceOptions(on bool, out io.Writer) fx.Option {
	if !on {
		return fx.Options()
	}
	return fx.Options(
		otelfxbus.Module,
		fx.Provide(
			// An SDK TracerProvider with an exporter (without one in the
			// graph, the global provider).
			fx.Annotate(func(lc fx.Lifecycle) (*sdktrace.TracerProvider, error) {
				return newTracerProvider(lc, out)
			}, fx.As(new(trace.TracerProvider))),
			// W3C traceparent and tracestate over NATS (the global
			// propagator writes nothing until the program sets one).
			func() propagation.TextMapPropagator { return propagation.TraceContext{} },
			// The bridge carries the trace in the headers it writes and reads.
			func(h *otelfxbus.Headers) natsbridge.HeaderPropagator { return h },
		),
	)
}

// newTracerProvider returns a TracerProvider that writes every span to out
// as one line of JSON, a second's worth at a time, and shuts it down at
// stop, which writes the last spans. It is built before the bus's start
// hook is added, since the bus's handlers use it, so it stops after the bus
// has drained: the spans of the drain are written too, before the final
// table.
func newTracerProvider(lc fx.Lifecycle, out io.Writer) (*sdktrace.TracerProvider, error) {
	exporter, err := stdouttrace.New(stdouttrace.WithWriter(out))
	if err != nil {
		return nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter, sdktrace.WithBatchTimeout(time.Second)),
		sdktrace.WithResource(sdkresource.NewSchemaless(semconv.ServiceName(serviceName))),
	)
	lc.Append(fx.StopHook(tp.Shutdown))
	return tp, nil
}

// serviceName is the service.name of the app's spans.
const serviceName = "fxbus-example-app"
