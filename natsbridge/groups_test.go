package natsbridge_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// Two instances of a service that share a durable split the events: every
// event is handled by exactly one of them, and each handles some.
func TestSharedDurableSplits(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	const n = 300

	// Instance a holds its first event until b has handled one, so that the
	// split does not depend on who pulls first.
	release := make(chan struct{})
	var once sync.Once
	a, b := newRecorder(), newRecorder()
	a.failFor = func(ctx context.Context, o Order) error {
		select {
		case <-release:
		case <-time.After(testTimeout):
		}
		return nil
	}
	b.failFor = func(context.Context, Order) error {
		once.Do(func() { close(release) })
		return nil
	}
	opts := []natsbridge.ImportOption{natsbridge.Durable("billing"), natsbridge.MaxAckPending(8), natsbridge.Prefetch(4)}
	for _, r := range []*recorder{a, b} {
		startApp(t, remote(url),
			natsbridge.Import[Order]("orders.placed", opts...),
			handlers.Supply(handlers.Register[Order]("orders.placed", r)),
		)
	}
	pub, _ := publisherApp(t, remote(url))
	publishN(t, pub, 0, n)

	total := 0
	deadline := time.After(testTimeout)
	for total < n {
		select {
		case <-a.ch:
		case <-b.ch:
		case <-deadline:
			t.Fatalf("handled %d of %d", total, n)
		}
		total++
	}
	ca, cb := a.counts(), b.counts()
	for i := range n {
		id := fmt.Sprint("o-", i)
		if ca[id]+cb[id] != 1 {
			t.Errorf("%s handled %d times by a and %d by b, want once in all", id, ca[id], cb[id])
		}
	}
	if len(ca) == 0 || len(cb) == 0 {
		t.Errorf("a handled %d, b %d: want both to share the work", len(ca), len(cb))
	}
	t.Logf("split: a %d, b %d", len(ca), len(cb))
}

// Imports with different durable names each get every event.
func TestTwoDurablesEachGetAll(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	const n = 100
	recs := map[string]*recorder{"billing": newRecorder(), "audit": newRecorder()}
	for durable, r := range recs {
		startApp(t, remote(url),
			natsbridge.Import[Order]("orders.placed", natsbridge.Durable(durable)),
			handlers.Supply(handlers.Register[Order]("orders.placed", r)),
		)
	}
	pub, _ := publisherApp(t, remote(url))
	publishN(t, pub, 0, n)
	for durable, r := range recs {
		r.wait(t, n)
		for i := range n {
			if c := r.counts()[fmt.Sprint("o-", i)]; c != 1 {
				t.Errorf("%s handled o-%d %d times, want 1", durable, i, c)
			}
		}
	}
}
