package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/fxtest"
	"github.com/fxbus/fxbus/handlers"
)

// testSettings are the app's defaults without traffic or a slow analytics
// feed.
func testSettings() settings {
	s := defaultSettings()
	s.Rate = 0
	s.AnalyticsDelay = 0
	return s
}

// testApp is the app, without its server and traffic generator, started
// by fxtest: in synchronous mode unless opts has fxtest.Async, so that
// Publish returns once every handler has run and a test asserts right after
// it; stopped, and checked for leaked goroutines, when the test ends.
type testApp struct {
	*fxtest.App
	Store  *Store
	Mux    *http.ServeMux
	Orders fxbus.Publisher[OrderPlaced]
}

func startApp(t *testing.T, s settings, opts ...fx.Option) *testApp {
	t.Helper()
	var a testApp
	a.App = fxtest.New(t,
		coreOptions(s, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))),
		fx.Options(opts...),
		fx.Populate(&a.Store, &a.Mux, &a.Orders),
	)
	return &a
}

// testContext bounds what a test may wait for.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// subscriber returns the stats of the subscriber called name.
func subscriber(t *testing.T, b *bus.Bus, name string) bus.SubscriptionStats {
	t.Helper()
	for _, s := range b.Stats().Subscriptions {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no subscriber %q in %+v", name, b.Stats().Subscriptions)
	return bus.SubscriptionStats{}
}

// postOrder sends POST /orders to mux and returns the recorded response.
func postOrder(mux http.Handler, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func TestPlaceOrderReachesEveryHandler(t *testing.T) {
	a := startApp(t, testSettings())
	// Recorders next to the handlers see what the API and the chain publish.
	placed := fxtest.Record[OrderPlaced](a.App, TopicOrders)
	reserved := fxtest.Record[InventoryReserved](a.App, TopicReserved)

	rec := postOrder(a.Mux, `{"sku":"SKU-007","quantity":2,"email":"ada@example.com"}`)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST /orders: %d %s", rec.Code, rec.Body)
	}

	// Synchronous mode: the handlers have run when the response is written.
	msgs := placed.Messages()
	if len(msgs) != 1 {
		t.Fatalf("published %d OrderPlaced, want 1", len(msgs))
	}
	want := OrderPlaced{ID: "ord-000001", Number: 1, SKU: "SKU-007", Quantity: 2, Email: "ada@example.com"}
	got := msgs[0].Value
	got.PlacedAt = time.Time{}
	if got != want {
		t.Errorf("published %+v, want %+v", got, want)
	}
	if h := rec.Header().Get("X-Correlation-ID"); h != msgs[0].CorrelationID.String() {
		t.Errorf("X-Correlation-ID %q, the event carries %q", h, msgs[0].CorrelationID)
	}
	// The chain: the inventory worker's follow-up carries the order's
	// correlation ID on.
	res := reserved.Messages()
	if len(res) != 1 || res[0].Value.OrderID != "ord-000001" || res[0].CorrelationID != msgs[0].CorrelationID {
		t.Errorf("InventoryReserved: %+v, want one for ord-000001 with correlation ID %s", res, msgs[0].CorrelationID)
	}

	snap := a.Store.Snapshot()
	if snap.Audited != 1 || snap.Reserved != 1 || snap.Confirmed != 1 || snap.Tracked != 1 || snap.Emails != 1 {
		t.Errorf("store after one order: %+v; want it audited, reserved, confirmed, tracked and emailed once", snap)
	}
	if got := a.Store.Audited(); !slices.Equal(got, []string{"ord-000001"}) {
		t.Errorf("audited %v", got)
	}
	for _, name := range []string{"audit", "analytics", "email", "confirm"} {
		if s := subscriber(t, a.Bus(), name); s.Delivered != 1 || s.Queued != 0 {
			t.Errorf("%s: delivered %d, queued %d; want 1, 0", name, s.Delivered, s.Queued)
		}
	}
}

func TestInventoryQueueGroupKeepsEachSKUOnOneWorker(t *testing.T) {
	a := startApp(t, testSettings())
	const orders = 60
	for i := range orders {
		body := fmt.Sprintf(`{"sku":"SKU-%03d","quantity":1,"email":"c%d@example.com"}`, i%12, i)
		if rec := postOrder(a.Mux, body); rec.Code != http.StatusAccepted {
			t.Fatalf("order %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	snap := a.Store.Snapshot()
	if snap.Reserved != orders || snap.Confirmed != orders {
		t.Errorf("reserved %d, confirmed %d; want each order once: %d", snap.Reserved, snap.Confirmed, orders)
	}
	if snap.SplitSKUs != 0 {
		t.Errorf("%d SKUs went to two workers; the ordering key keeps a SKU on one", snap.SplitSKUs)
	}
	if len(snap.Workers) < 2 {
		t.Errorf("12 SKUs all on %v: the group did not split the orders", snap.Workers)
	}
	var delivered uint64
	for i := 1; i <= 4; i++ {
		s := subscriber(t, a.Bus(), fmt.Sprintf("inventory-%d", i))
		if s.Group != "inventory" {
			t.Errorf("%s in group %q, want inventory", s.Name, s.Group)
		}
		delivered += s.Delivered
	}
	if delivered != orders {
		t.Errorf("the group's members handled %d orders in all, want %d (each exactly once)", delivered, orders)
	}
}

func TestEmailRetriesThenDeadLetters(t *testing.T) {
	ctx := testContext(t)
	s := testSettings()
	s.EmailFailEvery = 2 // orders 2 and 4 fail once, then succeed
	s.EmailDeadEvery = 3 // order 3 fails every attempt
	a := startApp(t, s)
	dead := fxtest.Record[handlers.DeadLetter[OrderPlaced]](a.App, TopicOrders+handlers.DeadLetterSuffix)

	for n := int64(1); n <= 4; n++ {
		err := a.Orders.Publish(ctx, OrderPlaced{ID: fmt.Sprint("o", n), Number: n, SKU: "SKU-1", Quantity: 1, Email: "a@example.com"})
		// Synchronous mode returns what the handlers returned.
		if wantErr := n == 3; (err != nil) != wantErr || (wantErr && !errors.Is(err, errMailDown)) {
			t.Errorf("order %d: Publish returned %v", n, err)
		}
	}

	snap := a.Store.Snapshot()
	if snap.Emails != 3 || snap.EmailRetry != 2 {
		t.Errorf("emails sent %d (%d on a retry), want 3 (2)", snap.Emails, snap.EmailRetry)
	}
	dls := a.Store.DeadLetters()
	if len(dls) != 1 || dead.Len() != 1 {
		t.Fatalf("dead letters: %+v (recorded %d), want one", dls, dead.Len())
	}
	d := dls[0]
	if d.Message.ID != "o3" || d.Subscriber != "email" || d.Attempts != s.EmailAttempts || d.Topic != TopicOrders ||
		!errors.Is(d.Cause, errMailDown) {
		t.Errorf("dead letter %+v: want order o3 from email after %d attempts", d, s.EmailAttempts)
	}
	if st := subscriber(t, a.Bus(), "email"); st.Delivered != 4 || st.Failed != 1 {
		t.Errorf("email stats: delivered %d, failed %d; want 4, 1", st.Delivered, st.Failed)
	}
	// The other handlers are not affected by the email's failures.
	if snap.Audited != 4 || snap.Confirmed != 4 {
		t.Errorf("audited %d, confirmed %d, want 4", snap.Audited, snap.Confirmed)
	}
}

func TestStoreClosesAfterTheBusDrains(t *testing.T) {
	// In asynchronous mode, publish a burst and stop at once: the stop must
	// deliver every queued order before the store (a dependency of the
	// handlers) closes. A handler that ran after would fail with
	// errStoreClosed, and the report would show it.
	a := startApp(t, testSettings(), fxtest.Async())
	ctx := testContext(t)
	const n = 200
	for i := int64(1); i <= n; i++ {
		if err := a.Orders.Publish(ctx, OrderPlaced{ID: fmt.Sprint("o", i), Number: i, SKU: fmt.Sprint("SKU-", i%7), Quantity: 1}); err != nil {
			t.Fatal(err)
		}
	}
	a.RequireStop()

	if err := a.Orders.Publish(ctx, OrderPlaced{ID: "late"}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after stop: %v, want bus.ErrClosed", err)
	}
	r := finalReport{Stats: a.Bus().Stats(), Store: a.Store.Snapshot()}
	if p := r.problems(); len(p) > 0 {
		t.Errorf("lost at shutdown:\n%s", strings.Join(p, "\n"))
	}
	if snap := a.Store.Snapshot(); snap.Audited != n {
		t.Errorf("audited %d of %d", snap.Audited, n)
	}
}

func TestAnalyticsDropsOldestWhenSlow(t *testing.T) {
	// The analytics feed stalls (a Blocker) while orders keep coming: its
	// queue of 8 fills, DropOldest evicts the oldest orders, and nobody else
	// loses anything or waits.
	blk := new(fxtest.Blocker[OrderPlaced])
	a := startApp(t, testSettings(), fxtest.Async(),
		fx.Decorate(func(feed) feed { return blk }))
	t.Cleanup(blk.ReleaseAll) // runs before the app's stop

	ctx := testContext(t)
	const n = 30
	for i := int64(1); i <= n; i++ {
		if err := a.Orders.Publish(ctx, OrderPlaced{ID: fmt.Sprint("o", i), Number: i, SKU: "SKU-1", Quantity: 1}); err != nil {
			t.Fatal(err)
		}
	}
	// Every publish has returned while analytics is stuck: its policy never
	// makes the publisher wait.
	if an := subscriber(t, a.Bus(), "analytics"); an.Dropped[bus.ReasonEvicted] == 0 {
		t.Errorf("analytics while stuck: %d delivered, %v dropped, %d queued; want evictions", an.Delivered, an.Dropped, an.Queued)
	}

	blk.ReleaseAll()
	a.WaitIdle()
	an := subscriber(t, a.Bus(), "analytics")
	if an.Delivered+an.Dropped.Total() != n || an.Dropped[bus.ReasonEvicted] == 0 || an.Queued != 0 {
		t.Errorf("analytics: delivered %d + dropped %v + queued %d, want %d with evictions", an.Delivered, an.Dropped, an.Queued, n)
	}
	// DropOldest keeps the newest: the last order got through.
	if vals := blk.Values(); len(vals) == 0 || vals[len(vals)-1].ID != fmt.Sprint("o", n) {
		t.Errorf("analytics handled %d orders, the last %v; want the newest, o%d, among them", len(vals), vals[max(0, len(vals)-1):], n)
	}
	if snap := a.Store.Snapshot(); snap.Audited != n || snap.Reserved != n {
		t.Errorf("audited %d, reserved %d; want %d: a slow feed costs the others nothing", snap.Audited, snap.Reserved, n)
	}
}

func TestAllowedDrops(t *testing.T) {
	evicted := bus.DropCounts{bus.ReasonEvicted: 3}
	tests := []struct {
		name   string
		policy bus.Policy
		stats  bus.SubscriptionStats
		want   string // part of the problem, "" for none
	}{
		{"balanced", bus.Block(), bus.SubscriptionStats{Published: 5, Delivered: 5}, ""},
		{"drop-oldest evicts", bus.DropOldest(), bus.SubscriptionStats{Published: 5, Delivered: 2, Dropped: evicted}, ""},
		{"block never drops", bus.Block(), bus.SubscriptionStats{Published: 5, Delivered: 2, Dropped: evicted}, "3 dropped (evicted) under block"},
		{"shutdown is a loss", bus.DropOldest(), bus.SubscriptionStats{Published: 5, Delivered: 4, Dropped: bus.DropCounts{bus.ReasonShutdown: 1}}, "dropped (shutdown)"},
		{"still queued", bus.Block(), bus.SubscriptionStats{Published: 5, Delivered: 4, Queued: 1}, "1 still queued"},
		{"unbalanced", bus.Block(), bus.SubscriptionStats{Published: 5, Delivered: 4}, "published 5 != delivered+dropped+queued 4"},
		{"block:1s times out", bus.BlockFor(time.Second), bus.SubscriptionStats{Published: 2, Delivered: 1, Dropped: bus.DropCounts{bus.ReasonTimeout: 1}}, ""},
		{"disconnect", bus.DisconnectAfter(2), bus.SubscriptionStats{Published: 3, Dropped: bus.DropCounts{bus.ReasonFull: 2, bus.ReasonDisconnect: 1}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.stats.Policy = tt.policy
			got := checkSubscriber(tt.stats)
			if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
				t.Errorf("checkSubscriber = %q, want %q", got, tt.want)
			}
		})
	}
}
