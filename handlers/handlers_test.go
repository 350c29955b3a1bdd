package handlers

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

	"github.com/fxbus/fxbus/bus"
)

type order struct {
	ID    int
	Total int
}

type payment struct{ OrderID int }

// A panic becomes a *bus.PanicError with the stack, and the worker goes on
// with the next message.
func TestPanicRecovery(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "n")
	var (
		mu   sync.Mutex
		seen []int
		rec  recorder
	)
	mustSubscribe(t, b, RegisterFunc("n", func(_ context.Context, v int) error {
		if v == 2 {
			panic(fmt.Sprintf("cannot handle %d", v))
		}
		mu.Lock()
		seen = append(seen, v)
		mu.Unlock()
		return nil
	}, NoDeadLetters()), Env{Observer: &rec})

	ctx := testCtx(t)
	for v := 1; v <= 3; v++ {
		if err := top.Publish(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, b)
	if !slices.Equal(seen, []int{1, 3}) {
		t.Errorf("handled %v, want [1 3]: the worker must go on after a panic", seen)
	}
	if got := rec.outcomes(); !slices.Equal(got, []string{"ok", "panic", "ok"}) {
		t.Errorf("outcomes = %v, want [ok panic ok]", got)
	}

	err := top.PublishSync(ctx, 2)
	var pe *bus.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("PublishSync: %v, want a *bus.PanicError", err)
	}
	if pe.Value != "cannot handle 2" || !strings.Contains(string(pe.Stack), "TestPanicRecovery") {
		t.Errorf("PanicError value %v, stack:\n%s\nwant the value and the handler in the stack", pe.Value, pe.Stack)
	}
	if err := top.PublishSync(ctx, 4); err != nil {
		t.Errorf("PublishSync after a panic: %v", err)
	}
	for _, s := range b.Stats().Subscriptions {
		if s.Pattern == "n" && (s.Delivered != 5 || s.Failed != 2) {
			t.Errorf("stats: delivered %d, failed %d; want 5 and 2", s.Delivered, s.Failed)
		}
	}
}

// With the default concurrency of 1, messages are handled one at a time, in
// publish order, even while the queue is full and publishers block.
func TestOrderingConcurrencyOne(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "seq")
	const n = 500
	var (
		seen    []int
		running atomic.Int32
		overlap atomic.Bool
	)
	mustSubscribe(t, b, RegisterFunc("seq", func(_ context.Context, v int) error {
		if running.Add(1) > 1 {
			overlap.Store(true)
		}
		seen = append(seen, v) // no lock: calls must not overlap (the race detector checks)
		running.Add(-1)
		return nil
	}, bus.Buffer(8)), Env{})
	ctx := testCtx(t)
	for v := range n {
		if err := top.Publish(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, b)
	if overlap.Load() {
		t.Error("two calls overlapped with concurrency 1")
	}
	if len(seen) != n || !slices.IsSorted(seen) {
		t.Errorf("handled %d messages, in order: %v; want %d in publish order", len(seen), slices.IsSorted(seen), n)
	}
}

// With bus.Concurrency(n), n calls run at once: each call waits at a barrier
// that only opens when all n have arrived, so fewer would never finish.
func TestConcurrencyN(t *testing.T) {
	for _, opt := range []struct {
		name string
		opt  bus.SubscribeOption
	}{
		{"bus.Concurrency", bus.Concurrency(4)},
	} {
		t.Run(opt.name, func(t *testing.T) {
			const n = 4
			b := newBus(t)
			top := mustTopic[int](t, b, "work")
			ctx := testCtx(t)
			var arrived atomic.Int32
			all := make(chan struct{})
			done := make(chan error, n)
			mustSubscribe(t, b, RegisterFunc("work", func(_ context.Context, v int) error {
				if arrived.Add(1) == n {
					close(all)
				}
				select {
				case <-all:
					done <- nil
				case <-ctx.Done():
					done <- fmt.Errorf("call %d: only %d of %d calls ran at once", v, arrived.Load(), n)
				}
				return nil
			}, opt.opt), Env{})
			for v := range n {
				if err := top.Publish(ctx, v); err != nil {
					t.Fatal(err)
				}
			}
			for range n {
				if err := recv(t, done); err != nil {
					t.Fatal(err)
				}
			}
			if st := b.Stats().Subscriptions; len(st) != 1 || st[0].Concurrency != n {
				t.Errorf("stats: %+v, want one subscription with concurrency %d", st, n)
			}
		})
	}
}

// A handler may publish to its own topic, and to another topic whose handler
// publishes back, without deadlock, even with a queue of one.
func TestReentrantPublish(t *testing.T) {
	b := newBus(t)
	ping := mustTopic[int](t, b, "ping")
	pong := mustTopic[int](t, b, "pong")
	const last = 200
	done := make(chan int, 1)
	mustSubscribe(t, b, RegisterFunc("ping", func(ctx context.Context, v int) error {
		switch {
		case v == last:
			done <- v
			return nil
		case v%2 == 0:
			return ping.Publish(ctx, v+1) // its own topic
		default:
			return pong.PublishSync(ctx, v+1) // waits for pong, which publishes back
		}
	}, bus.Buffer(1)), Env{})
	mustSubscribe(t, b, RegisterFunc("pong", func(ctx context.Context, v int) error {
		return ping.Publish(ctx, v)
	}, bus.Buffer(1)), Env{})
	if err := ping.Publish(testCtx(t), 0); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, done); got != last {
		t.Fatalf("chain ended at %d, want %d", got, last)
	}
}

// The correlation ID of the first publish reaches the second handler of a
// chain, through a retry, and the dead letter of the chain's end.
func TestCorrelationChain(t *testing.T) {
	b := newBus(t)
	orders := mustTopic[order](t, b, "orders.created")
	payments := mustTopic[payment](t, b, "payments.requested")
	dead, err := bus.Subscribe[DeadLetter[payment]](context.Background(), b, "payments.requested.dead-letter")
	if err != nil {
		t.Fatal(err)
	}
	var sl sleeper
	seen := make(chan bus.CorrelationID, 1)
	mustSubscribe(t, b, RegisterFunc("orders.created", func(ctx context.Context, o order) error {
		if AttemptFrom(ctx) == 1 {
			return errBoom // publish from the retry
		}
		return payments.Publish(ctx, payment{OrderID: o.ID})
	}, Retry(2), withSleep(sl.sleep)), Env{})
	mustSubscribe(t, b, RegisterFunc("payments.requested", func(ctx context.Context, p payment) error {
		id, ok := bus.CorrelationIDFrom(ctx)
		if !ok {
			t.Error("second handler: no correlation ID")
		}
		seen <- id
		return Permanent(errBoom)
	}), Env{})

	id := bus.NewCorrelationID()
	if err := orders.Publish(bus.WithCorrelationID(testCtx(t), id), order{ID: 7}); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, seen); got != id {
		t.Errorf("second handler saw correlation ID %v, want %v", got, id)
	}
	if dl := recv(t, dead.C); dl.CorrelationID != id || dl.Value.CorrelationID != id {
		t.Errorf("dead letter carries %v (message %v), want %v", dl.Value.CorrelationID, dl.CorrelationID, id)
	}
}

// A registration whose message type differs from its topic's fails to
// subscribe with an error that names the topic, both types and the source.
func TestSubscribeTypeMismatch(t *testing.T) {
	b := newBus(t)
	mustTopic[order](t, b, "orders.created")
	reg := RegisterFunc("orders.created", func(context.Context, payment) error { return nil })
	_, err := reg.Subscribe(context.Background(), b)
	var te *bus.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("Subscribe: %v, want a *bus.TypeError", err)
	}
	for _, want := range []string{`"orders.created"`, "handlers.order", "handlers.payment", "TestSubscribeTypeMismatch", "handlers_test.go:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if st := b.Stats(); len(st.Subscriptions) != 0 {
		t.Errorf("a failed subscribe left %+v", st.Subscriptions)
	}
}

// A dead-letter topic declared with another type is a start error too, and
// the handler's subscription is undone.
func TestSubscribeDeadLetterTypeMismatch(t *testing.T) {
	b := newBus(t)
	mustTopic[string](t, b, "orders.created.dead-letter")
	reg := RegisterFunc("orders.created", func(context.Context, order) error { return nil })
	_, err := reg.Subscribe(context.Background(), b)
	var te *bus.TypeError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "dead-letter") {
		t.Fatalf("Subscribe: %v, want a *bus.TypeError about the dead-letter topic", err)
	}
	waitIdle(t, b)
	for _, s := range b.Stats().Subscriptions {
		if s.Active {
			t.Errorf("a failed subscribe left %s/%s active", s.Pattern, s.Name)
		}
	}
	// With NoDeadLetters the topic does not matter.
	mustSubscribe(t, b, RegisterFunc("orders.created", func(context.Context, order) error { return nil }, NoDeadLetters()), Env{})
}

func TestSubscribeDuplicateName(t *testing.T) {
	b := newBus(t)
	h := func(context.Context, order) error { return nil }
	mustSubscribe(t, b, RegisterFunc("orders.created", h, bus.Name("audit")), Env{})
	_, err := RegisterFunc("orders.created", h, bus.Name("audit")).Subscribe(context.Background(), b)
	if err == nil || !strings.Contains(err.Error(), `"audit"`) || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second Subscribe: %v, want a duplicate-name error", err)
	}
	// The same struct type twice gets the same default name.
	mustSubscribe(t, b, Register[order]("orders.created", &auditor{}), Env{})
	if _, err := Register[order]("orders.created", &auditor{}).Subscribe(context.Background(), b); err == nil {
		t.Fatal("second handler of one type on one topic: want a duplicate-name error")
	}
	// The last bus.Name wins, for the registration and its subscription alike.
	reg := RegisterFunc("orders.created", h, bus.Name("x"), bus.Name("y"))
	s, err := reg.Subscribe(context.Background(), b)
	if err != nil {
		t.Fatalf("two bus.Name options: %v", err)
	}
	if reg.Name() != "y" || s.Name() != "y" {
		t.Fatalf("two bus.Name options: registration %q, subscription %q, want both named \"y\"", reg.Name(), s.Name())
	}
}

type auditor struct {
	mu  sync.Mutex
	ids []int
}

func (a *auditor) Handle(_ context.Context, o order) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ids = append(a.ids, o.ID)
	return nil
}

func TestRegistrationAccessors(t *testing.T) {
	reg := Register[order]("orders.created", &auditor{})
	if reg.Topic() != "orders.created" || reg.typ != reflectType[order]() || reg.Name() != "handlers.auditor" {
		t.Errorf("got %q %v %q", reg.Topic(), reg.typ, reg.Name())
	}
	if !strings.HasPrefix(reg.source, "handlers.TestRegistrationAccessors (handlers_test.go:") {
		t.Errorf("Source = %q", reg.source)
	}
	if s := reg.String(); !strings.Contains(s, `"handlers.auditor"`) || !strings.Contains(s, reg.source) {
		t.Errorf("String = %q", s)
	}
	fn := RegisterFunc("x", namedHandler)
	if fn.Name() != "handlers.namedHandler" || !strings.Contains(fn.source, "TestRegistrationAccessors") {
		t.Errorf("RegisterFunc: name %q, source %q", fn.Name(), fn.source)
	}
	if err := reg.Err(); err != nil {
		t.Errorf("Err: %v", err)
	}
	var zero Registration
	if _, err := zero.Subscribe(context.Background(), bus.New()); err == nil || zero.Err() == nil {
		t.Error("zero Registration: want an error")
	}
}

func namedHandler(context.Context, int) error { return nil }

// Bad input is an error that says what is wrong, from Err and Subscribe,
// never a panic.
func TestBadOptions(t *testing.T) {
	var nilAuditor *auditor
	intMW := Middleware[int](func(next Handler[int]) Handler[int] { return next })
	tests := []struct {
		name string
		reg  Registration
		want string
	}{
		{"nil func", RegisterFunc[order]("t", nil), "handler is nil"},
		{"nil handler", Register[order]("t", nil), "handler is nil"},
		{"nil pointer", Register[order]("t", nilAuditor), "handler is nil"},
		{"empty name", Register[order]("t", &auditor{}, bus.Name("")), "bus: empty subscription name"},
		{"nil option", Register[order]("t", &auditor{}, nil), "option 1 of 1 is nil"},
		{"concurrency", Register[order]("t", &auditor{}, bus.Concurrency(0)), "bus: concurrency 0: must be at least 1"},
		{"concurrency too high", Register[order]("t", &auditor{}, bus.Concurrency(bus.MaxConcurrency+1)), "must be at most 65536"},
		{"timeout", Register[order]("t", &auditor{}, Timeout(0)), "handlers.Timeout(0s)"},
		{"retry", Register[order]("t", &auditor{}, Retry(0)), "handlers.Retry(0)"},
		{"backoff", Register[order]("t", &auditor{}, Retry(2, Backoff(time.Second, time.Millisecond))), "handlers.Backoff"},
		{"multiplier", Register[order]("t", &auditor{}, Retry(2, BackoffMultiplier(0.5))), "handlers.BackoffMultiplier"},
		{"jitter", Register[order]("t", &auditor{}, Retry(2, Jitter(1.5))), "handlers.Jitter"},
		{"retry if", Register[order]("t", &auditor{}, Retry(2, RetryIf(nil))), "handlers.RetryIf(nil)"},
		{"nil retry option", Register[order]("t", &auditor{}, Retry(2, nil)), "option 1 of 1 is nil"},
		{"dead-letter topic", Register[order]("t", &auditor{}, DeadLetterTopic("a.*")), "handlers.DeadLetterTopic"},
		{"middleware type", Register[order]("t", &auditor{}, WithMiddleware(intMW)), "handlers.Middleware[int]"},
		{"nil middleware", Register[order]("t", &auditor{}, WithMiddleware[order](nil)), "middleware 1 of 1 is nil"},
		{"middleware returns nil", Register[order]("t", &auditor{}, WithMiddleware(func(Handler[order]) Handler[order] { return nil })), "returned a nil Handler"},
		{"bad topic", Register[order]("a..b", &auditor{}), "invalid pattern"},
		{"bus option", Register[order]("t", &auditor{}, bus.Buffer(0)), "buffer 0"},
	}
	b := newBus(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.reg.Subscribe(context.Background(), b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Subscribe: %v, want an error containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "TestBadOptions") {
				t.Errorf("error %q does not name the registration's source", err)
			}
		})
	}
	if _, err := Register[order]("t", &auditor{}).Subscribe(context.Background(), nil); err == nil {
		t.Error("nil bus: want an error")
	}
}

// The layers run in the documented order: user middleware inside recover
// and timeout, once per attempt, the first given outermost.
func TestMiddlewareOrder(t *testing.T) {
	var (
		mu  sync.Mutex
		log []string
	)
	logf := func(format string, args ...any) {
		mu.Lock()
		log = append(log, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	mw := func(name string) Middleware[int] {
		return func(next Handler[int]) Handler[int] {
			return Func[int](func(ctx context.Context, v int) error {
				_, deadline := ctx.Deadline()
				logf("%s in (attempt %d, deadline %v)", name, AttemptFrom(ctx), deadline)
				err := next.Handle(ctx, v)
				logf("%s out", name)
				return err
			})
		}
	}
	var sl sleeper
	var rec recorder
	h := chainOf(t, Handler[int](Func[int](func(ctx context.Context, v int) error {
		logf("handler")
		if AttemptFrom(ctx) == 1 {
			panic("first attempt")
		}
		return nil
	})), Env{Observer: &rec}, WithMiddleware(mw("a"), mw("b")), Timeout(time.Hour), Retry(2), withSleep(sl.sleep))
	if err := h.Handle(testCtx(t), 1); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	want := []string{
		"a in (attempt 1, deadline true)", "b in (attempt 1, deadline true)", "handler",
		"a in (attempt 2, deadline true)", "b in (attempt 2, deadline true)", "handler", "b out", "a out",
	}
	if !slices.Equal(log, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(log, "\n"), strings.Join(want, "\n"))
	}
	if got := rec.outcomes(); !slices.Equal(got, []string{"panic", "ok"}) {
		t.Errorf("outcomes = %v: the panic must be recovered inside the retry", got)
	}
	if got := rec.fates(); !slices.Equal(got, []string{"retried", "handled"}) {
		t.Errorf("fates = %v, want [retried handled]", got)
	}
}

func TestTimeout(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "slow")
	var rec recorder
	mustSubscribe(t, b, RegisterFunc("slow", func(ctx context.Context, v int) error {
		if v == 0 {
			return nil
		}
		<-ctx.Done() // the deadline, not a sleep, ends the call
		return ctx.Err()
	}, Timeout(time.Millisecond), NoDeadLetters()), Env{Observer: &rec})
	ctx := testCtx(t)
	if err := top.PublishSync(ctx, 0); err != nil {
		t.Fatalf("fast call: %v", err)
	}
	err := top.PublishSync(ctx, 1)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PublishSync: %v, want ErrTimeout and context.DeadlineExceeded", err)
	}
	if got := rec.outcomes(); !slices.Equal(got, []string{"ok", "timeout"}) {
		t.Errorf("outcomes = %v, want [ok timeout]", got)
	}
}

func TestObserver(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "obs")
	var rec recorder
	clock := time.Unix(0, 0)
	var tick sync.Mutex
	now := func() time.Time {
		tick.Lock()
		defer tick.Unlock()
		clock = clock.Add(time.Millisecond)
		return clock
	}
	var sl sleeper
	mustSubscribe(t, b, RegisterFunc("obs", func(ctx context.Context, v int) error {
		switch {
		case v == 1:
			return errBoom
		case v == 2 && AttemptFrom(ctx) == 1:
			return errBoom
		}
		return nil
	}, bus.Name("o"), Retry(2), withSleep(sl.sleep), withClock(now)), Env{Observer: &rec})
	ctx := testCtx(t)
	for v := range 3 {
		_ = top.PublishSync(ctx, v)
	}
	if !slices.Equal(rec.binds, []string{"obs/o"}) {
		t.Errorf("binds = %v, want one Bind(obs, o)", rec.binds)
	}
	want := []string{"ok", "error", "error", "error", "ok"}
	if got := rec.outcomes(); !slices.Equal(got, want) {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	// Nothing subscribes to obs.dead-letter: the dead letter is unread.
	wantFates := []string{"handled", "retried", "dead-letter-unread", "retried", "handled"}
	if got := rec.fates(); !slices.Equal(got, wantFates) {
		t.Errorf("fates = %v, want %v", got, wantFates)
	}
	for _, c := range rec.calls {
		if wantTopic := map[Fate]string{FateDeadLetterUnread: "obs.dead-letter"}[c.Fate]; c.DeadLetterTopic != wantTopic {
			t.Errorf("call with fate %v: DeadLetterTopic %q, want %q", c.Fate, c.DeadLetterTopic, wantTopic)
		}
	}
	if got := rec.attempts(); !slices.Equal(got, []int{1, 1, 2, 1, 2}) {
		t.Errorf("attempts = %v", got)
	}
	for i, c := range rec.calls {
		if c.Duration != time.Millisecond {
			t.Errorf("call %d: duration %v, want 1ms from the injected clock", i, c.Duration)
		}
		if (c.Err != nil) != (c.Outcome != OutcomeOK) {
			t.Errorf("call %d: outcome %v with error %v", i, c.Outcome, c.Err)
		}
		if _, ok := bus.CorrelationIDFrom(c.Ctx); !ok {
			t.Errorf("call %d: Ctx carries no correlation ID", i)
		}
	}
}

// Without an observer a call reads no clock, also when it fails and retries.
func TestNoObserverNoClock(t *testing.T) {
	var sl sleeper
	h := chainOf(t, Handler[int](Func[int](func(context.Context, int) error { return errBoom })), Env{},
		Retry(3), withSleep(sl.sleep), withClock(func() time.Time {
			t.Error("clock read without an observer")
			return time.Time{}
		}))
	_ = h.Handle(testCtx(t), 1)
}

// A call that returns nil allocates nothing in the chain, whatever its
// layers, as long as no timeout is set.
func TestNoAllocations(t *testing.T) {
	ok := Handler[order](Func[order](func(context.Context, order) error { return nil }))
	pass := Middleware[order](func(next Handler[order]) Handler[order] {
		return Func[order](func(ctx context.Context, v order) error { return next.Handle(ctx, v) })
	})
	ctx := bus.WithCorrelationID(context.Background(), bus.NewCorrelationID())
	for name, opts := range map[string][]bus.SubscribeOption{
		"defaults":         nil,
		"retry+middleware": {Retry(5), WithMiddleware(pass, pass)},
	} {
		for _, env := range []Env{{}, {Observer: nopObserver{}}} {
			h := chainOf(t, ok, env, opts...)
			if n := testing.AllocsPerRun(1000, func() { _ = h.Handle(ctx, order{ID: 1}) }); n != 0 {
				t.Errorf("%s (observer %v): %v allocations per call, want 0", name, env.Observer != nil, n)
			}
		}
	}
}

type nopObserver struct{}

func (nopObserver) Bind(string, string) CallObserver { return nopObserver{} }
func (nopObserver) Observe(Call)                     {}

// A call's outcome is what it did (a panic is a panic), whatever its fate.
func TestOutcomeOf(t *testing.T) {
	var rec recorder
	var sl sleeper
	h := chainOf(t, Handler[int](Func[int](func(ctx context.Context, v int) error {
		switch AttemptFrom(ctx) {
		case 1:
			panic("first")
		case 2:
			<-ctx.Done()
			return ctx.Err()
		}
		return errBoom
	})), Env{Observer: &rec}, Retry(3), Timeout(time.Millisecond), withSleep(sl.sleep))
	_ = h.Handle(testCtx(t), 1)
	var kinds []string
	for _, c := range rec.calls {
		if c.Outcome != OutcomeOf(c.Err) {
			t.Errorf("attempt %d: Outcome %v, but OutcomeOf(Err) is %v", c.Attempt, c.Outcome, OutcomeOf(c.Err))
		}
		kinds = append(kinds, c.Outcome.String()+"/"+c.Fate.String())
	}
	// No bus: no dead letters, so the last failure discards the message.
	if want := []string{"panic/retried", "timeout/retried", "error/discarded"}; !slices.Equal(kinds, want) {
		t.Errorf("outcome/fate = %v, want %v", kinds, want)
	}
	joined := errors.Join(errBoom, &bus.PanicError{Value: "downstream"})
	for err, want := range map[error]Outcome{nil: OutcomeOK, errBoom: OutcomeError, joined: OutcomeError, &bus.PanicError{}: OutcomePanic} {
		if got := OutcomeOf(err); got != want {
			t.Errorf("OutcomeOf(%v) = %v, want %v", err, got, want)
		}
	}
	if Outcome(99).String() != "unknown" || Fate(99).String() != "unknown" {
		t.Error("unknown outcome or fate name")
	}
}

// Errors quote a long name or topic cut to a readable length.
func TestLongInputIsCut(t *testing.T) {
	long := strings.Repeat("n", 1<<20)
	reg := RegisterFunc(long, func(context.Context, int) error { return nil }, bus.Name(long))
	if s := reg.String(); len(s) > 400 || !strings.Contains(s, "(1048576 bytes)") {
		t.Errorf("String() is %d bytes (%.120s...), want it cut and the length given", len(s), s)
	}
}
