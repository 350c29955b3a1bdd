package handlers

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fxbus/fxbus/bus"
)

func TestDeadLetterContent(t *testing.T) {
	b := newBus(t)
	top := mustTopic[order](t, b, "orders.created")
	dead, err := bus.Subscribe[DeadLetter[order]](context.Background(), b, "orders.created"+DeadLetterSuffix)
	if err != nil {
		t.Fatal(err)
	}
	var sl sleeper
	mustSubscribe(t, b, RegisterFunc("orders.created", func(context.Context, order) error { return errBoom },
		bus.Name("billing"), Retry(3), withSleep(sl.sleep)), Env{})

	id := bus.NewCorrelationID()
	err = top.PublishSync(bus.WithCorrelationID(testCtx(t), id), order{ID: 42, Total: 7})
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), `dead-letter topic "orders.created.dead-letter"`) {
		t.Errorf("PublishSync: %v, want boom and the dead-letter topic", err)
	}
	m := recv(t, dead.C)
	want := DeadLetter[order]{
		Message:       order{ID: 42, Total: 7},
		Err:           "boom",
		Attempts:      3,
		CorrelationID: id,
		Topic:         "orders.created",
		Subscriber:    "billing",
	}
	got := m.Value
	if !errors.Is(got.Cause, errBoom) {
		t.Errorf("Cause = %v, want boom", got.Cause)
	}
	got.Cause = nil
	if got != want {
		t.Errorf("dead letter\n got %+v\nwant %+v", got, want)
	}
	if m.CorrelationID != id || m.Topic != "orders.created.dead-letter" {
		t.Errorf("dead letter published on %q with ID %v, want the dead-letter topic and %v", m.Topic, m.CorrelationID, id)
	}
}

// With nothing subscribed to the dead letters, the bus still counts each one,
// as Unrouted on the dead-letter topic.
func TestDeadLetterUnroutedIsCounted(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "jobs")
	var rec recorder
	mustSubscribe(t, b, RegisterFunc("jobs", func(context.Context, int) error { return Permanent(errBoom) }, bus.Name("worker")), Env{Observer: &rec})
	ctx := testCtx(t)
	for v := range 3 {
		err := top.PublishSync(ctx, v)
		if !errors.Is(err, ErrDeadLetterUnread) || !errors.Is(err, errBoom) {
			t.Errorf("PublishSync = %v, want an error matching ErrDeadLetterUnread and the handler's", err)
		}
		want := `handlers: "worker" failed; the message went to dead-letter topic "jobs.dead-letter", but nothing subscribes to it, so nobody will read it`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("PublishSync = %v, want it to say %q", err, want)
		}
	}
	var found bool
	for _, ts := range b.Stats().Topics {
		if ts.Name == "jobs.dead-letter" {
			found = true
			if ts.Published != 3 || ts.Unrouted != 3 || ts.Type != "handlers.DeadLetter[int]" {
				t.Errorf("dead-letter topic stats %+v, want 3 published, 3 unrouted, type handlers.DeadLetter[int]", ts)
			}
		}
	}
	if !found {
		t.Errorf("no stats for jobs.dead-letter in %+v", b.Stats().Topics)
	}
	if got, want := rec.fates(), []string{"dead-letter-unread", "dead-letter-unread", "dead-letter-unread"}; !slices.Equal(got, want) {
		t.Errorf("fates = %v, want %v", got, want)
	}
}

// With a subscriber on the dead-letter topic, a dead letter is read: its
// fate is dead-lettered and the error does not say that nobody reads it.
func TestDeadLetterRead(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "jobs")
	var rec recorder
	mustSubscribe(t, b, RegisterFunc("jobs", func(context.Context, int) error { return Permanent(errBoom) }, bus.Name("worker")), Env{Observer: &rec})
	dead, err := bus.Subscribe[DeadLetter[int]](testCtx(t), b, "jobs.dead-letter", bus.Buffer(4))
	if err != nil {
		t.Fatal(err)
	}
	err = top.PublishSync(testCtx(t), 7)
	if !errors.Is(err, errBoom) || errors.Is(err, ErrDeadLetterUnread) {
		t.Errorf("PublishSync = %v, want the handler's error, not ErrDeadLetterUnread", err)
	}
	if d := recv(t, dead.C); d.Value.Message != 7 || d.Value.Subscriber != "worker" {
		t.Errorf("dead letter %+v, want message 7 from worker", d.Value)
	}
	if got := rec.fates(); !slices.Equal(got, []string{"dead-lettered"}) {
		t.Errorf("fates = %v, want [dead-lettered]", got)
	}
	if c := rec.calls[0]; c.DeadLetterTopic != "jobs.dead-letter" || c.Outcome != OutcomeError {
		t.Errorf("call %+v, want outcome error and DeadLetterTopic jobs.dead-letter", c)
	}
}

// A pattern subscription dead-letters each message to its own topic's
// dead-letter topic, which it declares when first needed.
func TestDeadLetterPattern(t *testing.T) {
	b := newBus(t)
	created := mustTopic[order](t, b, "orders.created")
	paid := mustTopic[order](t, b, "orders.paid")
	mustSubscribe(t, b, RegisterFunc("orders.*", func(_ context.Context, o order) error {
		if o.ID == 2 {
			return Permanent(errBoom)
		}
		return nil
	}, bus.Name("watch")), Env{})
	dead, err := bus.Subscribe[DeadLetter[order]](context.Background(), b, "orders.*.dead-letter")
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	_ = created.PublishSync(ctx, order{ID: 1})
	_ = paid.PublishSync(ctx, order{ID: 2})
	_ = created.PublishSync(ctx, order{ID: 2})
	for _, want := range []string{"orders.paid", "orders.created"} {
		m := recv(t, dead.C)
		if m.Value.Topic != want || m.Topic != want+DeadLetterSuffix || m.Value.Message.ID != 2 {
			t.Errorf("dead letter %+v on %q, want message 2 of %q", m.Value, m.Topic, want)
		}
	}
}

func TestDeadLetterTopicOption(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "jobs")
	dead, err := bus.Subscribe[DeadLetter[int]](context.Background(), b, "failures")
	if err != nil {
		t.Fatal(err)
	}
	mustSubscribe(t, b, RegisterFunc("jobs", func(context.Context, int) error { return errBoom }, DeadLetterTopic("failures")), Env{})
	_ = top.PublishSync(testCtx(t), 5)
	if m := recv(t, dead.C); m.Value.Message != 5 || m.Value.Topic != "jobs" {
		t.Errorf("dead letter %+v, want message 5 of jobs", m.Value)
	}
}

// Dead letters of a handler that fails while the bus is closing still get
// out: the handler's context lets them through while the bus drains.
func TestDeadLetterWhileDraining(t *testing.T) {
	b := bus.New()
	top := mustTopic[int](t, b, "jobs")
	probe := mustTopic[int](t, b, "probe") // no subscribers: publishing only tells whether the bus is open
	dead, err := bus.Subscribe[DeadLetter[int]](context.Background(), b, "jobs.dead-letter")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 1)
	go func() { // a channel subscriber must read for the bus to drain
		n := 0
		for range dead.C {
			n++
		}
		got <- n
	}()
	release := make(chan struct{})
	started := make(chan struct{})
	mustSubscribe(t, b, RegisterFunc("jobs", func(context.Context, int) error {
		close(started)
		<-release
		return errBoom
	}), Env{})
	ctx := testCtx(t)
	if err := top.Publish(ctx, 1); err != nil {
		t.Fatal(err)
	}
	wait(t, started)
	closed := make(chan error, 1)
	go func() { closed <- b.Close(ctx) }()
	for probe.Publish(ctx, 0) == nil { // until Close has begun refusing outside publishes
		if ctx.Err() != nil {
			t.Fatal("the bus never started closing")
		}
		runtime.Gosched()
	}
	close(release)
	if err := recv(t, closed); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := recv(t, got); n != 1 {
		t.Errorf("%d dead letters got out while the bus drained, want 1", n)
	}
}

// A dead letter that cannot be published is reported, not hidden: the error
// says the message is lost and the call is not observed as dead-lettered.
func TestDeadLetterPublishFails(t *testing.T) {
	b := newBus(t)
	long := "x." + strings.Repeat("a", 250) // valid, but too long to take the suffix
	top := mustTopic[int](t, b, long)
	var rec recorder
	mustSubscribe(t, b, RegisterFunc("x.*", func(context.Context, int) error { return errBoom }), Env{Observer: &rec})
	err := top.PublishSync(testCtx(t), 1)
	var ne *bus.NameError
	if !errors.Is(err, errBoom) || !errors.As(err, &ne) || !strings.Contains(err.Error(), "so it is lost") {
		t.Fatalf("PublishSync: %v, want boom and a *bus.NameError for the dead-letter topic", err)
	}
	if got := rec.outcomes(); !slices.Equal(got, []string{"error"}) {
		t.Errorf("outcomes = %v, want [error]", got)
	}
	if Permanent(nil) != nil || IsPermanent(nil) || IsPermanent(errBoom) {
		t.Error("Permanent(nil) must be nil, and only Permanent errors permanent")
	}
}
