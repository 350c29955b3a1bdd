package natsbridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// Stopping an app while its import is busy acks exactly the events its
// handlers handled: the next instance of the durable gets every other event,
// and none handled before comes again. With one worker the messages are
// handled on nats.go's goroutine, with more on the import's own.
func TestStopUnderLoad(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(fmt.Sprint("workers=", workers), func(t *testing.T) { testStopUnderLoad(t, workers) })
	}
}

func testStopUnderLoad(t *testing.T, workers int) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	_, js := jsClient(t, url)
	ensureStream(t, js)
	const n = 3000
	for i := range n {
		id := fmt.Sprint("o-", i)
		if _, err := js.PublishMsgAsync(envelopeMsg("orders.placed", id, fmt.Sprintf(`{"id":%q}`, id))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(testTimeout):
		t.Fatal("publishes not acked")
	}

	work := func(context.Context, Order) error {
		time.Sleep(50 * time.Microsecond) // the handler's work
		return nil
	}
	opts := []natsbridge.ImportOption{natsbridge.Durable("billing"), natsbridge.Workers(workers)}
	first := newRecorder()
	first.failFor = work
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", opts...),
		handlers.Supply(handlers.Register[Order]("orders.placed", first)),
	)
	first.wait(t, n/5)
	stopped := time.Now()
	app.RequireStop()
	t.Logf("first instance handled %d, stopped in %v", len(first.counts()), time.Since(stopped))

	second := newRecorder()
	app = startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", opts...),
		handlers.Supply(handlers.Register[Order]("orders.placed", second)),
	)
	handledFirst := first.counts()
	missing := n - len(handledFirst)
	second.wait(t, missing)
	app.RequireStop()

	handledSecond := second.counts()
	for i := range n {
		id := fmt.Sprint("o-", i)
		a, b := handledFirst[id], handledSecond[id]
		switch {
		case a+b == 0:
			t.Errorf("%s never handled: acked by the first instance without its handler", id)
		case a+b > 1:
			t.Errorf("%s handled %d times by the first instance, %d by the second: its ack was lost at stop", id, a, b)
		}
	}
	if info := consumerInfo(t, js, "billing"); info.AckFloor.Stream != n || info.NumAckPending != 0 {
		t.Errorf("ack floor %d, %d unacked: want %d, 0", info.AckFloor.Stream, info.NumAckPending, n)
	}
}
