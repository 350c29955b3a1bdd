package natsbridge_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// maxIdle is the longest an import with a backlog may go without handling
// a message: a missed pull is noticed after two missed idle heartbeats
// (1 s each) and pulled again, well before nats.go's 30 s pull expiry.
const maxIdle = 10 * time.Second

// An ordered import (one message at a time, so one pull per message) of a
// backlog much larger than one pull batch drains it completely, never idle
// for long: without the import's pull heartbeat a pull that the server let
// pass left the consumer idle until the pull expired, 30 s later, about once
// every thousand messages or so.
func TestOrderedBacklogDoesNotStall(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	_, js := jsClient(t, url)
	ensureStream(t, js)
	n := scaled(1500, 10000)
	publishRaw(t, js, "orders.placed", 0, n)

	rec := newRecorder()
	rec.ch = make(chan Order, n)
	started := time.Now()
	startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("ordered"), natsbridge.Ordered()),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	idle := time.NewTimer(maxIdle)
	defer idle.Stop()
	longest, last := time.Duration(0), started
	for i := range n {
		select {
		case o := <-rec.ch:
			if want := fmt.Sprint("o-", i); o.ID != want {
				t.Fatalf("handled %s as message %d, want %s: out of order", o.ID, i, want)
			}
		case <-idle.C:
			t.Fatalf("handled %d of %d, then nothing for %v: the import stalled", i, n, maxIdle)
		}
		now := time.Now()
		longest = max(longest, now.Sub(last))
		last = now
		idle.Reset(maxIdle)
	}
	t.Logf("an ordered import drained a backlog of %d in %v; longest wait between two messages %v",
		n, time.Since(started).Round(time.Millisecond), longest.Round(time.Millisecond))
}
