package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/decl"
	"github.com/fxbus/fxbus/internal/observe"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// ends records the order in which a bus ends its subscriptions.
type ends struct {
	mu  sync.Mutex
	seq []string
}

func (e *ends) hooks() bus.Hooks {
	return bus.Hooks{Ended: func(ev bus.EndEvent) {
		e.mu.Lock()
		e.seq = append(e.seq, ev.Pattern+"/"+ev.Subscriber+": "+ev.Err.Error())
		e.mu.Unlock()
	}}
}

func (e *ends) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.seq)
}

func nop[T any](context.Context, T) error { return nil }

func TestRunnerOrder(t *testing.T) {
	var e ends
	b := bus.New(bus.WithHooks(e.hooks()))
	core, logs := observer.New(zapcore.DebugLevel)
	// Given in no particular order, as an fx value group gives them.
	regs := []handlers.Registration{
		handlers.RegisterFunc("b.x", nop[int], bus.Name("z")),
		handlers.RegisterFunc("a.x", nop[int], bus.Name("y")),
		handlers.RegisterFunc("a.>", nop[int], bus.Name("w")),
		handlers.RegisterFunc("a.x", nop[int], bus.Name("x")),
	}
	r := New(b, regs, Options{
		Log:    NewLog(zap.New(core)),
		Topics: []decl.Declaration{decl.Declare[int]("b.x"), decl.Declare[int]("a.x")},
	})
	ctx := testContext(t)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var subscribed []string
	for _, l := range logs.FilterMessage("fxbus: subscribed").All() {
		f := l.ContextMap()
		subscribed = append(subscribed, fmt.Sprint(f["topic"], "/", f["subscriber"]))
	}
	if want := []string{"a.>/w", "a.x/x", "a.x/y", "b.x/z"}; !slices.Equal(subscribed, want) {
		t.Errorf("subscribed %v, want %v", subscribed, want)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"b.x/z: bus: closed", "a.x/y: bus: closed", "a.x/x: bus: closed", "a.>/w: bus: closed"}
	if got := e.list(); !slices.Equal(got, want) {
		t.Errorf("ended %v, want the reverse of the subscription order %v", got, want)
	}
	if logs.FilterMessage("fxbus: bus stopped").Len() != 1 {
		t.Error("no stop line")
	}
	goleak.VerifyNone(t)
}

func TestRunnerStartFailureUndoes(t *testing.T) {
	var e ends
	b := bus.New(bus.WithHooks(e.hooks()))
	r := New(b, []handlers.Registration{
		handlers.RegisterFunc("b.strings", nop[int], bus.Name("second")),
		handlers.RegisterFunc("a.ints", nop[int], bus.Name("first")),
	}, Options{
		Topics: []decl.Declaration{decl.Declare[int]("a.ints"), decl.Declare[string]("b.strings")},
	})
	err := r.Start(testContext(t))
	if err == nil {
		t.Fatal("Start succeeded, want a type error")
	}
	var te *bus.TypeError
	if !errors.As(err, &te) || te.Topic != "b.strings" || !strings.Contains(err.Error(), `handler "second"`) {
		t.Errorf("Start = %v, want a *bus.TypeError that names handler \"second\"", err)
	}
	if got, want := e.list(), []string{"a.ints/first: bus: unsubscribed"}; !slices.Equal(got, want) {
		t.Errorf("ended %v, want %v", got, want)
	}
	if _, err := bus.NewTopic[int](b, "c"); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("the bus is still open after a failed start: %v", err)
	}
	goleak.VerifyNone(t)
}

func TestRunnerChecksBeforeSubscribing(t *testing.T) {
	var e ends
	b := bus.New(bus.WithHooks(e.hooks()))
	r := New(b, []handlers.Registration{
		handlers.RegisterFunc("declared", nop[int], bus.Name("ok")),
		handlers.RegisterFunc("nowhere", nop[int], bus.Name("lost")),
		handlers.RegisterFunc("nowhere.either", nop[string], bus.Name("lost2")),
		handlers.RegisterFunc("bad..name", nop[int], bus.Name("bad")),
		handlers.RegisterFunc("declared.dead-letter", nop[handlers.DeadLetter[int]], bus.Name("dead")),
		handlers.RegisterFunc("any.*", nop[int], bus.Name("wild")),
		handlers.RegisterFunc[int]("declared", nil, bus.Name("nil")),
		{},
	}, Options{Topics: []decl.Declaration{decl.Declare[int]("declared"), {}}})
	err := r.Start(testContext(t))
	if err == nil {
		t.Fatal("Start succeeded")
	}
	for _, want := range []string{
		`handler "lost" for "nowhere"`, `add fxbus.Topic[int]("nowhere")`,
		`handler "lost2" for "nowhere.either"`, `add fxbus.Topic[string]("nowhere.either")`,
		`handler "bad" for "bad..name"`, `invalid pattern "bad..name"`,
		"a zero Declaration",
		`handler "nil" for "declared"`, "the handler is nil",
		"zero Registration",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
	for _, exempt := range []string{`"dead"`, `"wild"`, `"ok"`} {
		if strings.Contains(err.Error(), exempt) {
			t.Errorf("error %q names handler %s", err, exempt)
		}
	}
	if got := e.list(); len(got) != 0 {
		t.Errorf("subscriptions were made before the check failed: %v", got)
	}
	goleak.VerifyNone(t)
}

func TestRunnerDeclarationConflict(t *testing.T) {
	b := bus.New()
	r := New(b, nil, Options{Topics: []decl.Declaration{decl.Declare[string]("t"), decl.Declare[int]("t")}})
	err := r.Start(testContext(t))
	var te *bus.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("Start = %v, want a *bus.TypeError", err)
	}
	// Declarations are sorted by name, then type: int comes first.
	for _, want := range []string{`lifecycle: fxbus.Topic[string]("t"): bus: topic "t" carries int, not string`, `(the topic was declared first by fxbus.Topic[int]("t"))`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\ndoes not contain %q", err, want)
		}
	}
	if d := decl.Declare[int]("t"); d.Name() != "t" || d.Type().String() != "int" || d.String() != `fxbus.Topic[int]("t")` || d.Source() != "" {
		t.Errorf("Declaration accessors: %q %v %q %q", d.Name(), d.Type(), d, d.Source())
	}
	if d := decl.Declare[int]("t").WithSource("app.main (main.go:7)"); d.Source() != "app.main (main.go:7)" || d.String() != `fxbus.Topic[int]("t") in app.main (main.go:7)` {
		t.Errorf("Declaration with a source: %q %q", d.Source(), d)
	}
}

func TestRunnerNilBus(t *testing.T) {
	r := New(nil, nil, Options{})
	ctx := testContext(t)
	for name, err := range map[string]error{"Start": r.Start(ctx), "Stop": r.Stop(ctx)} {
		if err == nil || !strings.Contains(err.Error(), "nil *bus.Bus") {
			t.Errorf("%s with a nil bus = %v", name, err)
		}
	}
}

func TestRunnerStartTwice(t *testing.T) {
	r := New(bus.New(), nil, Options{})
	ctx := testContext(t)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err == nil || !strings.Contains(err.Error(), "Start called twice") {
		t.Errorf("second Start = %v", err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRunnerHook runs the hook in an fx lifecycle, appended the way
// fxbus.Module does: after what the handlers depend on, before the
// components that publish. The chain a -> b -> c drains before the
// dependency stops.
func TestRunnerHook(t *testing.T) {
	const n = 100
	lc := fxtest.NewLifecycle(t)
	var (
		order    []string
		received atomic.Int64
		atDep    int64
	)
	// The dependency, built first.
	lc.Append(fx.StopHook(func() { order = append(order, "dependency"); atDep = received.Load() }))

	b := bus.New()
	a, err := bus.NewTopic[int](b, "a")
	if err != nil {
		t.Fatal(err)
	}
	bt, _ := bus.NewTopic[string](b, "b")
	ct, _ := bus.NewTopic[float64](b, "c")
	gate := make(chan struct{})
	regs := []handlers.Registration{
		handlers.RegisterFunc("a", func(ctx context.Context, v int) error {
			select {
			case <-gate:
			case <-ctx.Done():
				return ctx.Err()
			}
			return bt.Publish(ctx, fmt.Sprint(v))
		}, bus.Name("a")),
		handlers.RegisterFunc("b", func(ctx context.Context, v string) error { return ct.Publish(ctx, 1) }, bus.Name("b")),
		handlers.RegisterFunc("c", func(ctx context.Context, v float64) error { received.Add(1); return nil }, bus.Name("c")),
	}
	core, logs := observer.New(zapcore.DebugLevel)
	r := New(b, regs, Options{Log: NewLog(zap.New(core))})
	lc.Append(fx.Hook{OnStart: r.Start, OnStop: r.Stop})
	// The publisher, built after.
	lc.Append(fx.StopHook(func() { order = append(order, "publisher"); close(gate) }))

	lc.RequireStart()
	ctx := testContext(t)
	for i := range n {
		if err := a.Publish(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	lc.RequireStop()
	if logs.FilterMessage("fxbus: bus stopped").Len() == 1 {
		order = slices.Insert(order, 1, "bus")
	}
	if want := []string{"publisher", "bus", "dependency"}; !slices.Equal(order, want) {
		t.Errorf("stop order %v, want %v", order, want)
	}
	if atDep != n {
		t.Errorf("c had received %d of %d messages when the dependency stopped", atDep, n)
	}
	if err := a.Publish(ctx, 0); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Stop = %v, want bus.ErrClosed", err)
	}
	goleak.VerifyNone(t)
}

// TestRunnerObservers checks the Env the handlers get: the Log's observer
// logs a panic with the correlation ID, and Options.Observer sees the call.
func TestRunnerObservers(t *testing.T) {
	b := bus.New()
	core, logs := observer.New(zapcore.DebugLevel)
	var calls []string
	var mu sync.Mutex
	rec := lockedObserver{mu: &mu, inner: recordingObserver{"user", &calls}}
	r := New(b, []handlers.Registration{
		handlers.RegisterFunc("boom", func(context.Context, int) error { panic("kaboom") }, bus.Name("panicky")),
	}, Options{
		Log:      NewLog(zap.New(core)),
		Observer: rec,
		Topics:   []decl.Declaration{decl.Declare[int]("boom")},
	})
	ctx := testContext(t)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	top, _ := bus.NewTopic[int](b, "boom")
	id := bus.NewCorrelationID()
	err := top.PublishSync(bus.WithCorrelationID(ctx, id), 1)
	var pe *bus.PanicError
	if !errors.As(err, &pe) {
		t.Errorf("PublishSync = %v, want a *bus.PanicError", err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	lines := logs.FilterMessage("fxbus: handler panicked").All()
	if len(lines) != 1 {
		t.Fatalf("%d panic lines, want 1: %v", len(lines), logs.All())
	}
	if f := lines[0].ContextMap(); lines[0].Level != zapcore.ErrorLevel || f["correlation_id"] != id.String() || f["subscriber"] != "panicky" {
		t.Errorf("panic line %v %v", lines[0].Level, f)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[0] != "user bind boom/panicky" {
		t.Errorf("Options.Observer saw %v, want a bind and one call", calls)
	}
	goleak.VerifyNone(t)
}

type lockedObserver struct {
	mu    *sync.Mutex
	inner observe.Observer
}

func (o lockedObserver) Bind(topic, sub string) observe.CallObserver {
	o.mu.Lock()
	defer o.mu.Unlock()
	return lockedCall{o.mu, o.inner.Bind(topic, sub)}
}

type lockedCall struct {
	mu    *sync.Mutex
	inner observe.CallObserver
}

func (c lockedCall) Observe(call observe.Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inner.Observe(call)
}

// TestRunnerStopDeadline: a handler that honours its context, a drain cut
// short, and the report. Which of the queued messages the bus drops and
// which it hands to the handler after cancelling its context is the bus's
// business; every one of them must be accounted for.
func TestRunnerStopDeadline(t *testing.T) {
	b := bus.New(bus.KillGrace(time.Second))
	core, logs := observer.New(zapcore.DebugLevel)
	started := make(chan struct{}, 1)
	var afterKill atomic.Int64
	r := New(b, []handlers.Registration{
		handlers.RegisterFunc("jobs", func(ctx context.Context, v int) error {
			if ctx.Err() != nil {
				afterKill.Add(1)
				return ctx.Err()
			}
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}, bus.Name("slow"), handlers.NoDeadLetters()),
	}, Options{Log: NewLog(zap.New(core)), Topics: []decl.Declaration{decl.Declare[int]("jobs")}, DrainTimeout: 50 * time.Millisecond})
	ctx := testContext(t)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	top, _ := bus.NewTopic[int](b, "jobs")
	for i := range 4 {
		if err := top.Publish(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	err := r.Stop(ctx)
	var se *bus.ShutdownError
	if !errors.As(err, &se) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v, want a *bus.ShutdownError for the drain deadline", err)
	}
	var lost uint64
	for _, l := range se.Leftovers {
		if l.Topic != "jobs" || l.Subscriber != "slow" || l.Running {
			t.Errorf("leftover %+v", l)
		}
		lost += l.Count
	}
	if got := lost + uint64(afterKill.Load()); got != 3 {
		t.Errorf("%d dropped + %d handled after the deadline = %d, want the 3 queued", lost, afterKill.Load(), got)
	}
	if lost > 0 && logs.FilterMessage("fxbus: messages left undelivered at shutdown").FilterLevelExact(zapcore.ErrorLevel).Len() != 1 {
		t.Errorf("no error line for the leftovers: %v", logs.All())
	}
	goleak.VerifyNone(t)
}

func TestDrainContext(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name     string
		drain    time.Duration
		kill     time.Duration
		deadline time.Duration // from now; 0: none
		want     time.Duration // from now; 0: no deadline of its own
	}{
		{name: "nothing"},
		{name: "DrainTimeout", drain: 3 * time.Second, want: 3 * time.Second},
		{name: "fx default", deadline: 15 * time.Second, want: 15*time.Second - (time.Second + 1500*time.Millisecond)},
		{name: "short deadline", deadline: 100 * time.Millisecond, want: 50 * time.Millisecond},
		{name: "small KillGrace", kill: 10 * time.Millisecond, deadline: time.Second, want: time.Second - 110*time.Millisecond},
		{name: "DrainTimeout first", drain: time.Second, deadline: 15 * time.Second, want: time.Second},
		{name: "deadline first", drain: 20 * time.Second, deadline: 15 * time.Second, want: 15*time.Second - 2500*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []bus.Option
			if tc.kill > 0 {
				opts = append(opts, bus.KillGrace(tc.kill))
			}
			r := New(bus.New(opts...), nil, Options{DrainTimeout: tc.drain})
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tc.deadline))
				defer cancel()
			}
			dctx, cancel := r.drainContext(ctx, now)
			defer cancel()
			dl, ok := dctx.Deadline()
			switch {
			case tc.want == 0 && ok:
				t.Errorf("drain deadline %v from now, want none", dl.Sub(now))
			case tc.want != 0 && (!ok || dl.Sub(now) != tc.want):
				t.Errorf("drain deadline %v from now (set: %v), want %v", dl.Sub(now), ok, tc.want)
			}
		})
	}
}

// Options.Wait replaces the wait between a handler's attempts.
func TestRunnerWait(t *testing.T) {
	b := bus.New()
	var waits atomic.Int32
	r := New(b, []handlers.Registration{handlers.RegisterFunc("jobs", func(context.Context, int) error { return errors.New("no") },
		handlers.Retry(3, handlers.Backoff(time.Hour, time.Hour)), handlers.NoDeadLetters())}, Options{
		Topics: []decl.Declaration{decl.Declare[int]("jobs")},
		Wait: func(ctx context.Context, _ time.Duration) error {
			waits.Add(1)
			return ctx.Err()
		},
	})
	ctx := testContext(t)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	top, _ := bus.NewTopic[int](b, "jobs")
	if err := top.PublishSync(ctx, 1); err == nil || waits.Load() != 2 {
		t.Errorf("PublishSync = %v after %d waits, want the handler's error after 2", err, waits.Load())
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// The Runner tells the Log its handlers' topics, so that a message that
// reaches no subscription there is logged: before Start, published through
// the bus's own topic, it says it came before the handlers.
func TestRunnerWatchesHandlers(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := NewLog(zap.New(core))
	b := bus.New(bus.WithHooks(log.Hooks()))
	r := New(b, []handlers.Registration{
		handlers.RegisterFunc("orders.placed", nop[int], bus.Name("audit")),
		// A pattern's topics may carry other types: not watched.
		handlers.RegisterFunc("metrics.*", nop[string], bus.Name("gauges")),
	}, Options{Log: log})
	top, _ := bus.NewTopic[int](b, "orders.placed")
	other, _ := bus.NewTopic[int](b, "metrics.tick")
	ctx := testContext(t)
	_ = top.Publish(ctx, 1)
	_ = other.Publish(ctx, 1)
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_ = top.Publish(ctx, 2)
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	lines := logs.FilterField(zap.String("topic", "orders.placed")).FilterLevelExact(zapcore.WarnLevel).All()
	if len(lines) != 1 || !strings.Contains(lines[0].Message, "before the handlers were subscribed") {
		t.Errorf("warnings for orders.placed: %v, want one about the publish before Start", lines)
	}
	if n := logs.FilterField(zap.String("topic", "metrics.tick")).Len(); n != 0 {
		t.Errorf("%d lines about metrics.tick, which no handler is registered for", n)
	}
}

func TestSortRegistrations(t *testing.T) {
	h := func(context.Context, int) error { return nil }
	regs := []handlers.Registration{
		handlers.RegisterFunc("b", h, bus.Name("x")),
		handlers.RegisterFunc("a", h, bus.Name("y")),
		handlers.RegisterFunc("a", h, bus.Name("x")),
		{},
	}
	sortRegistrations(regs)
	var got []string
	for _, r := range regs {
		got = append(got, r.Topic()+"/"+r.Name())
	}
	if want := []string{"/", "a/x", "a/y", "b/x"}; !slices.Equal(got, want) {
		t.Errorf("Sort: %v, want %v", got, want)
	}
}
