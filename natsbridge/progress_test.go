package natsbridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// A handler that runs longer than the AckWait is not redelivered under it:
// the import tells the server the message is in progress.
func TestLongHandlerNotRedelivered(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	var calls attempts
	done := make(chan struct{})
	slow := handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
		calls.add(ctx)
		time.Sleep(1600 * time.Millisecond) // the handler's work: longer than the AckWait
		close(done)
		return nil
	})
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("slow"), natsbridge.AckWait(time.Second)),
		handlers.Supply(slow),
	)
	_, js := jsClient(t, url)
	if _, err := js.PublishMsg(testCtx(t), envelopeMsg("orders.placed", "ev-1", `{"id":"A-1"}`)); err != nil {
		t.Fatal(err)
	}
	<-done
	app.RequireStop()
	info := consumerInfo(t, js, "slow")
	if len(calls.get()) != 1 || info.NumRedelivered != 0 || info.AckFloor.Stream != 1 {
		t.Errorf("%d calls, %d redelivered, ack floor %d: want 1, 0, 1", len(calls.get()), info.NumRedelivered, info.AckFloor.Stream)
	}
}
