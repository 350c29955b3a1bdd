package otelfxbus_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/otelfxbus"
)

// BenchmarkPublish is the A/B of tracing, in one run: one synchronous
// publish through a Publisher to one handler, in an app without otelfxbus
// (plain), with it and no TracerProvider (off), with a no-op provider
// (noop), with the SDK sampling nothing (sdk-unsampled) and with the SDK
// recording every span and exporting none (sdk-recording): the last is the
// cost of the two spans (send and process) of each message.
func BenchmarkPublish(b *testing.B) {
	tp := func(p trace.TracerProvider) fx.Option {
		return fx.Options(fx.Supply(fx.Annotate(p, fx.As(new(trace.TracerProvider)))), otelfxbus.Module)
	}
	cases := []struct {
		name string
		opts fx.Option
	}{
		{"plain", fx.Options()},
		{"off", otelfxbus.Module},
		{"noop", tp(noop.NewTracerProvider())},
		{"sdk-unsampled", tp(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())))},
		{"sdk-recording", tp(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample())))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var orders fxbus.Publisher[Order]
			fxtest.New(b, c.opts, fxbus.Topic[Order]("orders"), fx.Populate(&orders),
				handlers.Supply(handlers.RegisterFunc("orders", func(context.Context, Order) error { return nil })))
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := orders.Publish(ctx, Order{ID: "o"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
