package fxbus_test

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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/fxgroup"
	"github.com/fxbus/fxbus/metrics"
)

// The chain's messages: Order -> Payment -> Receipt.
type (
	Payment struct{ OrderID string }
	Receipt struct{ OrderID string }
	Job     struct{ N int }
)

// provideHandler puts a registration constructor's result in the handler
// group, as an app does.
func provideHandler(ctor any) fx.Option {
	return fx.Provide(fx.Annotate(ctor, fx.ResultTags(`group:"fxbus.handlers"`)))
}

func supplyHandler(r handlers.Registration) fx.Option {
	return fx.Supply(fx.Annotated{Group: fxgroup.Handlers, Target: r})
}

// testContext bounds what a test may wait for.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// recorder is the order in which the app's parts stopped.
type recorder struct {
	mu  sync.Mutex
	seq []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.seq = append(r.seq, s)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seq)
}

// fakeDB is what the handlers depend on: it must stop after the bus drained.
type fakeDB struct {
	receipts atomic.Int64
	closed   atomic.Bool
}

func (db *fakeDB) save(Receipt) error {
	if db.closed.Load() {
		return errors.New("fakeDB: closed")
	}
	db.receipts.Add(1)
	return nil
}

// payer is the chain's first handler: a struct with dependencies. It waits
// for gate before each message, so that the bus has a backlog at stop.
type payer struct {
	gate     <-chan struct{}
	db       *fakeDB
	payments fxbus.Publisher[Payment]
}

func (p *payer) Handle(ctx context.Context, o Order) error {
	select {
	case <-p.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return p.payments.Publish(ctx, Payment{OrderID: o.ID})
}

// TestStopOrder checks the shutdown order of the issue: the publisher stops
// first (and may still publish), the bus drains the whole chain A -> B -> C,
// and only then does the handlers' dependency stop.
func TestStopOrder(t *testing.T) {
	const n = 50
	var (
		rec       recorder
		gate      = make(chan struct{})
		atDBStop  atomic.Int64
		orders    fxbus.Publisher[Order]
		theBus    *bus.Bus
		lastOrder error
	)
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		if e.Message == "fxbus: bus stopped" {
			rec.add("bus")
		}
		return nil
	}))
	app := fxtest.New(t,
		fx.StopTimeout(5*time.Second),
		fx.Supply(logger),
		fxbus.Module,
		fxbus.Topic[Order]("orders"),
		fxbus.Topic[Payment]("payments"),
		fxbus.Topic[Receipt]("receipts"),
		fx.Provide(func(lc fx.Lifecycle) *fakeDB {
			db := &fakeDB{}
			lc.Append(fx.StopHook(func() {
				rec.add("db")
				atDBStop.Store(db.receipts.Load())
				db.closed.Store(true)
			}))
			return db
		}),
		provideHandler(func(db *fakeDB, p fxbus.Publisher[Payment]) handlers.Registration {
			return handlers.Register[Order]("orders", &payer{gate: gate, db: db, payments: p})
		}),
		provideHandler(func(p fxbus.Publisher[Receipt]) handlers.Registration {
			return handlers.RegisterFunc("payments", func(ctx context.Context, v Payment) error {
				return p.Publish(ctx, Receipt(v))
			}, bus.Name("invoicer"))
		}),
		provideHandler(func(db *fakeDB) handlers.Registration {
			return handlers.RegisterFunc("receipts", func(ctx context.Context, v Receipt) error {
				return db.save(v)
			}, bus.Name("archiver"))
		}),
		// The publishing component, built after the bus.
		fx.Invoke(func(lc fx.Lifecycle, p fxbus.Publisher[Order]) {
			lc.Append(fx.StopHook(func(ctx context.Context) {
				rec.add("publisher")
				lastOrder = p.Publish(ctx, Order{ID: "last"}) // the bus is still open
				close(gate)
			}))
		}),
		fx.Populate(&orders, &theBus),
	)
	app.RequireStart()
	ctx := testContext(t)
	for i := range n {
		if err := orders.Publish(ctx, Order{ID: fmt.Sprint(i)}); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	app.RequireStop()

	if got, want := rec.list(), []string{"publisher", "bus", "db"}; !slices.Equal(got, want) {
		t.Errorf("stop order = %v, want %v", got, want)
	}
	if lastOrder != nil {
		t.Errorf("Publish in the publisher's OnStop = %v, want nil: the bus stops after it", lastOrder)
	}
	if got := atDBStop.Load(); got != n+1 {
		t.Errorf("receipts when the DB stopped = %d, want %d: the chain was not drained", got, n+1)
	}
	if err := orders.Publish(ctx, Order{ID: "late"}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after stop = %v, want bus.ErrClosed", err)
	}
	for _, s := range theBus.Stats().Subscriptions {
		if s.Active || s.Queued != 0 || s.Dropped.Total() != 0 {
			t.Errorf("after stop, %s/%s: active %v, queued %d, dropped %v", s.Pattern, s.Name, s.Active, s.Queued, s.Dropped)
		}
	}
	if n := logs.FilterMessage("fxbus: subscribed").FilterLevelExact(zapcore.DebugLevel).Len(); n != 3 {
		t.Errorf("%d subscription lines at debug, want 3", n)
	}
	goleak.VerifyNone(t)
}

// blocker is a handler that signals each call and holds it until released
// or, unless it ignores its context, until the bus gives up draining.
type blocker struct {
	started   chan struct{}
	release   chan struct{}
	ignoreCtx bool
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 1), release: make(chan struct{})}
}

func (b *blocker) Handle(ctx context.Context, j Job) error {
	select {
	case b.started <- struct{}{}:
	default:
	}
	done := ctx.Done()
	if b.ignoreCtx {
		done = nil
	}
	select {
	case <-b.release:
		return nil
	case <-done:
		return ctx.Err()
	}
}

func (b *blocker) waitStarted(t *testing.T, ctx context.Context) {
	t.Helper()
	select {
	case <-b.started:
	case <-ctx.Done():
		t.Fatal("the handler did not start")
	}
}

// TestStopDeadline is the timeout path: a handler blocked on a channel, a
// stop deadline, and an error and a log line per subscriber with its count.
// The handler ignores its context, so that it is still running when the bus
// closes its queue (a handler that returns at once could be handed the
// queued messages in between) and is reported as running after KillGrace;
// it returns when the test releases it, after Stop.
func TestStopDeadline(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    fxbus.Config
		stopIn time.Duration
	}{
		// The drain gives up before fx's deadline, keeping a reserve, so
		// that the bus's report is what app.Stop returns.
		{name: "stop context", cfg: fxbus.Config{KillGrace: 20 * time.Millisecond}, stopIn: 2 * time.Second},
		{name: "DrainTimeout", cfg: fxbus.Config{DrainTimeout: 100 * time.Millisecond, KillGrace: 20 * time.Millisecond}, stopIn: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const queued = 5
			blk := newBlocker()
			blk.ignoreCtx = true
			var jobs fxbus.Publisher[Job]
			core, logs := observer.New(zapcore.DebugLevel)
			app := fxtest.New(t,
				fx.Supply(zap.New(core), tc.cfg),
				fxbus.Module,
				fxbus.Topic[Job]("jobs"),
				supplyHandler(handlers.Register[Job]("jobs", blk, bus.Name("slow"))),
				fx.Populate(&jobs),
			)
			app.RequireStart()
			ctx := testContext(t)
			if err := jobs.Publish(ctx, Job{0}); err != nil {
				t.Fatal(err)
			}
			blk.waitStarted(t, ctx)
			for i := range queued {
				if err := jobs.Publish(ctx, Job{i + 1}); err != nil {
					t.Fatal(err)
				}
			}
			stopCtx, cancel := context.WithTimeout(context.Background(), tc.stopIn)
			defer cancel()
			err := app.Stop(stopCtx)
			close(blk.release)

			var se *bus.ShutdownError
			if !errors.As(err, &se) {
				t.Fatalf("Stop = %v, want a *bus.ShutdownError", err)
			}
			want := []bus.Leftover{{Topic: "jobs", Subscriber: "slow", Count: queued, Running: true}}
			if !slices.Equal(se.Leftovers, want) {
				t.Errorf("leftovers = %+v, want %+v", se.Leftovers, want)
			}
			if !strings.Contains(err.Error(), "jobs/slow lost 5 (handler still running)") {
				t.Errorf("Stop's error %q does not name the subscriber and its count", err)
			}
			lines := logs.FilterMessage("fxbus: messages left undelivered at shutdown").FilterLevelExact(zapcore.ErrorLevel).All()
			if len(lines) != 1 {
				t.Fatalf("%d shutdown lines at error, want 1: %v", len(lines), logs.All())
			}
			if f := lines[0].ContextMap(); f["subscriber"] != "slow" || f["topic"] != "jobs" || f["count"] != uint64(queued) || f["handler_running"] != true {
				t.Errorf("shutdown line fields = %v", f)
			}
			goleak.VerifyNone(t)
		})
	}
}

// TestStartErrors checks that every kind of bad input fails the app with an
// error that names the culprit and says what to do, and leaves nothing
// running.
func TestStartErrors(t *testing.T) {
	ok := func(context.Context, Job) error { return nil }
	for _, tc := range []struct {
		name  string
		opts  []fx.Option
		atNew bool // the app fails to build, before Start
		want  []string
	}{
		{
			name:  "bad topic name",
			opts:  []fx.Option{fxbus.Topic[Job]("jobs..new")},
			atNew: true,
			want:  []string{`fxbus.Topic[fxbus_test.Job]("jobs..new")`, "token 2 is empty"},
		},
		{
			name: "bad handler topic",
			opts: []fx.Option{fxbus.Topic[Job]("jobs"), supplyHandler(handlers.RegisterFunc("jobs/new", ok, bus.Name("h")))},
			want: []string{`handler "h" for "jobs/new"`, `invalid pattern "jobs/new"`},
		},
		{
			name: "handler type mismatch",
			opts: []fx.Option{
				fxbus.Topic[Job]("jobs"),
				supplyHandler(handlers.RegisterFunc("jobs", func(context.Context, Order) error { return nil }, bus.Name("h"))),
			},
			want: []string{`handler "h" for "jobs"`, `"jobs" carries fxbus_test.Job, not fxbus_test.Order`},
		},
		{
			name: "topic declared with two types",
			opts: []fx.Option{fxbus.Topic[Job]("jobs"), fxbus.Topic[Order]("jobs")},
			want: []string{
				`fxbus.Topic[fxbus_test.Order]("jobs") in fxbus_test.TestStartErrors (module_test.go:`,
				`declared first by fxbus.Topic[fxbus_test.Job]("jobs") in fxbus_test.TestStartErrors (module_test.go:`,
			},
		},
		{
			name: "topic declared with two types, both published",
			opts: []fx.Option{
				fxbus.Topic[Job]("jobs"), fxbus.Topic[Order]("jobs"),
				fx.Invoke(func(fxbus.Publisher[Job], fxbus.Publisher[Order]) {}),
			},
			atNew: true,
			want: []string{
				`fxbus.Topic[fxbus_test.Order]("jobs") in fxbus_test.TestStartErrors (module_test.go:`,
				`also declared by fxbus.Topic[fxbus_test.Job]("jobs") in fxbus_test.TestStartErrors (module_test.go:`,
			},
		},
		{
			name: "duplicate handler name",
			opts: []fx.Option{
				fxbus.Topic[Job]("jobs"),
				supplyHandler(handlers.RegisterFunc("jobs", ok, bus.Name("h"))),
				supplyHandler(handlers.RegisterFunc("jobs", ok, bus.Name("h"))),
			},
			want: []string{`handler "h" for "jobs"`, `named "h" already exists`},
		},
		{
			name: "invalid subscribe options",
			opts: []fx.Option{
				fxbus.Topic[Job]("jobs"),
				supplyHandler(handlers.RegisterFunc("jobs", ok, bus.Name("h"), bus.Buffer(0))),
			},
			want: []string{`handler "h" for "jobs"`, "buffer 0"},
		},
		{
			name: "undeclared topic",
			opts: []fx.Option{supplyHandler(handlers.RegisterFunc("jobs.new", ok, bus.Name("h")))},
			want: []string{`handler "h" for "jobs.new"`, `add fxbus.Topic[fxbus_test.Job]("jobs.new")`},
		},
		{
			name:  "negative KillGrace",
			opts:  []fx.Option{fx.Supply(fxbus.Config{KillGrace: -time.Second})},
			atNew: true,
			want:  []string{"Config.KillGrace is -1s"},
		},
		{
			name:  "negative DrainTimeout through Configure",
			opts:  []fx.Option{fxbus.Configure(func(c *fxbus.Config) { c.DrainTimeout = -time.Second })},
			atNew: true,
			want:  []string{"Config.DrainTimeout is -1s"},
		},
		{
			name:  "nil Configure",
			opts:  []fx.Option{fxbus.Configure(nil)},
			atNew: true,
			want:  []string{"fxbus.Configure: nil function"},
		},
		{
			name:  "bad fx name",
			opts:  []fx.Option{fxbus.NamedTopic[Job]("jobs", `a"b`)},
			atNew: true,
			want:  []string{`fxbus.NamedTopic[fxbus_test.Job]("jobs", "a\"b")`, "use letters"},
		},
		{
			name:  "one type declared twice without names",
			opts:  []fx.Option{fxbus.Topic[Job]("jobs.a"), fxbus.Topic[Job]("jobs.b")},
			atNew: true,
			want:  []string{"already provided"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(append([]fx.Option{fx.NopLogger, fxbus.Module}, tc.opts...)...)
			err := app.Err()
			if tc.atNew && err == nil {
				t.Fatal("fx.New succeeded, want an error")
			}
			if !tc.atNew {
				if err != nil {
					t.Fatalf("fx.New: %v, want an error at Start", err)
				}
				err = app.Start(testContext(t))
				if err == nil {
					_ = app.Stop(testContext(t))
					t.Fatal("Start succeeded, want an error")
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			goleak.VerifyNone(t)
		})
	}
}

// TestTopicWithoutBus: a topic declared in an app that has no bus (no
// fxbus.Module) fails with an error that says what to add, and where the
// topic was declared, instead of fx's "missing type".
func TestTopicWithoutBus(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []fx.Option
		want string
	}{
		{"Topic", []fx.Option{fxbus.Topic[Job]("jobs"), fx.Invoke(func(fxbus.Publisher[Job]) {})}, `fxbus.Topic[fxbus_test.Job]("jobs") in fxbus_test.TestTopicWithoutBus (module_test.go:`},
		{"NamedTopic", []fx.Option{
			fxbus.NamedTopic[Job]("jobs", "j"),
			fx.Invoke(fx.Annotate(func(fxbus.Publisher[Job]) {}, fx.ParamTags(`name:"j"`))),
		}, `fxbus.NamedTopic[fxbus_test.Job]("jobs", "j") in fxbus_test.TestTopicWithoutBus (module_test.go:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := fx.New(append([]fx.Option{fx.NopLogger}, tc.opts...)...).Err()
			if err == nil {
				t.Fatal("fx.New succeeded without a bus")
			}
			for _, w := range []string{tc.want, "the app has no *bus.Bus: add fxbus.Module"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestStartUndo checks that a failed start closes what it subscribed.
func TestStartUndo(t *testing.T) {
	var b *bus.Bus
	var jobs fxbus.Publisher[Job]
	app := fx.New(fx.NopLogger,
		fxbus.Module,
		fxbus.Topic[Job]("a.jobs"),
		fxbus.Topic[Order]("b.orders"),
		// Sorted by topic: a.jobs subscribes, then b.orders fails.
		supplyHandler(handlers.RegisterFunc("b.orders", func(context.Context, Payment) error { return nil }, bus.Name("second"))),
		supplyHandler(handlers.RegisterFunc("a.jobs", func(context.Context, Job) error { return nil }, bus.Name("first"))),
		fx.Populate(&b, &jobs),
	)
	err := app.Start(testContext(t))
	if err == nil || !strings.Contains(err.Error(), `handler "second"`) {
		t.Fatalf("Start = %v, want an error naming handler \"second\"", err)
	}
	var te *bus.TypeError
	if !errors.As(err, &te) || te.Topic != "b.orders" {
		t.Errorf("Start's error %v is not a *bus.TypeError for b.orders", err)
	}
	for _, s := range b.Stats().Subscriptions {
		if s.Active {
			t.Errorf("%s/%s is still subscribed after the failed start", s.Pattern, s.Name)
		}
	}
	if err := jobs.Publish(testContext(t), Job{}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after a failed start = %v, want bus.ErrClosed", err)
	}
	goleak.VerifyNone(t)
}

// TestUndeclaredExemptions: wildcard patterns, topics already on the bus and
// dead-letter topics need no fxbus.Topic.
func TestUndeclaredExemptions(t *testing.T) {
	var got atomic.Int64
	count := func(context.Context, Job) error { got.Add(1); return nil }
	var jobs fxbus.Publisher[Job]
	app := fxtest.New(t,
		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fxbus.Topic[Job]("jobs.new"),
		supplyHandler(handlers.RegisterFunc("jobs.*", count, bus.Name("wildcard"))),
		supplyHandler(handlers.RegisterFunc("jobs.new.dead-letter", func(context.Context, handlers.DeadLetter[Job]) error { return nil }, bus.Name("dead"))),
		// A topic that a component declares on the bus itself (as a bridge
		// does) before the start.
		fx.Invoke(func(b *bus.Bus) error { _, err := bus.NewTopic[Job](b, "jobs.bridged"); return err }),
		supplyHandler(handlers.RegisterFunc("jobs.bridged", count, bus.Name("bridged"))),
		fx.Populate(&jobs),
	)
	app.RequireStart()
	if err := jobs.Publish(testContext(t), Job{}); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 1 {
		t.Errorf("the wildcard handler got %d messages, want 1", got.Load())
	}
	app.RequireStop()
	goleak.VerifyNone(t)
}

// TestTypedTopics: handlers of several types, a struct handler with a
// dependency, named topics of one type, and Publisher[T] from the graph.
func TestTypedTopics(t *testing.T) {
	type sink struct {
		mu  sync.Mutex
		got []string
	}
	var s sink
	note := func(v string) { s.mu.Lock(); s.got = append(s.got, v); s.mu.Unlock() }
	type pubs struct {
		fx.In
		Orders fxbus.Publisher[Order]
		EU     fxbus.Publisher[Job] `name:"eu"`
		US     fxbus.Publisher[Job] `name:"us"`
	}
	var p pubs
	app := fxtest.New(t,
		fxbus.Module,
		fx.Supply(fxbus.Config{Synchronous: true}),
		fx.Decorate(func(c fxbus.Config) fxbus.Config { c.KillGrace = time.Second; return c }),
		fxbus.Topic[Order]("orders"),
		fxbus.NamedTopic[Job]("jobs.eu", "eu"),
		fxbus.NamedTopic[Job]("jobs.us", "us"),
		fx.Supply(&fakeDB{}),
		provideHandler(func(db *fakeDB) handlers.Registration {
			return handlers.RegisterFunc("orders", func(_ context.Context, o Order) error {
				note("order " + o.ID)
				return db.save(Receipt{OrderID: o.ID})
			}, bus.Name("orders"))
		}),
		supplyHandler(handlers.RegisterFunc("jobs.eu", func(_ context.Context, j Job) error { note(fmt.Sprint("eu ", j.N)); return nil })),
		supplyHandler(handlers.RegisterFunc("jobs.us", func(_ context.Context, j Job) error { note(fmt.Sprint("us ", j.N)); return nil })),
		fx.Populate(&p),
	)
	app.RequireStart()
	ctx := testContext(t)
	for _, err := range []error{
		p.Orders.Publish(ctx, Order{ID: "o1"}),
		p.EU.Publish(ctx, Job{1}),
		p.US.Publish(ctx, Job{2}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	got := slices.Clone(s.got)
	s.mu.Unlock()
	// Synchronous mode (from the supplied, then decorated Config): each
	// Publish returned after its handler ran.
	if want := []string{"order o1", "eu 1", "us 2"}; !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
	app.RequireStop()
	goleak.VerifyNone(t)
}

// TestTwoAppsShareRegistry runs two apps at once on one Prometheus registry,
// as two tests in one binary would.
func TestTwoAppsShareRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	newApp := func() (*fxtest.App, fxbus.Publisher[Job]) {
		var jobs fxbus.Publisher[Job]
		app := fxtest.New(t,
			fx.Provide(func() prometheus.Registerer { return reg }),
			fxbus.Module,
			fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
			fxbus.Topic[Job]("jobs"),
			supplyHandler(handlers.RegisterFunc("jobs", func(context.Context, Job) error { return nil }, bus.Name("h"))),
			fx.Populate(&jobs),
		)
		return app, jobs
	}
	a, ja := newApp()
	b, jb := newApp()
	a.RequireStart()
	b.RequireStart()
	ctx := testContext(t)
	if err := errors.Join(ja.Publish(ctx, Job{1}), jb.Publish(ctx, Job{2}), jb.Publish(ctx, Job{3})); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather with two apps: %v", err)
	}
	if len(mfs) == 0 {
		t.Error("no metrics on the shared registry")
	}
	a.RequireStop()
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("Gather after one app stopped: %v", err)
	}
	b.RequireStop()
	goleak.VerifyNone(t)
}

// TestLogs checks the log lines: subscriptions at debug, drops at warn with
// a rate limit that still accounts for every drop, handler panics at error
// with the correlation ID.
func TestLogs(t *testing.T) {
	blk := newBlocker()
	var (
		jobs   fxbus.Publisher[Job]
		boom   fxbus.Publisher[Order]
		theBus *bus.Bus
	)
	core, logs := observer.New(zapcore.DebugLevel)
	app := fxtest.New(t,
		fx.Supply(zap.New(core)),
		fxbus.Module,
		fxbus.Topic[Job]("jobs"),
		fxbus.Topic[Order]("boom"),
		supplyHandler(handlers.Register[Job]("jobs", blk, bus.Name("slow"),
			bus.Buffer(1), bus.WithPolicy(bus.DropNewest()))),
		supplyHandler(handlers.RegisterFunc("boom", func(context.Context, Order) error { panic("kaboom") },
			bus.Name("panicky"), handlers.NoDeadLetters())),
		fx.Populate(&jobs, &boom, &theBus),
	)
	app.RequireStart()
	ctx := testContext(t)

	subs := logs.FilterMessage("fxbus: subscribed").FilterLevelExact(zapcore.DebugLevel).All()
	var names []string
	for _, e := range subs {
		names = append(names, fmt.Sprint(e.ContextMap()["topic"], "/", e.ContextMap()["subscriber"]))
	}
	if want := []string{"boom/panicky", "jobs/slow"}; !slices.Equal(names, want) {
		t.Errorf("subscription lines %v, want %v (sorted by topic)", names, want)
	}

	// A storm of drops: one message runs, one waits, the rest are dropped.
	const storm = 200
	if err := jobs.Publish(ctx, Job{0}); err != nil {
		t.Fatal(err)
	}
	blk.waitStarted(t, ctx)
	for i := range storm {
		if err := jobs.Publish(ctx, Job{i + 1}); err != nil {
			t.Fatal(err)
		}
	}
	var dropped uint64
	for _, s := range theBus.Stats().Subscriptions {
		if s.Name == "slow" {
			dropped = s.Dropped[bus.ReasonFull]
		}
	}
	if dropped != storm-1 {
		t.Fatalf("the bus counted %d drops, want %d", dropped, storm-1)
	}

	// A panic, with a correlation ID.
	id := bus.NewCorrelationID()
	var pe *bus.PanicError
	if err := boom.PublishSync(bus.WithCorrelationID(ctx, id), Order{ID: "x"}); !errors.As(err, &pe) {
		t.Errorf("PublishSync to a panicking handler = %v, want a *bus.PanicError", err)
	}
	close(blk.release)
	app.RequireStop()

	// DropNewest's drops are its policy working: info-level summaries.
	drops := logs.FilterMessage("fxbus: messages dropped by the subscriber's policy").All()
	if len(drops) == 0 || len(drops) > 10 {
		t.Errorf("%d drop lines for %d drops, want at least 1 and a rate limit", len(drops), dropped)
	}
	var accounted uint64
	for _, e := range drops {
		f := e.ContextMap()
		if e.Level != zapcore.InfoLevel || f["subscriber"] != "slow" || f["reason"] != "full" || f["topic"] != "jobs" {
			t.Errorf("drop line %v %v", e.Level, f)
		}
		accounted++
		if n, ok := f["suppressed"].(uint64); ok {
			accounted += n
		}
	}
	for _, e := range logs.FilterMessage("fxbus: log lines suppressed by the rate limit").All() {
		if f := e.ContextMap(); f["event"] == "dropped" && f["subscriber"] == "slow" {
			accounted += f["suppressed"].(uint64)
		}
	}
	if accounted != dropped {
		t.Errorf("the drop lines account for %d drops, the bus counted %d", accounted, dropped)
	}

	panics := logs.FilterMessage("fxbus: handler panicked").All()
	if len(panics) != 1 {
		t.Fatalf("%d panic lines, want 1; logs: %v", len(panics), logs.All())
	}
	f := panics[0].ContextMap()
	if panics[0].Level != zapcore.ErrorLevel || f["correlation_id"] != id.String() || f["subscriber"] != "panicky" || f["topic"] != "boom" {
		t.Errorf("panic line %v %v, want error level with correlation_id %s", panics[0].Level, f, id)
	}
	if st := panics[0].Stack; !strings.Contains(st, "panic") || f["stack"] != nil {
		t.Errorf("the panic line's stack trace is %q, and its stack field %v: want the stack once, as the entry's stack trace", st, f["stack"])
	}
	goleak.VerifyNone(t)
}

// Module provides the bus's *metrics.Metrics: with a Registerer, its
// collector and series serve prometheus/testutil, handler series included.
func TestModuleProvidesMetrics(t *testing.T) {
	var (
		m    *metrics.Metrics
		jobs fxbus.Publisher[Job]
	)
	app := fxtest.New(t,
		fx.Supply(fx.Annotate(prometheus.NewPedanticRegistry(), fx.As(new(prometheus.Registerer)))),
		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fxbus.Topic[Job]("jobs"),
		supplyHandler(handlers.RegisterFunc("jobs", func(_ context.Context, j Job) error {
			if j.N%2 == 1 {
				panic("odd job")
			}
			return nil
		}, bus.Name("worker"), handlers.NoDeadLetters())),
		fx.Populate(&m, &jobs),
	)
	app.RequireStart()
	ctx := testContext(t)
	for n := range 4 {
		_ = jobs.Publish(ctx, Job{n})
	}
	panics := testutil.ToFloat64(m.Series("fxbus_handler_calls_total",
		prometheus.Labels{"topic": "jobs", "subscriber": "worker", "outcome": "panic"}))
	if panics != 2 {
		t.Errorf("panics = %v, want 2", panics)
	}
	if n := testutil.CollectAndCount(m.Collector(), "fxbus_events_delivered_total"); n != 1 {
		t.Errorf("%d delivered series, want 1", n)
	}
	app.RequireStop()
}

// Errors quote what they reject cut to a readable length.
func TestLongInputIsCut(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	err := fx.New(fx.NopLogger, fxbus.Module, fxbus.NamedTopic[Job]("jobs", long+"!")).Err()
	if err == nil || len(err.Error()) > 4000 || !strings.Contains(err.Error(), "(1048577 bytes)") {
		t.Errorf("an fx name of 1 MiB: error of %d bytes, want a short one that gives the length", len(fmt.Sprint(err)))
	}
}

// An app that never subscribes to its dead letters: a message its handler
// gave up on is lost, and the error, the log and the metrics say so.
func TestDeadLetterNobodyReads(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var (
		jobs fxbus.Publisher[Job]
		m    *metrics.Metrics
	)
	app := fxtest.New(t,
		fx.Supply(zap.New(core)),
		fx.Supply(fx.Annotate(prometheus.NewPedanticRegistry(), fx.As(new(prometheus.Registerer)))),
		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fxbus.Topic[Job]("jobs"),
		supplyHandler(handlers.RegisterFunc("jobs", func(context.Context, Job) error { return errors.New("no worker") }, bus.Name("worker"))),
		fx.Populate(&jobs, &m),
	)
	app.RequireStart()
	id := bus.NewCorrelationID()
	err := jobs.Publish(bus.WithCorrelationID(testContext(t), id), Job{1})
	if !errors.Is(err, handlers.ErrDeadLetterUnread) || !strings.Contains(err.Error(), "nobody will read it") {
		t.Errorf("Publish = %v, want the error to say nobody reads the dead letter", err)
	}
	lines := logs.FilterMessageSnippet("dead letter that nobody reads").All()
	if len(lines) != 1 || lines[0].Level != zapcore.ErrorLevel {
		t.Fatalf("lines %v, want one at error level", lines)
	}
	f := lines[0].ContextMap()
	if f["topic"] != "jobs" || f["subscriber"] != "worker" || f["correlation_id"] != id.String() ||
		f["error"] != "no worker" || f["dead_letter_topic"] != "jobs.dead-letter" {
		t.Errorf("fields %v, want topic, handler, correlation ID, error and dead-letter topic", f)
	}
	unread := testutil.ToFloat64(m.Series("fxbus_handler_failures_total",
		prometheus.Labels{"topic": "jobs", "subscriber": "worker", "then": "dead-letter-unread"}))
	if unread != 1 {
		t.Errorf("dead-letter-unread = %v, want 1", unread)
	}
	app.RequireStop()
}

// Module registers the bus's metrics on the app's Registerer and observes
// the handlers for them; without a Registerer it registers nothing and
// observes nothing, and the collector still serves the counters. The stop
// closes the Metrics either way.
func TestModuleMetricsRegisterer(t *testing.T) {
	for _, withReg := range []bool{true, false} {
		t.Run(fmt.Sprint("registerer ", withReg), func(t *testing.T) {
			var (
				m    *metrics.Metrics
				jobs fxbus.Publisher[Job]
			)
			reg := prometheus.NewPedanticRegistry()
			opts := []fx.Option{
				fxbus.Module,
				fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
				fxbus.Topic[Job]("jobs"),
				supplyHandler(handlers.RegisterFunc("jobs", func(context.Context, Job) error { return nil }, bus.Name("w"))),
				fx.Populate(&m, &jobs),
			}
			if withReg {
				opts = append(opts, fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer)))))
			}
			app := fxtest.New(t, opts...)
			app.RequireStart()
			if err := jobs.Publish(testContext(t), Job{1}); err != nil {
				t.Fatal(err)
			}
			want := map[bool]int{true: 1, false: 0}[withReg]
			ok := prometheus.Labels{"topic": "jobs", "subscriber": "w", "outcome": "ok"}
			if n := testutil.CollectAndCount(m.Series("fxbus_handler_calls_total", ok)); n != want {
				t.Errorf("%d ok-call series, want %d", n, want)
			}
			if got := testutil.ToFloat64(m.Series("fxbus_events_delivered_total", prometheus.Labels{"subscriber": "w"})); got != 1 {
				t.Errorf("delivered = %v, want 1", got)
			}
			if n, err := testutil.GatherAndCount(reg, "fxbus_events_delivered_total"); err != nil || n != want {
				t.Errorf("registry has %d delivered series (%v), want %d", n, err, want)
			}
			app.RequireStop()
			if n := testutil.CollectAndCount(m.Collector()); n != 0 {
				t.Errorf("%d series after the stop, want 0: the stop closes the Metrics", n)
			}
		})
	}
}

// A start that fails leaves no metric registered.
func TestStartFailureUnregistersMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	app := fx.New(fx.NopLogger,
		fx.Supply(fx.Annotate(reg, fx.As(new(prometheus.Registerer)))),
		fxbus.Module,
		fxbus.Topic[Job]("jobs"),
		supplyHandler(handlers.RegisterFunc("jobs", func(context.Context, string) error { return nil }, bus.Name("w"))),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(testContext(t)); err == nil {
		t.Fatal("Start succeeded, want a type error")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 0 {
		t.Errorf("%d metric families stay registered after a failed start", len(mfs))
	}
}
