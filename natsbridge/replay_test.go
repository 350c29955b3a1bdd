package natsbridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// publishRaw stores events o-from..o-(to-1) on subject, synchronously.
func publishRaw(t testing.TB, js jetstream.JetStream, subject string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		id := fmt.Sprint("o-", i)
		if _, err := js.PublishMsg(testCtx(t), envelopeMsg(subject, id, fmt.Sprintf(`{"id":%q,"n":%d}`, id, i))); err != nil {
			t.Fatal(err)
		}
	}
}

// ensureStream makes the default stream before anything is imported, as an
// exporting app would have.
func ensureStream(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	_, err := js.CreateStream(testCtx(t), jetstream.StreamConfig{Name: natsbridge.DefaultStream, Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
}

// A new durable starts where its replay option says, and gets exactly what
// follows.
func TestReplay(t *testing.T) {
	cases := []struct {
		name    string
		opt     func(mid time.Time) natsbridge.ImportOption
		subject string
		want    []string
	}{
		{"all (default)", func(time.Time) natsbridge.ImportOption { return natsbridge.DeliverAll() }, "orders.placed",
			[]string{"o-0", "o-1", "o-2", "o-3", "o-4", "o-5", "o-6", "o-7"}},
		{"from sequence", func(time.Time) natsbridge.ImportOption { return natsbridge.StartAtSequence(4) }, "orders.placed",
			[]string{"o-3", "o-4", "o-5", "o-6", "o-7"}},
		{"from time", func(mid time.Time) natsbridge.ImportOption { return natsbridge.StartAtTime(mid) }, "orders.placed",
			[]string{"o-3", "o-4", "o-5", "o-6", "o-7"}},
		{"new only", func(time.Time) natsbridge.ImportOption { return natsbridge.DeliverNew() }, "orders.placed",
			[]string{"o-6", "o-7"}},
		{"last per subject", func(time.Time) natsbridge.ImportOption { return natsbridge.DeliverLastPerSubject() }, "orders.*",
			[]string{"o-2", "o-5", "o-6", "o-7"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			url, _ := startServer(t, t.TempDir())
			_, js := jsClient(t, url)
			ensureStream(t, js)
			// o-0..o-2 on orders.placed, o-3..o-5 on orders.paid (or
			// placed), then o-6, o-7 once the import runs.
			other := "orders.placed"
			if tc.subject == "orders.*" {
				other = "orders.paid"
			}
			publishRaw(t, js, "orders.placed", 0, 3)
			mid := time.Now() // after the first batch's acks, before the second is sent
			publishRaw(t, js, other, 3, 6)

			rec := newRecorder()
			app := startApp(t, remote(url),
				natsbridge.Import[Order](tc.subject, natsbridge.Durable("replay"), tc.opt(mid)),
				handlers.Supply(handlers.Register[Order](tc.subject, rec)),
			)
			publishRaw(t, js, "orders.placed", 6, 8)
			got := rec.wait(t, len(tc.want))
			// Everything before o-7 in the stream was delivered or skipped:
			// once o-7 is handled, nothing else can come.
			app.RequireStop()
			var ids []string
			for _, o := range got {
				ids = append(ids, o.ID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tc.want) {
				t.Errorf("handled %v, want %v", ids, tc.want)
			}
			if extra := len(rec.counts()) - len(tc.want); extra != 0 {
				t.Errorf("%d events handled beyond those", extra)
			}
		})
	}
}

// Ordered keeps stream order even when a message fails and comes again:
// nothing behind it is handled meanwhile.
func TestOrderedKeepsOrderAcrossRedelivery(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	_, js := jsClient(t, url)
	ensureStream(t, js)
	publishRaw(t, js, "orders.placed", 0, 10)
	rec := newRecorder()
	failed := false
	rec.failFor = func(_ context.Context, o Order) error {
		if o.ID == "o-3" && !failed {
			failed = true // the handler runs one message at a time
			return errDown
		}
		return nil
	}
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("ordered"), natsbridge.Ordered(),
			natsbridge.Backoff(20*time.Millisecond)),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	got := rec.wait(t, 10)
	app.RequireStop()
	for i, o := range got {
		if want := fmt.Sprint("o-", i); o.ID != want {
			t.Fatalf("handled %v: want o-0 to o-9 in order", got)
		}
	}
	if !failed {
		t.Error("o-3 never failed")
	}
}
