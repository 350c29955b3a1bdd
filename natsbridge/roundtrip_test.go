package natsbridge_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// An event published in one app reaches the handler of another, with the
// CloudEvents headers on the way and the publisher's correlation ID at the
// end.
func TestRoundTrip(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())

	rec := newRecorder()
	startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	pub, pubApp := publisherApp(t, remote(url))

	corr := bus.NewCorrelationID()
	if err := pub.Publish(bus.WithCorrelationID(testCtx(t), corr), Order{ID: "A-1", N: 7}); err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 1)
	if got[0] != (Order{ID: "A-1", N: 7}) {
		t.Errorf("handled %+v, want A-1/7", got[0])
	}
	rec.mu.Lock()
	if rec.corr[0] != corr {
		t.Errorf("correlation ID at the handler %v, want the publisher's %v", rec.corr[0], corr)
	}
	rec.mu.Unlock()
	pubApp.RequireStop()

	_, js := jsClient(t, url)
	s, err := js.Stream(testCtx(t), natsbridge.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.GetMsg(testCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	h := raw.Header
	want := map[string]string{
		natsbridge.HeaderSpecVersion:   "1.0",
		natsbridge.HeaderType:          "github.com/fxbus/fxbus/natsbridge_test.Order",
		natsbridge.HeaderSource:        "/fxbus/test",
		natsbridge.HeaderContentType:   "application/json",
		natsbridge.HeaderCorrelationID: corr.String(),
	}
	for k, v := range want {
		if got := h[k]; len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, got, v)
		}
	}
	if id := h.Get(natsbridge.HeaderID); id == "" || h.Get(jetstream.MsgIDHeader) != id {
		t.Errorf("ce-id %q, Nats-Msg-Id %q: want the same, not empty", id, h.Get(jetstream.MsgIDHeader))
	}
	if h.Get(natsbridge.HeaderTime) == "" {
		t.Errorf("no %s header", natsbridge.HeaderTime)
	}
	if string(raw.Data) != `{"id":"A-1","n":7}` {
		t.Errorf("payload %s", raw.Data)
	}
}

// An app that exports and imports one subject does not send the imported
// events back to the stream.
func TestNoEcho(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	rec := newRecorder()
	var shipped fxbus.Publisher[Order]
	shipper := handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
		if !natsbridge.Imported(ctx) {
			return nil
		}
		// A chained event on another topic is exported as usual.
		return shipped.Publish(ctx, Order{ID: "ship-" + o.ID})
	}, bus.Name("shipper"))
	app := startApp(t, remote(url),
		fxbus.Topic[Order]("orders.placed"),
		fxbus.NamedTopic[Order]("orders.shipped", "shipped"),
		natsbridge.Export[Order]("orders.>"),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("echo")),
		handlers.Supply(shipper, handlers.Register[Order]("orders.placed", rec)),
		fx.Invoke(fx.Annotate(func(p fxbus.Publisher[Order]) { shipped = p }, fx.ParamTags(`name:"shipped"`))),
	)
	_, js := jsClient(t, url)
	if _, err := js.PublishMsg(testCtx(t), envelopeMsg("orders.placed", "ext-1", `{"id":"X"}`)); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 1)
	app.RequireStop()
	// In the stream: the external event and the shipment, not the import
	// published back.
	if n := streamMsgs(t, js, natsbridge.DefaultStream); n != 2 {
		t.Errorf("stream holds %d messages, want 2 (the imported one and its shipment)", n)
	}
}
