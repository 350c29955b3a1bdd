package natsbridge_test

import (
	"fmt"
	"testing"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// Default durable names are valid JetStream names, distinct for distinct
// subjects, and stable.
func TestDurableNames(t *testing.T) {
	subjects := []string{"orders.placed", "orders_placed", "orders.*", "orders.>", "orders.x", "orders"}
	seen := map[string]string{}
	for _, s := range subjects {
		n := natsbridge.DurableName("billing", s)
		if err := validConsumerName(n); err != nil {
			t.Errorf("%q -> %q: %v", s, n, err)
		}
		if prev, ok := seen[n]; ok {
			t.Errorf("%q and %q both map to %q", prev, s, n)
		}
		seen[n] = s
	}
	if got := natsbridge.DurableName("billing", "orders.*"); got != "billing_orders~+" {
		t.Errorf("orders.* -> %q, want billing_orders~+", got)
	}
}

func validConsumerName(n string) error {
	for _, c := range n {
		switch c {
		case '.', '*', '>', '/', '\\', ' ', '\t', '\r', '\n':
			return fmt.Errorf("contains %q", c)
		}
	}
	return nil
}

func TestSubjectAlgebra(t *testing.T) {
	covers := []struct {
		filter, pattern string
		want            bool
	}{
		{"orders.>", "orders.placed", true},
		{"orders.>", "orders.*", true},
		{"orders.>", "orders.>", true},
		{"orders.>", "orders", false},
		{"orders.*", "orders.placed", true},
		{"orders.*", "orders.>", false},
		{"orders.*", "orders.a.b", false},
		{"orders.placed", "orders.*", false},
		{">", "orders.placed", true},
		{"*.placed", "orders.placed", true},
		{"orders.placed", "orders.placed", true},
	}
	for _, c := range covers {
		if got := natsbridge.Covers(c.filter, c.pattern); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.filter, c.pattern, got, c.want)
		}
	}
	overlaps := []struct {
		a, b string
		want bool
	}{
		{"orders.*", "orders.placed", true},
		{"orders.>", "*.placed", true},
		{"orders.placed", "orders.paid", false},
		{"orders.*", "orders.a.b", false},
		{"orders.>", "orders", false},
	}
	for _, c := range overlaps {
		if got := natsbridge.Overlap(c.a, c.b); got != c.want {
			t.Errorf("overlap(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	if got := fmt.Sprint(natsbridge.Merge([]string{"orders.placed", "payments.>"}, []string{"orders.>", "orders.placed"})); got != "[orders.> payments.>]" {
		t.Errorf("merge = %s", got)
	}
}

// An import without Durable gets the default name, which the server accepts.
func TestDefaultDurable(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	rec := newRecorder()
	app := startApp(t, remote(url),
		natsbridge.Import[Order]("orders.*"),
		handlers.Supply(handlers.Register[Order]("orders.*", rec)),
	)
	_, js := jsClient(t, url)
	if _, err := js.PublishMsg(testCtx(t), envelopeMsg("orders.placed", "ev-1", `{"id":"A-1"}`)); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 1)
	app.RequireStop()
	if info := consumerInfo(t, js, "test_orders~+"); info.AckFloor.Stream != 1 {
		t.Errorf("consumer test_orders~+ ack floor %d, want 1", info.AckFloor.Stream)
	}
}
