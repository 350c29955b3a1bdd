package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// fakeClock is the time a Log reads, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestLog(level zapcore.Level) (*Log, *observer.ObservedLogs, *fakeClock) {
	core, logs := observer.New(level)
	g := NewLog(zap.New(core))
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	g.now = clock.Now
	return g, logs, clock
}

func TestLogRateLimit(t *testing.T) {
	g, logs, clock := newTestLog(zapcore.DebugLevel)
	h := g.Hooks()
	drop := func(sub string, r bus.DropReason) {
		h.Dropped(bus.DropEvent{Topic: "jobs", Pattern: "jobs", Subscriber: sub, Reason: r})
	}
	lines := func() []observer.LoggedEntry { return logs.TakeAll() }

	for range 100 {
		drop("a", bus.ReasonFull)
	}
	got := lines()
	if len(got) != 1 {
		t.Fatalf("100 drops in one interval wrote %d lines, want 1", len(got))
	}
	if f := got[0].ContextMap(); got[0].Level != zapcore.WarnLevel || f["subscriber"] != "a" || f["reason"] != "full" || f["suppressed"] != nil {
		t.Errorf("first line: %v %v", got[0].Level, f)
	}

	// Other subscribers and other reasons have limits of their own.
	drop("b", bus.ReasonFull)
	drop("a", bus.ReasonTimeout)
	if n := len(lines()); n != 2 {
		t.Errorf("a drop for another subscriber and one for another reason wrote %d lines, want 2", n)
	}

	// Shutdown drops are reported by Stop, per subscriber, not one by one.
	drop("a", bus.ReasonShutdown)
	if n := len(lines()); n != 0 {
		t.Errorf("a shutdown drop wrote %d lines, want 0", n)
	}

	clock.Add(DefaultLogInterval - time.Nanosecond)
	drop("a", bus.ReasonFull)
	if n := len(lines()); n != 0 {
		t.Errorf("a drop before the interval ended wrote %d lines", n)
	}
	clock.Add(time.Nanosecond)
	drop("a", bus.ReasonFull)
	got = lines()
	if len(got) != 1 || got[0].ContextMap()["suppressed"] != uint64(100) {
		t.Fatalf("the first line of the next interval: %v, want suppressed=100", got)
	}

	for range 5 {
		drop("a", bus.ReasonFull)
	}
	g.Flush()
	got = lines()
	if len(got) != 1 || got[0].Message != "fxbus: log lines suppressed by the rate limit" {
		t.Fatalf("Flush wrote %v", got)
	}
	if f := got[0].ContextMap(); f["event"] != "dropped" || f["subscriber"] != "a" || f["reason"] != "full" || f["suppressed"] != uint64(5) {
		t.Errorf("Flush line fields %v", f)
	}
	g.Flush()
	if n := len(lines()); n != 0 {
		t.Errorf("a second Flush wrote %d lines", n)
	}
}

func TestLogEnded(t *testing.T) {
	g, logs, _ := newTestLog(zapcore.DebugLevel)
	h := g.Hooks()
	h.Ended(bus.EndEvent{Pattern: "jobs", Subscriber: "a", Err: bus.ErrDisconnected})
	h.Ended(bus.EndEvent{Pattern: "jobs", Subscriber: "a", Err: bus.ErrDisconnected})
	h.Ended(bus.EndEvent{Pattern: "jobs", Subscriber: "b", Err: bus.ErrClosed})
	got := logs.AllUntimed()
	if len(got) != 2 {
		t.Fatalf("got %d lines, want 2 (the second disconnect is held back): %v", len(got), got)
	}
	if got[0].Level != zapcore.WarnLevel || got[0].Message != "fxbus: subscriber disconnected" {
		t.Errorf("disconnect: %v %q", got[0].Level, got[0].Message)
	}
	if got[1].Level != zapcore.DebugLevel || got[1].ContextMap()["subscriber"] != "b" {
		t.Errorf("end at close: %v %v", got[1].Level, got[1].ContextMap())
	}
}

func TestLogObserver(t *testing.T) {
	id := bus.NewCorrelationID()
	ctx := bus.WithCorrelationID(context.Background(), id)
	panicErr := &bus.PanicError{Value: "boom", Stack: []byte("goroutine 1 [running]:\nmain.handler()")}
	plain := errors.New("no such order")
	for _, tc := range []struct {
		name    string
		call    handlers.Call
		level   zapcore.Level
		msg     string // "" for no line
		stack   bool
		outcome string
	}{
		{name: "ok", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeOK, Attempt: 1}},
		{name: "retried", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeRetried, Err: plain, Attempt: 1}},
		{name: "panic", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomePanic, Err: panicErr, Attempt: 1},
			level: zapcore.ErrorLevel, msg: "fxbus: handler panicked", stack: true, outcome: "panic"},
		{name: "panic dead-lettered", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeDeadLettered, Err: panicErr, Attempt: 3},
			level: zapcore.ErrorLevel, msg: "fxbus: handler panicked", stack: true, outcome: "dead-lettered"},
		// A handler that returns the error of a PublishSync whose handler
		// panicked did not panic itself.
		{name: "nested panic", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeError, Err: fmt.Errorf("publish: %w", panicErr), Attempt: 1},
			level: zapcore.WarnLevel, msg: "fxbus: handler failed", outcome: "error"},
		{name: "panic retried", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeRetried, Err: panicErr, Attempt: 1},
			level: zapcore.ErrorLevel, msg: "fxbus: handler panicked", stack: true, outcome: "retried"},
		{name: "dead-lettered", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeDeadLettered, Err: plain, Attempt: 2},
			level: zapcore.WarnLevel, msg: "fxbus: message dead-lettered", outcome: "dead-lettered"},
		{name: "error", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeError, Err: plain, Attempt: 1},
			level: zapcore.WarnLevel, msg: "fxbus: handler failed", outcome: "error"},
		{name: "timeout", call: handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeTimeout, Err: handlers.ErrTimeout, Attempt: 1},
			level: zapcore.WarnLevel, msg: "fxbus: handler failed", outcome: "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, logs, _ := newTestLog(zapcore.DebugLevel)
			g.Observer().Bind("orders", "saver").Observe(tc.call)
			got := logs.AllUntimed()
			if tc.msg == "" {
				if len(got) != 0 {
					t.Errorf("wrote %v, want nothing", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("wrote %d lines, want 1", len(got))
			}
			e, f := got[0], got[0].ContextMap()
			if e.Level != tc.level || e.Message != tc.msg {
				t.Errorf("line %v %q, want %v %q", e.Level, e.Message, tc.level, tc.msg)
			}
			if f["correlation_id"] != id.String() || f["topic"] != "orders" || f["subscriber"] != "saver" ||
				f["outcome"] != tc.outcome || f["attempt"] != int64(tc.call.Attempt) || f["error"] != tc.call.Err.Error() {
				t.Errorf("fields %v", f)
			}
			if st, _ := f["stack"].(string); tc.stack != strings.Contains(st, "goroutine 1") {
				t.Errorf("stack field %q, want stack: %v", st, tc.stack)
			}
		})
	}
}

func TestLogObserverRateLimit(t *testing.T) {
	g, logs, clock := newTestLog(zapcore.DebugLevel)
	obs := g.Observer().Bind("orders", "saver")
	call := handlers.Call{Ctx: context.Background(), Outcome: handlers.OutcomePanic, Err: &bus.PanicError{Value: 1}, Attempt: 1}
	for range 50 {
		obs.Observe(call)
	}
	clock.Add(DefaultLogInterval)
	obs.Observe(call)
	got := logs.AllUntimed()
	if len(got) != 2 || got[1].ContextMap()["suppressed"] != uint64(49) {
		t.Errorf("51 panics over two intervals wrote %v, want 2 lines, the second with suppressed=49", got)
	}
}

func TestLogTopicFromContext(t *testing.T) {
	// A handler of a pattern: the line names the message's topic and the
	// pattern. The handler context of a real bus carries the topic.
	g, logs, _ := newTestLog(zapcore.DebugLevel)
	b := bus.New()
	ctx := context.Background()
	top, err := bus.NewTopic[int](b, "orders.eu")
	if err != nil {
		t.Fatal(err)
	}
	obs := g.Observer().Bind("orders.*", "h")
	sub, err := bus.Handle(ctx, b, "orders.*", func(ctx context.Context, v int) error {
		obs.Observe(handlers.Call{Ctx: ctx, Outcome: handlers.OutcomeError, Err: errors.New("x"), Attempt: 1})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := top.PublishSync(ctx, 1); err != nil {
		t.Fatal(err)
	}
	sub.Close()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := logs.AllUntimed()
	if len(got) != 1 {
		t.Fatalf("got %v", got)
	}
	if f := got[0].ContextMap(); f["topic"] != "orders.eu" || f["pattern"] != "orders.*" {
		t.Errorf("fields %v", f)
	}
}

func TestLogNop(t *testing.T) {
	for name, g := range map[string]*Log{"nil logger": NewLog(nil), "nil Log": nil, "nop logger": NewLog(zap.NewNop())} {
		if h := g.Hooks(); h.Dropped != nil || h.Ended != nil {
			t.Errorf("%s: Hooks are set", name)
		}
		if o := g.Observer(); o != nil {
			t.Errorf("%s: Observer is %v, want nil", name, o)
		}
		if g.Logger() == nil {
			t.Errorf("%s: nil Logger", name)
		}
		g.Flush()
	}
	// A logger at error level still gets panics, not drops.
	g, logs, _ := newTestLog(zapcore.ErrorLevel)
	g.Hooks().Dropped(bus.DropEvent{Topic: "t", Pattern: "t", Subscriber: "s", Reason: bus.ReasonFull})
	g.Observer().Bind("t", "s").Observe(handlers.Call{Ctx: context.Background(), Outcome: handlers.OutcomePanic, Err: &bus.PanicError{}, Attempt: 1})
	if got := logs.AllUntimed(); len(got) != 1 || got[0].Level != zapcore.ErrorLevel {
		t.Errorf("at error level: %v", got)
	}
}

type recordingObserver struct {
	name  string
	calls *[]string
}

func (o recordingObserver) Bind(topic, sub string) handlers.CallObserver {
	*o.calls = append(*o.calls, o.name+" bind "+topic+"/"+sub)
	return recordingCall(o)
}

type recordingCall recordingObserver

func (o recordingCall) Observe(c handlers.Call) {
	*o.calls = append(*o.calls, o.name+" "+c.Outcome.String())
}

type nilBinder struct{}

func (nilBinder) Bind(string, string) handlers.CallObserver { return nil }

func TestObservers(t *testing.T) {
	var calls []string
	a, b := recordingObserver{"a", &calls}, recordingObserver{"b", &calls}
	if Observers() != nil || Observers(nil, nil) != nil {
		t.Error("Observers of nothing is not nil")
	}
	if o := Observers(nil, a); o != handlers.Observer(a) {
		t.Errorf("Observers(nil, a) = %v, want a itself", o)
	}
	Observers(a, nil, b).Bind("t", "s").Observe(handlers.Call{Outcome: handlers.OutcomeError})
	want := []string{"a bind t/s", "b bind t/s", "a error", "b error"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("calls %v, want %v", calls, want)
	}
	// An observer that binds to nothing is left out; with none left, the
	// result still observes (and does nothing).
	Observers(nilBinder{}, nilBinder{}).Bind("t", "s").Observe(handlers.Call{})
}
