package natsbridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// callCounter is a handler that counts its calls and successes per order,
// and fails every call for the orders that fail says.
type callCounter struct {
	fail func(Order) bool

	mu        sync.Mutex
	calls, ok map[string]int
}

func newCallCounter(fail func(Order) bool) *callCounter {
	return &callCounter{fail: fail, calls: map[string]int{}, ok: map[string]int{}}
}

func (h *callCounter) Handle(_ context.Context, o Order) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls[o.ID]++
	if h.fail(o) {
		return errors.New("this order always fails")
	}
	h.ok[o.ID]++
	return nil
}

// snapshot copies the counts.
func (h *callCounter) snapshot() (calls, ok map[string]int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	calls, ok = make(map[string]int, len(h.calls)), make(map[string]int, len(h.ok))
	for k, v := range h.calls {
		calls[k] = v
	}
	for k, v := range h.ok {
		ok[k] = v
	}
	return calls, ok
}

// The server that both apps use is shut down and started again on the same
// port and store while one app exports and the other imports. Both
// reconnect; every export the stream acked is handled; a message is handled
// no more often than the consumer's MaxDeliver; the orders that always fail
// are dead-lettered after MaxDeliver deliveries, and the dead-letter stream
// holds each once (a dead-lettering repeated because the original's ack was
// lost in the restart counts again in the metric, but its Nats-Msg-Id keeps
// it out of the stream); and the metrics count the reconnects, deliveries
// and dead letters that happened. The importer stops before the counts are
// read, so that they are final.
func TestFaultServerRestart(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	addr, stop := startServer(t, dir)
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	n := scaled(1000, 10000)
	const maxDeliver = 3
	fails := func(o Order) bool { return o.N%50 == 7 }
	failing := 0
	for i := range n {
		if fails(Order{N: i}) {
			failing++
		}
	}
	fast := func(c *natsbridge.Config) {
		c.ReconnectWait, c.ReconnectJitter = 20*time.Millisecond, 5*time.Millisecond
	}

	h := newCallCounter(fails)
	impReg := &keeper{Registry: prometheus.NewRegistry()}
	impApp := startApp(t, remote(addr, fast), withRegistry(impReg),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing"), natsbridge.MaxDeliver(maxDeliver),
			natsbridge.Backoff(20*time.Millisecond), natsbridge.AckWait(2*time.Second)),
		handlers.Supply(handlers.Register[Order]("orders.placed", h)),
	)
	expReg := &keeper{Registry: prometheus.NewRegistry()}
	var pub fxbus.Publisher[Order]
	pubApp := startApp(t, remote(addr, fast), withRegistry(expReg),
		fxbus.Topic[Order]("orders.placed"),
		natsbridge.Export[Order]("orders.>", natsbridge.InFlight(64)),
		fx.Populate(&pub),
	)

	passed, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- publishRange(pub, 0, n/2, n, passed) }()
	select {
	case <-passed:
	case err := <-done:
		done <- err
	}
	stop()
	killed := time.Now()
	startServerOn(t, dir, port)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pubApp.RequireStop()
	if e, f := sum(t, expReg, "fxbus_bridge_exported_total"), sum(t, expReg, "fxbus_bridge_export_failures_total"); e != float64(n) || f != 0 {
		t.Fatalf("exported %v of %d, %v failed", e, n, f)
	}

	_, js := jsClient(t, addr)
	poll(t, "every order handled or dead-lettered", func() bool {
		_, ok := h.snapshot()
		ci := readConsumer(js, natsbridge.DefaultStream, "billing")
		return len(ok) == n-failing && sum(t, impReg, "fxbus_bridge_dead_lettered_total") >= float64(failing) &&
			ci != nil && ci.NumPending == 0 && ci.NumAckPending == 0
	})
	recovered := time.Since(killed)
	impApp.RequireStop() // nothing is handled or counted after this
	calls, ok := h.snapshot()
	checkCalls(t, calls, ok, fails, n, maxDeliver)
	checkFaultMetrics(t, impReg, expReg, calls)
	checkDeadLetterStream(t, js, fails, failing)
	t.Logf("server restarted after %d of %d events: all handled or dead-lettered %v after the restart; %v export retries, "+
		"%v redelivered, %v naked, %v dead-lettered (%d in the dead-letter stream), %v reconnects of the importer",
		n/2, n, recovered.Round(time.Millisecond), sum(t, expReg, "fxbus_bridge_export_errors_total"),
		sum(t, impReg, "fxbus_bridge_redelivered_total"), sum(t, impReg, "fxbus_bridge_naked_total"),
		sum(t, impReg, "fxbus_bridge_dead_lettered_total"), failing, sum(t, impReg, "fxbus_bridge_reconnects_total"))
}

// checkCalls checks that every order was handled (or, for the failing ones,
// tried), none more often than the consumer's MaxDeliver (the import's + 1).
func checkCalls(t *testing.T, calls, ok map[string]int, fails func(Order) bool, n, maxDeliver int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprint("o-", i)
		switch {
		case calls[id] > maxDeliver+1:
			t.Errorf("%s handled %d times, more than the consumer's MaxDeliver %d", id, calls[id], maxDeliver+1)
		case fails(Order{N: i}) && calls[id] == 0:
			// Not always maxDeliver calls: a delivery sent as the server
			// went down counts toward MaxDeliver without reaching the app.
			t.Errorf("%s dead-lettered without a call", id)
		case !fails(Order{N: i}) && ok[id] == 0:
			t.Errorf("%s never handled", id)
		}
	}
}

// checkFaultMetrics checks that the importer's metrics count the calls that
// the handler saw, and that both apps counted a reconnect.
func checkFaultMetrics(t *testing.T, impReg, expReg *keeper, calls map[string]int) {
	t.Helper()
	total := 0
	for _, c := range calls {
		total += c
	}
	if got := sum(t, impReg, "fxbus_bridge_imported_total"); got != float64(total) {
		t.Errorf("fxbus_bridge_imported_total = %v, the handler was called %d times", got, total)
	}
	// Every call of an order after its first is a redelivery; a first call
	// may be one too, when the delivery before it was lost in the restart.
	if got, least := sum(t, impReg, "fxbus_bridge_redelivered_total"), total-len(calls); got < float64(least) || got > float64(total) {
		t.Errorf("fxbus_bridge_redelivered_total = %v, want between the %d repeated calls and all %d calls", got, least, total)
	}
	for name, k := range map[string]*keeper{"importer": impReg, "exporter": expReg} {
		if sum(t, k, "fxbus_bridge_reconnects_total") < 1 {
			t.Errorf("the %s counted no reconnect", name)
		}
	}
}

// checkDeadLetterStream checks that the dead-letter stream holds one dead
// letter for each of the failing orders, none for the others, and says
// why, as many as the importer's metric counted.
func checkDeadLetterStream(t *testing.T, js jetstream.JetStream, fails func(Order) bool, failing int) {
	t.Helper()
	if got := streamMsgs(t, js, natsbridge.DefaultDeadLetterStream); got != uint64(failing) {
		t.Fatalf("the dead-letter stream holds %d messages, want the %d dead-lettered orders once each", got, failing)
	}
	seen := map[string]bool{}
	for _, m := range deadLetters(t, js, failing) {
		var o Order
		if err := json.Unmarshal(m.Data(), &o); err != nil || !fails(o) || seen[o.ID] {
			t.Errorf("dead letter %s (%v): not a failing order, or its second", m.Data(), err)
		}
		seen[o.ID] = true
		if r := m.Headers().Get(natsbridge.HeaderDLQReason); r != "handler" {
			t.Errorf("dead letter of %s: reason %q, want handler", o.ID, r)
		}
	}
}
