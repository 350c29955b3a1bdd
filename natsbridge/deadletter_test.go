package natsbridge_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

var errDown = errors.New("billing down")

// attempts records the handlers.AttemptFrom of each call and when it came.
type attempts struct {
	mu    sync.Mutex
	seen  []int
	times []time.Time
}

func (a *attempts) add(ctx context.Context) int {
	n := handlers.AttemptFrom(ctx)
	a.mu.Lock()
	a.seen = append(a.seen, n)
	a.times = append(a.times, time.Now())
	a.mu.Unlock()
	return n
}

func (a *attempts) get() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.seen...)
}

// deadLetters reads the dead-letter stream with a consumer of its own.
func deadLetters(t testing.TB, js jetstream.JetStream, n int) []jetstream.Msg {
	t.Helper()
	c, err := js.OrderedConsumer(testCtx(t), natsbridge.DefaultDeadLetterStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []jetstream.Msg
	for len(out) < n {
		m, err := c.Next(jetstream.FetchMaxWait(testTimeout))
		if err != nil {
			t.Fatalf("dead letter %d of %d: %v", len(out)+1, n, err)
		}
		out = append(out, m)
	}
	return out
}

// A failing handler's message is delivered MaxDeliver times, spaced by the
// Backoff, then goes to the dead-letter subject with what happened to it,
// and is acked. The handler's own Retry does not multiply the deliveries:
// the broker owns retries.
func TestNakRedeliverThenDeadLetter(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	var calls attempts
	billing := handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
		calls.add(ctx)
		return errDown
	}, bus.Name("billing"), handlers.Retry(4, handlers.Backoff(time.Millisecond, time.Millisecond)))
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing"),
			natsbridge.MaxDeliver(3), natsbridge.Backoff(50*time.Millisecond, 100*time.Millisecond)),
		handlers.Supply(billing),
	)
	_, js := jsClient(t, url)
	sent := envelopeMsg("orders.placed", "ev-1", `{"id":"A-1"}`)
	if _, err := js.PublishMsg(testCtx(t), sent); err != nil {
		t.Fatal(err)
	}
	dl := deadLetters(t, js, 1)[0]
	app.RequireStop()

	if got := calls.get(); fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("handler calls saw attempts %v, want [1 2 3]: one call per delivery", got)
	}
	calls.mu.Lock()
	for i, want := range []time.Duration{40 * time.Millisecond, 80 * time.Millisecond} {
		if gap := calls.times[i+1].Sub(calls.times[i]); gap < want {
			t.Errorf("delivery %d came %v after the one before, want at least %v (the backoff less its jitter)", i+2, gap, want)
		}
	}
	calls.mu.Unlock()

	if dl.Subject() != "fxbus.dead-letter.billing.orders.placed" {
		t.Errorf("dead letter on %q", dl.Subject())
	}
	if string(dl.Data()) != `{"id":"A-1"}` {
		t.Errorf("dead letter payload %q, want the original's", dl.Data())
	}
	h := dl.Headers()
	want := map[string]string{
		natsbridge.HeaderDLQSubject:    "orders.placed",
		natsbridge.HeaderDLQStream:     natsbridge.DefaultStream,
		natsbridge.HeaderDLQSequence:   "1",
		natsbridge.HeaderDLQConsumer:   "billing",
		natsbridge.HeaderDLQDeliveries: "3",
		natsbridge.HeaderDLQReason:     "handler",
		natsbridge.HeaderDLQError:      errDown.Error(),
		natsbridge.HeaderID:            "ev-1",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("dead letter header %s = %q, want %q", k, got, v)
		}
	}
	info := consumerInfo(t, js, "billing")
	if info.NumAckPending != 0 || info.NumPending != 0 || info.AckFloor.Stream != 1 {
		t.Errorf("consumer: %d unacked, %d pending, ack floor %d: want the message acked", info.NumAckPending, info.NumPending, info.AckFloor.Stream)
	}
}

// A handler that fails twice and then succeeds is not dead-lettered.
func TestRedeliveryThenSuccess(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	var calls attempts
	done := make(chan struct{})
	billing := handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
		if calls.add(ctx) < 3 {
			return errDown
		}
		close(done)
		return nil
	})
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing"),
			natsbridge.MaxDeliver(3), natsbridge.Backoff(10*time.Millisecond)),
		handlers.Supply(billing),
	)
	_, js := jsClient(t, url)
	if _, err := js.PublishMsg(testCtx(t), envelopeMsg("orders.placed", "ev-1", `{"id":"A-1"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatal("not handled")
	}
	app.RequireStop()
	if n := streamMsgs(t, js, natsbridge.DefaultDeadLetterStream); n != 0 {
		t.Errorf("%d dead letters, want 0", n)
	}
	if info := consumerInfo(t, js, "billing"); info.AckFloor.Stream != 1 || info.NumAckPending != 0 {
		t.Errorf("ack floor %d, %d unacked: want the message acked", info.AckFloor.Stream, info.NumAckPending)
	}
}

// A message that does not decode goes to the dead-letter subject at once,
// with the decode error; the handler never sees it, and the next good
// message is handled.
func TestDecodeFailureToDeadLetter(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	rec := newRecorder()
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	_, js := jsClient(t, url)
	wrongType := envelopeMsg("orders.placed", "ev-2", `{"id":"B-2"}`)
	wrongType.Header.Set(natsbridge.HeaderContentType, "application/protobuf")
	for _, m := range []*nats.Msg{
		envelopeMsg("orders.placed", "ev-1", `not json`),
		wrongType,
		envelopeMsg("orders.placed", "ev-3", `{"id":"C-3","n":"three"}`),
		envelopeMsg("orders.placed", "ev-4", `{"id":"D-4"}`),
	} {
		if _, err := js.PublishMsg(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.wait(t, 1); got[0].ID != "D-4" {
		t.Errorf("handled %+v, want D-4 only", got)
	}
	dls := deadLetters(t, js, 3)
	app.RequireStop()
	for i, dl := range dls {
		h := dl.Headers()
		if h.Get(natsbridge.HeaderDLQReason) != "decode" || h.Get(natsbridge.HeaderDLQDeliveries) != "1" || h.Get(natsbridge.HeaderDLQError) == "" {
			t.Errorf("dead letter %d: reason %q, deliveries %q, error %q: want decode, 1, the error", i,
				h.Get(natsbridge.HeaderDLQReason), h.Get(natsbridge.HeaderDLQDeliveries), h.Get(natsbridge.HeaderDLQError))
		}
	}
	if n := len(rec.counts()); n != 1 {
		t.Errorf("handled %d events, want 1", n)
	}
}

// A handler error marked handlers.Permanent dead-letters the message at its
// first delivery.
func TestPermanentErrorDeadLettersAtOnce(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	var calls attempts
	billing := handlers.RegisterFunc("orders.placed", func(ctx context.Context, o Order) error {
		calls.add(ctx)
		return handlers.Permanent(errDown)
	})
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing"), natsbridge.Backoff(10*time.Millisecond)),
		handlers.Supply(billing),
	)
	_, js := jsClient(t, url)
	if _, err := js.PublishMsg(testCtx(t), envelopeMsg("orders.placed", "ev-1", `{"id":"A-1"}`)); err != nil {
		t.Fatal(err)
	}
	dl := deadLetters(t, js, 1)[0]
	app.RequireStop()
	if got := calls.get(); len(got) != 1 {
		t.Errorf("handler called %d times, want 1", len(got))
	}
	if d := dl.Headers().Get(natsbridge.HeaderDLQDeliveries); d != "1" {
		t.Errorf("dead-lettered after %s deliveries, want 1", d)
	}
}
