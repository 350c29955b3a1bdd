package natsbridge_test

import (
	"context"
	"testing"
	"time"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// A slow importer whose handler is stuck, with a small MaxAckPending, holds
// at most that many messages of its own durable; a fast importer on another
// durable of the same stream gets every event meanwhile.
func TestSlowImporterDoesNotStarveFast(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	n := scaled(500, 5000)
	const slowPending = 2

	release := make(chan struct{})
	slow := newRecorder()
	slow.ch = make(chan Order, n)
	slow.failFor = func(ctx context.Context, _ Order) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("slow"), natsbridge.MaxAckPending(slowPending)),
		handlers.Supply(handlers.Register[Order]("orders.placed", slow)),
	)
	fast := newRecorder()
	fast.ch = make(chan Order, n)
	startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("fast")),
		handlers.Supply(handlers.Register[Order]("orders.placed", fast)),
	)
	pub, _ := publisherApp(t, remote(url))
	started := time.Now()
	publishN(t, pub, 0, n)

	fast.wait(t, n)
	fastTook := time.Since(started)
	_, js := jsClient(t, url)
	ci := consumerInfo(t, js, "slow")
	if ci.NumAckPending > slowPending || len(slow.counts()) != 0 {
		t.Errorf("the slow durable holds %d unacked and handled %d, want at most %d and 0", ci.NumAckPending, len(slow.counts()), slowPending)
	}
	close(release)
	released := time.Now()
	slow.wait(t, n)
	t.Logf("the fast durable handled all %d in %v while the slow one held %d unacked; released, the slow one caught up in %v",
		n, fastTook.Round(time.Millisecond), ci.NumAckPending, time.Since(released).Round(time.Millisecond))
}
