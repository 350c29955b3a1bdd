package otelfxbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
	"github.com/fxbus/fxbus/otelfxbus"
)

// startNATS runs a JetStream server on a free loopback port until the test
// ends, and returns its URL.
func startNATS(t *testing.T) string {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20, NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s.ClientURL()
}

// bridgedApp starts an app with the bus, the bridge to url and tracing
// into its own recorder, as a separate process would have.
func bridgedApp(t *testing.T, url string, opts ...fx.Option) (*fxtest.App, *tracetest.SpanRecorder) {
	t.Helper()
	rec, tracing := recorder(t)
	app := fxtest.New(t, append([]fx.Option{
		fx.NopLogger, fxbus.Module, natsbridge.Module, tracing,
		fx.Supply(fx.Annotate(propagation.TraceContext{}, fx.As(new(propagation.TextMapPropagator)))),
		fx.Provide(func(h *otelfxbus.Headers) natsbridge.HeaderPropagator { return h }),
		natsbridge.Configure(func(c *natsbridge.Config) { c.URLs, c.Name = []string{url}, "test" }),
	}, opts...)...)
	app.RequireStart()
	t.Cleanup(func() { _ = app.Stop(context.Background()) })
	return app, rec
}

// TestBridgeContinuesTrace: the importing app's handler span is a child of
// the exporting app's export span, in the exporter's trace.
func TestBridgeContinuesTrace(t *testing.T) {
	url := startNATS(t)
	handled := make(chan trace.SpanContext, 1)
	importer, inRec := bridgedApp(t, url,
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.RegisterFunc("orders.placed", func(ctx context.Context, _ Order) error {
			handled <- trace.SpanContextFromContext(ctx)
			return nil
		}, bus.Name("billing"))),
	)
	var orders fxbus.Publisher[Order]
	exporter, outRec := bridgedApp(t, url,
		fxbus.Topic[Order]("orders.placed"), natsbridge.Export[Order]("orders.>"), fx.Populate(&orders))

	if err := orders.Publish(context.Background(), Order{ID: "o1"}); err != nil {
		t.Fatal(err)
	}
	var got trace.SpanContext
	select {
	case got = <-handled:
	case <-time.After(20 * time.Second):
		t.Fatal("the importing app did not handle the order")
	}
	exporter.RequireStop()
	importer.RequireStop()

	send := byName(outRec, "send orders.placed")
	exports := byName(outRec, "process orders.>")
	if len(send) != 1 || len(exports) != 1 {
		t.Fatalf("exporter: %d send spans, %d export spans, want 1 and 1", len(send), len(exports))
	}
	export := exports[0]
	procs := byName(inRec, "process orders.placed")
	if len(procs) != 1 {
		t.Fatalf("importer: %d process spans, want 1", len(procs))
	}
	p := procs[0]
	if p.SpanContext().TraceID() != send[0].SpanContext().TraceID() || got.TraceID() != send[0].SpanContext().TraceID() {
		t.Errorf("importer's span in trace %s, want the exporter's %s", p.SpanContext().TraceID(), send[0].SpanContext().TraceID())
	}
	if !p.Parent().IsRemote() || p.Parent().SpanID() != export.SpanContext().SpanID() {
		t.Errorf("importer's span: parent %v (remote %v), want the export span %s", p.Parent().SpanID(), p.Parent().IsRemote(), export.SpanContext().SpanID())
	}
}
