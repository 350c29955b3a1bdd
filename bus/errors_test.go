package bus

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type otherEvent struct{ N int }

// TestSubscribeErrors feeds Subscribe and Handle bad input: each gets an
// error that says what is wrong, never a panic, and leaves nothing behind.
func TestSubscribeErrors(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	handler := func(context.Context, int) error { return nil }
	tests := []struct {
		name    string
		ctx     context.Context
		pattern string
		opts    []SubscribeOption
		handle  bool // subscribe with Handle instead of Subscribe
		want    string
	}{
		{name: "empty pattern", pattern: "", want: `invalid pattern "": it is empty`},
		{name: "bad pattern", pattern: "a.>.b", want: `invalid pattern "a.>.b": '>' must be the last token`},
		{name: "bad token", pattern: "a.b c", want: `invalid pattern "a.b c": token 2 ("b c") contains ' '`},
		{name: "buffer zero", opts: []SubscribeOption{Buffer(0)}, want: "buffer 0: must be at least 1"},
		{name: "buffer negative", opts: []SubscribeOption{Buffer(-5)}, want: "buffer -5: must be at least 1"},
		{name: "disconnect zero", opts: []SubscribeOption{WithPolicy(DisconnectAfter(0))}, want: "disconnect:0"},
		{name: "block-for negative", opts: []SubscribeOption{WithPolicy(BlockFor(-time.Second))}, want: "must be positive"},
		{name: "unknown policy", opts: []SubscribeOption{WithPolicy(Policy{kind: 42})}, want: "unknown policy"},
		{name: "empty name", opts: []SubscribeOption{Name("")}, want: "empty subscription name"},
		{name: "nil option", opts: []SubscribeOption{nil}, want: "nil SubscribeOption"},
		{name: "nil ctx", ctx: nilCtx(), want: "nil context"},
		{name: "nil ctx handler", ctx: nilCtx(), handle: true, want: "nil context"},
		{name: "ended ctx", ctx: ended, want: "context that has already ended"},
		{name: "concurrency on channel", opts: []SubscribeOption{Concurrency(2)}, want: "Concurrency only applies to handlers"},
		{name: "concurrency zero", opts: []SubscribeOption{Concurrency(0)}, handle: true, want: "concurrency 0: must be at least 1"},
		{name: "ordering key without group", opts: []SubscribeOption{OrderingKey(func(int) string { return "" })}, want: "add the QueueGroup option"},
		{name: "ordering key of another type", opts: []SubscribeOption{QueueGroup("g"), OrderingKey(func(string) string { return "" })}, want: "OrderingKey takes a func(string) string, but the subscription carries int"},
		{name: "ordering key nil", opts: []SubscribeOption{QueueGroup("g"), OrderingKey[int](nil)}, want: "OrderingKey: nil function"},
		{name: "on drop of another type", opts: []SubscribeOption{OnDrop(func(Message[string], DropReason) {})}, want: "OnDrop takes a func(bus.Message[string], bus.DropReason), but the subscription carries int"},
		{name: "on drop nil", opts: []SubscribeOption{OnDrop[int](nil)}, want: "OnDrop: nil function"},
		{name: "empty group", opts: []SubscribeOption{QueueGroup("")}, want: "queue group"},
		{name: "bad group", opts: []SubscribeOption{QueueGroup("a b")}, want: `queue group: bus: invalid topic name "a b"`},
		{name: "type conflict", pattern: "conflict", want: `topic "conflict" carries string, not int`},
		{name: "type conflict handler", pattern: "conflict", handle: true, want: `topic "conflict" carries string, not int`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBus(t)
			mustTopic[string](t, b, "conflict")
			ctx := context.Background()
			if tt.ctx != nil || strings.HasPrefix(tt.name, "nil ctx") {
				ctx = tt.ctx
			}
			pattern := tt.pattern
			if pattern == "" && !strings.Contains(tt.name, "pattern") {
				pattern = "errors.test"
			}
			var (
				s   *Subscription[int]
				err error
			)
			if tt.handle {
				s, err = Handle(ctx, b, pattern, handler, tt.opts...)
			} else {
				s, err = Subscribe[int](ctx, b, pattern, tt.opts...)
			}
			if err == nil {
				t.Fatalf("no error; want one saying %q", tt.want)
			}
			if s != nil {
				t.Errorf("got a subscription with the error %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			st := b.Stats()
			if len(st.Subscriptions) != 0 {
				t.Errorf("a failed subscribe left %+v", st.Subscriptions)
			}
			if len(st.Topics) != 1 {
				t.Errorf("a failed subscribe declared topics: %+v", st.Topics)
			}
		})
	}
}

// nilCtx hides a nil context from vet.
func nilCtx() context.Context { return nil }

func TestTypeError(t *testing.T) {
	b := newBus(t)
	if _, err := NewTopic[int](b, "orders.created"); err != nil {
		t.Fatal(err)
	}
	again, err := NewTopic[int](b, "orders.created")
	if err != nil || again == nil {
		t.Fatalf("same name and type again: %v", err)
	}
	first, _ := NewTopic[int](b, "orders.created")
	if first != again {
		t.Error("NewTopic with the same name and type returned another topic")
	}
	_, err = NewTopic[otherEvent](b, "orders.created")
	var te *TypeError
	if !errors.As(err, &te) {
		t.Fatalf("got %v (%T), want a *TypeError", err, err)
	}
	if te.Topic != "orders.created" || te.Have != "int" || te.Want != "bus.otherEvent" {
		t.Errorf("TypeError %+v", te)
	}
	for _, want := range []string{`"orders.created"`, "int", "bus.otherEvent"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %s", err, want)
		}
	}
	if _, err := Subscribe[otherEvent](context.Background(), b, "orders.created"); !errors.As(err, &te) {
		t.Errorf("Subscribe with another type: %v, want a *TypeError", err)
	}
}

func TestNewTopicInvalidName(t *testing.T) {
	b := newBus(t)
	for _, name := range []string{"", "a..b", "a.*", "a.>", "a b", strings.Repeat("x", 300)} {
		_, err := NewTopic[int](b, name)
		var ne *NameError
		if !errors.As(err, &ne) || ne.Name != name || ne.Pattern {
			t.Errorf("NewTopic(%q): %v, want a *NameError for a topic name", name, err)
		}
	}
	if n := len(b.Stats().Topics); n != 0 {
		t.Errorf("invalid names declared %d topics", n)
	}
}

func TestHandleNilFunction(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "nil.handler")
	if _, err := top.Handle(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "nil handler") {
		t.Errorf("Topic.Handle(nil): %v", err)
	}
	if _, err := Handle[int](context.Background(), b, "nil.handler", nil); err == nil || !strings.Contains(err.Error(), "nil handler") {
		t.Errorf("Handle(nil): %v", err)
	}
}

func TestDuplicateName(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "dup")
	s := mustSub(t, top, Name("audit"))
	_, err := top.Subscribe(context.Background(), Name("audit"))
	if err == nil || !strings.Contains(err.Error(), `a subscription named "audit" already exists on "dup"`) {
		t.Fatalf("second subscription named audit: %v", err)
	}
	_, err = top.Handle(context.Background(), func(context.Context, int) error { return nil }, Name("audit"))
	if err == nil {
		t.Fatal("handler with a taken name: no error")
	}
	// The same name on another pattern is fine, and so is reusing a name
	// once its subscription has ended.
	if _, err := Subscribe[int](context.Background(), b, "dup2", Name("audit")); err != nil {
		t.Errorf("same name on another topic: %v", err)
	}
	if _, err := Subscribe[int](context.Background(), b, "*", Name("audit")); err != nil {
		t.Errorf("same name on a pattern: %v", err)
	}
	s.Close()
	waitDone(t, s)
	if _, err := top.Subscribe(context.Background(), Name("audit")); err != nil {
		t.Errorf("name of an ended subscription: %v", err)
	}
}

// TestAfterClose: once the bus is closed, everything returns ErrClosed, and
// nothing hangs (users hit deadlocks subscribing to a closed bus).
func TestAfterClose(t *testing.T) {
	b := New()
	top := mustTopic[int](t, b, "after.close")
	if err := b.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	checks := map[string]error{}
	_, checks["NewTopic"] = NewTopic[int](b, "after.close2")
	_, checks["Subscribe"] = Subscribe[int](ctx, b, "after.close")
	_, checks["Topic.Subscribe"] = top.Subscribe(ctx)
	_, checks["Handle"] = Handle(ctx, b, "after.>", func(context.Context, int) error { return nil })
	_, checks["Topic.Handle"] = top.Handle(ctx, func(context.Context, int) error { return nil })
	checks["Publish"] = top.Publish(ctx, 1)
	checks["PublishSync"] = top.PublishSync(ctx, 1)
	for what, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", what, err)
		}
	}
	if err := b.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Errorf("WaitIdle after Close: %v", err)
	}
}

// TestNilContextPublish: a nil context is bad input; it must give an error
// or be treated as no deadline, never a panic, also when the publisher would
// have to wait.
func TestNilContextPublish(t *testing.T) {
	for _, sync := range []bool{false, true} {
		b := newBus(t)
		top := mustTopic[int](t, b, "nil.ctx")
		s := mustSub(t, top, Buffer(1), Name("s"))
		mustPublish(t, top, 1) // the channel is full now
		publish := top.Publish
		if sync {
			publish = top.PublishSync
		}
		err := catchPanic(func() error { return publish(nilCtx(), 2) })
		var pe *PanicError
		if errors.As(err, &pe) {
			t.Fatalf("sync=%v: Publish with a nil context panicked: %v", sync, pe.Value)
		}
		if err == nil {
			t.Fatalf("sync=%v: Publish with a nil context: no error", sync)
		}
		drained(s)
	}
}

// catchPanic runs f and turns a panic into a *PanicError.
func catchPanic(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r}
		}
	}()
	return f()
}

// TestNilBusAndContext: a nil *Bus or a nil context is an error, and a
// refused Close leaves the bus as it was, so that a later Close works.
func TestNilBusAndContext(t *testing.T) {
	if _, err := NewTopic[int](nil, "x"); err == nil || !strings.Contains(err.Error(), "nil *Bus") {
		t.Errorf("NewTopic(nil bus): %v", err)
	}
	if _, err := Subscribe[int](context.Background(), nil, "x"); err == nil || !strings.Contains(err.Error(), "nil *Bus") {
		t.Errorf("Subscribe(nil bus): %v", err)
	}
	if _, err := Handle(context.Background(), nil, "x", namedHandler); err == nil || !strings.Contains(err.Error(), "nil *Bus") {
		t.Errorf("Handle(nil bus): %v", err)
	}
	b := New()
	top := mustTopic[int](t, b, "nil.ctx")
	s := mustSub(t, top)
	mustPublish(t, top, 1) // the bus is not idle
	for name, f := range map[string]func() error{
		"WaitIdle": func() error { return b.WaitIdle(nilCtx()) },
		"Close":    func() error { return b.Close(nilCtx()) },
	} {
		err := catchPanic(f)
		var pe *PanicError
		if err == nil || errors.As(err, &pe) || !strings.Contains(err.Error(), "nil context") {
			t.Errorf("%s(nil): %v", name, err)
		}
	}
	if err := top.Publish(testCtx(t), 2); err != nil {
		t.Errorf("Publish after a refused Close: %v", err)
	}
	go func() {
		for range s.C {
		}
	}()
	if err := b.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(s.Err(), ErrClosed) {
		t.Errorf("Err() after Close = %v", s.Err())
	}
}
