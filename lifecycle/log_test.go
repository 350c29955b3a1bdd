package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/observe"
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
	if f := got[0].ContextMap(); got[0].Level != zapcore.InfoLevel || f["subscriber"] != "a" || f["reason"] != "full" || f["suppressed"] != nil {
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

	clock.Add(defaultLogInterval - time.Nanosecond)
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
	g.flush()
	got = lines()
	if len(got) != 1 || got[0].Message != "fxbus: log lines suppressed by the rate limit" {
		t.Fatalf("Flush wrote %v", got)
	}
	if f := got[0].ContextMap(); f["event"] != "dropped" || f["subscriber"] != "a" || f["reason"] != "full" || f["suppressed"] != uint64(5) {
		t.Errorf("Flush line fields %v", f)
	}
	g.flush()
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
	call := func(o observe.Outcome, f observe.Fate, err error, attempt int) observe.Call {
		c := observe.Call{Ctx: ctx, Outcome: o, Fate: f, Err: err, Attempt: attempt}
		if f == observe.FateDeadLettered || f == observe.FateDeadLetterUnread || f == observe.FateDeadLetterFailed {
			c.DeadLetterTopic = "orders.dead-letter"
		}
		return c
	}
	const (
		panicked = "error fxbus: handler panicked"
		unread   = "error fxbus: dead letter that nobody reads: nothing subscribes to its topic, so the message is lost"
		lost     = "error fxbus: dead letter could not be published, so the message is lost"
		dead     = "warn fxbus: message dead-lettered"
		failed   = "warn fxbus: handler failed"
	)
	for _, tc := range []struct {
		name string
		call observe.Call
		want []string // level and message of each line
	}{
		{"ok", call(observe.OutcomeOK, observe.FateHandled, nil, 1), nil},
		{"retried", call(observe.OutcomeError, observe.FateRetried, plain, 1), nil},
		{"panic retried", call(observe.OutcomePanic, observe.FateRetried, panicErr, 1), []string{panicked}},
		{"panic discarded", call(observe.OutcomePanic, observe.FateDiscarded, panicErr, 1), []string{panicked}},
		{"panic dead-lettered", call(observe.OutcomePanic, observe.FateDeadLettered, panicErr, 3), []string{panicked}},
		{"panic unread", call(observe.OutcomePanic, observe.FateDeadLetterUnread, panicErr, 1), []string{panicked, unread}},
		// A handler that returns the error of a PublishSync whose handler
		// panicked did not panic itself.
		{"nested panic", call(observe.OutcomeError, observe.FateDiscarded, fmt.Errorf("publish: %w", panicErr), 1), []string{failed}},
		{"dead-lettered", call(observe.OutcomeError, observe.FateDeadLettered, plain, 2), []string{dead}},
		{"unread", call(observe.OutcomeError, observe.FateDeadLetterUnread, plain, 2), []string{unread}},
		{"dead letter failed", call(observe.OutcomeTimeout, observe.FateDeadLetterFailed, handlers.ErrTimeout, 1), []string{lost}},
		{"error", call(observe.OutcomeError, observe.FateDiscarded, plain, 1), []string{failed}},
		{"timeout", call(observe.OutcomeTimeout, observe.FateDiscarded, handlers.ErrTimeout, 1), []string{failed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, logs, _ := newTestLog(zapcore.DebugLevel)
			g.observer().Bind("orders", "saver").Observe(tc.call)
			var got []string
			for _, e := range logs.AllUntimed() {
				got = append(got, e.Level.String()+" "+e.Message)
				f := e.ContextMap()
				if f["correlation_id"] != id.String() || f["topic"] != "orders" || f["subscriber"] != "saver" ||
					f["outcome"] != tc.call.Outcome.String() || f["then"] != tc.call.Fate.String() ||
					f["attempt"] != int64(tc.call.Attempt) || f["error"] != tc.call.Err.Error() ||
					f["dead_letter_topic"] != nilIfEmpty(tc.call.DeadLetterTopic) {
					t.Errorf("%q: fields %v", e.Message, f)
				}
				if _, ok := f["stack"]; ok {
					t.Errorf("%q: a stack field: the stack goes in the entry's stack trace", e.Message)
				}
				if want := e.Message == "fxbus: handler panicked"; want != strings.Contains(e.Stack, "goroutine 1") {
					t.Errorf("%q: stack %q", e.Message, e.Stack)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lines %q, want %q", got, tc.want)
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// With a logger that adds stack traces to errors (zap.NewProduction does),
// a panic's line carries the panic's stack, once, and not the logger's own.
func TestLogPanicStackOnce(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	g := NewLog(zap.New(core, zap.AddStacktrace(zapcore.ErrorLevel)))
	pe := &bus.PanicError{Value: "boom", Stack: []byte("goroutine 7 [running]:\nshop.(*Saver).Handle()\n\tsaver.go:12")}
	g.observer().Bind("orders", "saver").Observe(observe.Call{
		Ctx: context.Background(), Outcome: observe.OutcomePanic, Fate: observe.FateDiscarded, Err: pe, Attempt: 1})
	got := logs.AllUntimed()
	if len(got) != 1 {
		t.Fatalf("%d lines, want 1", len(got))
	}
	if got[0].Stack != string(pe.Stack) {
		t.Errorf("stack trace:\n%s\nwant the panic's:\n%s", got[0].Stack, pe.Stack)
	}
	if len(got[0].Context) != len(got[0].ContextMap()) || got[0].ContextMap()["stack"] != nil {
		t.Errorf("fields %v: the stack must not be a field too", got[0].ContextMap())
	}
}

// Drops that the subscriber's policy makes are the policy working: info,
// at most a line per interval. Other drops are losses: warn.
func TestLogDropLevels(t *testing.T) {
	for _, tc := range []struct {
		reason bus.DropReason
		level  zapcore.Level
	}{
		{bus.ReasonFull, zapcore.InfoLevel},
		{bus.ReasonEvicted, zapcore.InfoLevel},
		{bus.ReasonTimeout, zapcore.InfoLevel},
		{bus.ReasonCanceled, zapcore.WarnLevel},
		{bus.ReasonUnsubscribed, zapcore.WarnLevel},
		{bus.ReasonDisconnect, zapcore.WarnLevel},
	} {
		g, logs, _ := newTestLog(zapcore.DebugLevel)
		for range 10 {
			g.Hooks().Dropped(bus.DropEvent{Topic: "prices", Pattern: "prices", Subscriber: "ticker", Reason: tc.reason})
		}
		got := logs.AllUntimed()
		if len(got) != 1 || got[0].Level != tc.level {
			t.Errorf("%v: %d lines at %v, want 1 at %v", tc.reason, len(got), levelOf(got), tc.level)
		}
	}
}

func levelOf(es []observer.LoggedEntry) string {
	if len(es) == 0 {
		return "none"
	}
	return es[0].Level.String()
}

// A message that no subscription receives on a topic that handlers are
// registered for is logged, and the line says whether it came before they
// were subscribed; other topics' unrouted messages are not.
func TestLogUnrouted(t *testing.T) {
	g, logs, clock := newTestLog(zapcore.DebugLevel)
	g.watch([]string{"orders.placed", "jobs"})
	h := g.Hooks()
	for range 3 {
		h.Unrouted("orders.placed")
	}
	h.Unrouted("metrics.tick")
	got := logs.TakeAll()
	if len(got) != 1 || got[0].Level != zapcore.WarnLevel || !strings.Contains(got[0].Message, "before the handlers were subscribed") ||
		got[0].ContextMap()["topic"] != "orders.placed" {
		t.Fatalf("before the start: %v, want one warning for orders.placed that says it came before the handlers", got)
	}
	g.setSubscribed(true)
	clock.Add(defaultLogInterval)
	h.Unrouted("orders.placed")
	got = logs.TakeAll()
	if len(got) != 1 || !strings.Contains(got[0].Message, "their subscriptions have ended") || got[0].ContextMap()["suppressed"] != uint64(2) {
		t.Fatalf("after the start: %v, want one warning with suppressed=2", got)
	}
	g.watch(nil)
	h.Unrouted("jobs")
	if got := logs.TakeAll(); len(got) != 0 {
		t.Errorf("after Watch(nil): %v, want nothing", got)
	}
}

func TestLogObserverRateLimit(t *testing.T) {
	g, logs, clock := newTestLog(zapcore.DebugLevel)
	obs := g.observer().Bind("orders", "saver")
	call := observe.Call{Ctx: context.Background(), Outcome: observe.OutcomePanic, Fate: observe.FateRetried, Err: &bus.PanicError{Value: 1}, Attempt: 1}
	for range 50 {
		obs.Observe(call)
	}
	clock.Add(defaultLogInterval)
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
	obs := g.observer().Bind("orders.*", "h")
	sub, err := bus.Handle(ctx, b, "orders.*", func(ctx context.Context, v int) error {
		obs.Observe(observe.Call{Ctx: ctx, Outcome: observe.OutcomeError, Fate: observe.FateDiscarded, Err: errors.New("x"), Attempt: 1})
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
		if o := g.observer(); o != nil {
			t.Errorf("%s: Observer is %v, want nil", name, o)
		}
		if g.logger() == nil {
			t.Errorf("%s: nil Logger", name)
		}
		g.flush()
	}
	// A logger at error level still gets panics, not drops.
	g, logs, _ := newTestLog(zapcore.ErrorLevel)
	g.Hooks().Dropped(bus.DropEvent{Topic: "t", Pattern: "t", Subscriber: "s", Reason: bus.ReasonFull})
	g.observer().Bind("t", "s").Observe(observe.Call{Ctx: context.Background(), Outcome: observe.OutcomePanic, Err: &bus.PanicError{}, Attempt: 1})
	if got := logs.AllUntimed(); len(got) != 1 || got[0].Level != zapcore.ErrorLevel {
		t.Errorf("at error level: %v", got)
	}
}

type recordingObserver struct {
	name  string
	calls *[]string
}

func (o recordingObserver) Bind(topic, sub string) observe.CallObserver {
	*o.calls = append(*o.calls, o.name+" bind "+topic+"/"+sub)
	return recordingCall(o)
}

type recordingCall recordingObserver

func (o recordingCall) Observe(c observe.Call) {
	*o.calls = append(*o.calls, o.name+" "+c.Outcome.String())
}
