package natsbridge_test

import (
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// Events exported before the embedded server stops are all there after it
// restarts on the same store, and each is handled exactly once: the acks
// survive the restarts too.
func TestDurableAcrossEmbeddedRestart(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	const n = 200

	// 1: export n events; stopping the app waits for the stream's acks, then
	// stops the server.
	pub, app := publisherApp(t, embeddedIn(dir))
	publishN(t, pub, 0, n)
	app.RequireStop()

	// 2: a new server on the same store; the durable consumes them all.
	rec := newRecorder()
	app = startApp(t, embeddedIn(dir),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	rec.wait(t, n)
	app.RequireStop()
	for i := range n {
		if c := rec.counts()[fmt.Sprint("o-", i)]; c != 1 {
			t.Errorf("o-%d handled %d times, want 1", i, c)
		}
	}

	// 3: once more: the consumer has nothing left to deliver.
	var bridge *natsbridge.Bridge
	rec2 := newRecorder()
	app = startApp(t, embeddedIn(dir),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec2)),
		fx.Populate(&bridge),
	)
	info := consumerInfo(t, bridge.JetStream(), "billing")
	if info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 || info.AckFloor.Stream != n {
		t.Errorf("after the restart the consumer has %d pending, %d unacked, %d redelivered, ack floor %d: want 0, 0, 0, %d",
			info.NumPending, info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream, n)
	}
	app.RequireStop()
	if len(rec2.counts()) != 0 {
		t.Errorf("after the restart %d events were handled again", len(rec2.counts()))
	}
}

func consumerInfo(t testing.TB, js jetstream.JetStream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(testCtx(t), natsbridge.DefaultStream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// The same event published twice (same ce-id, hence Nats-Msg-Id) within the
// stream's duplicate window is stored and handled once.
func TestDedupOfRepublishedEvent(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	rec := newRecorder()
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	_, js := jsClient(t, url)
	for i, id := range []string{"ev-1", "ev-1", "ev-2"} {
		ack, err := js.PublishMsg(testCtx(t), envelopeMsg("orders.placed", id, fmt.Sprintf(`{"id":%q}`, id)))
		if err != nil {
			t.Fatal(err)
		}
		if want := i == 1; ack.Duplicate != want {
			t.Errorf("publish %d of %s: duplicate %v, want %v", i, id, ack.Duplicate, want)
		}
	}
	rec.wait(t, 2)
	app.RequireStop()
	if n := streamMsgs(t, js, natsbridge.DefaultStream); n != 2 {
		t.Errorf("stream holds %d messages, want 2", n)
	}
	if c := rec.counts(); c["ev-1"] != 1 || c["ev-2"] != 1 {
		t.Errorf("handled %v, want each once", c)
	}
}
