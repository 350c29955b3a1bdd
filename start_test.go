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

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// The start-order app: a signup form publishes Signup events from its
// constructor and its OnStart hook; a user database, which two Signup
// handlers depend on, publishes one from its own OnStart hook; one of those
// handlers publishes Welcome, which a third handler takes.
type (
	Signup  struct{ User string }
	Welcome struct{ User string }
)

// startWorld is what the start-order app's handlers saw.
type startWorld struct {
	mu      sync.Mutex
	handled map[string][]string // by handler: the users, sorted when read
	early   []string            // handler calls made before their database started
}

func (w *startWorld) record(handler, user string, dbStarted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handled[handler] = append(w.handled[handler], user)
	if !dbStarted {
		w.early = append(w.early, handler+" "+user)
	}
}

func (w *startWorld) snapshot() (map[string][]string, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string][]string, len(w.handled))
	for h, users := range w.handled {
		out[h] = slices.Sorted(slices.Values(users))
	}
	return out, slices.Clone(w.early)
}

type userDB struct{ started atomic.Bool }

func newUserDB(lc fx.Lifecycle, signups fxbus.Publisher[Signup]) *userDB {
	db := &userDB{}
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		db.started.Store(true)
		return signups.Publish(ctx, Signup{User: "from-db-start"})
	}))
	return db
}

type signupForm struct{}

func newSignupForm(lc fx.Lifecycle, signups fxbus.Publisher[Signup]) (*signupForm, error) {
	if err := signups.Publish(context.Background(), Signup{User: "from-constructor"}); err != nil {
		return nil, err
	}
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		return signups.Publish(ctx, Signup{User: "from-start"})
	}))
	return &signupForm{}, nil
}

// startParts are the start-order app's modules, by name.
func startParts(w *startWorld) map[string]fx.Option {
	return map[string]fx.Option{
		"fxbus.Module": fxbus.Module,
		"topics": fx.Module("topics",
			fxbus.Topic[Signup]("users.signed-up"),
			fxbus.Topic[Welcome]("users.welcomed"),
		),
		"form": fx.Module("form", fx.Provide(newSignupForm), fx.Invoke(func(*signupForm) {})),
		"handlers": fx.Module("handlers",
			fx.Provide(newUserDB),
			handlers.Provide(
				func(db *userDB, welcomes fxbus.Publisher[Welcome]) handlers.Registration {
					return handlers.RegisterFunc("users.signed-up", func(ctx context.Context, s Signup) error {
						w.record("welcomer", s.User, db.started.Load())
						return welcomes.Publish(ctx, Welcome(s))
					}, bus.Name("welcomer"))
				},
				func(db *userDB) handlers.Registration {
					return handlers.RegisterFunc("users.signed-up", func(_ context.Context, s Signup) error {
						w.record("auditor", s.User, db.started.Load())
						return nil
					}, bus.Name("auditor"))
				},
				func() handlers.Registration {
					return handlers.RegisterFunc("users.welcomed", func(_ context.Context, m Welcome) error {
						w.record("mailer", m.User, true)
						return nil
					}, bus.Name("mailer"))
				},
			),
		),
	}
}

// permutations returns every order of names.
func permutations(names []string) [][]string {
	if len(names) <= 1 {
		return [][]string{slices.Clone(names)}
	}
	var out [][]string
	for i, first := range names {
		rest := slices.Concat(names[:i], names[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]string{first}, p...))
		}
	}
	return out
}

// TestStartOrderEveryPermutation: the same app, with its modules in every
// order and the bus synchronous or not, delivers every message published
// before the handlers were subscribed (from a constructor, from an OnStart
// hook that runs before the bus's, from a handler's own dependency) to
// every handler, and no handler runs before its dependency's OnStart hook.
func TestStartOrderEveryPermutation(t *testing.T) {
	want := map[string][]string{
		"auditor":  {"from-constructor", "from-db-start", "from-start"},
		"welcomer": {"from-constructor", "from-db-start", "from-start"},
		"mailer":   {"from-constructor", "from-db-start", "from-start"},
	}
	orders := permutations([]string{"fxbus.Module", "topics", "form", "handlers"})
	if len(orders) != 24 {
		t.Fatalf("%d orders, want 24", len(orders))
	}
	for _, sync := range []bool{false, true} {
		for _, order := range orders {
			t.Run(fmt.Sprintf("sync=%v/%s", sync, strings.Join(order, ",")), func(t *testing.T) {
				w := &startWorld{handled: map[string][]string{}}
				parts := startParts(w)
				opts := []fx.Option{fx.NopLogger, fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = sync })}
				for _, name := range order {
					opts = append(opts, parts[name])
				}
				var b *bus.Bus
				app := fx.New(append(opts, fx.Populate(&b))...)
				ctx := testContext(t)
				if err := app.Start(ctx); err != nil {
					t.Fatal(err)
				}
				unrouted := b.Stats().Topics
				if err := app.Stop(ctx); err != nil { // drains the bus
					t.Fatal(err)
				}
				got, early := w.snapshot()
				for h, users := range want {
					if !slices.Equal(got[h], users) {
						t.Errorf("%s handled %v, want %v", h, got[h], users)
					}
				}
				if len(early) > 0 {
					t.Errorf("handled before the database's OnStart hook ran: %v", early)
				}
				for _, ts := range unrouted {
					if ts.Unrouted != 0 && !strings.HasSuffix(ts.Name, handlers.DeadLetterSuffix) {
						t.Errorf("topic %s: %d unrouted", ts.Name, ts.Unrouted)
					}
				}
			})
		}
	}
}

// A Publish before app.Start returns nil and is delivered at the start, in
// order and with its correlation ID; a PublishSync before the start fails
// with ErrNotStarted; after the stop, publishes fail with bus.ErrClosed.
func TestPublishBeforeStart(t *testing.T) {
	var (
		signups fxbus.Publisher[Signup]
		mu      sync.Mutex
		got     []string
	)
	app := fx.New(fx.NopLogger, fxbus.Module,
		fxbus.Topic[Signup]("users.signed-up"),
		handlers.Supply(handlers.RegisterFunc("users.signed-up", func(ctx context.Context, s Signup) error {
			id, _ := bus.CorrelationIDFrom(ctx)
			mu.Lock()
			got = append(got, s.User+" "+id.String())
			mu.Unlock()
			return nil
		})),
		fx.Populate(&signups),
	)
	ctx := testContext(t)
	ids := []bus.CorrelationID{bus.NewCorrelationID(), bus.NewCorrelationID()}
	for i, user := range []string{"ada", "grace"} {
		if err := signups.Publish(bus.WithCorrelationID(ctx, ids[i]), Signup{user}); err != nil {
			t.Fatalf("Publish before Start = %v, want nil: the message is held", err)
		}
	}
	if err := signups.PublishSync(ctx, Signup{"linus"}); !errors.Is(err, fxbus.ErrNotStarted) || !strings.Contains(err.Error(), "use Publish") {
		t.Errorf("PublishSync before Start = %v, want ErrNotStarted and the fix", err)
	}
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := signups.PublishSync(ctx, Signup{"barbara"}); err != nil {
		t.Errorf("PublishSync after Start = %v", err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0] != "ada "+ids[0].String() || got[1] != "grace "+ids[1].String() || !strings.HasPrefix(got[2], "barbara ") {
		t.Errorf("handled %q, want ada and grace with their correlation IDs, in order, then barbara", got)
	}
	if err := signups.Publish(ctx, Signup{"late"}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after Stop = %v, want bus.ErrClosed", err)
	}
}

// Config.StartBuffer bounds what Publishers hold; one more is an error that
// says so, never a silent drop.
func TestStartBufferFull(t *testing.T) {
	var (
		signups fxbus.Publisher[Signup]
		handled atomic.Int32
	)
	app := fx.New(fx.NopLogger, fxbus.Module,
		fx.Supply(fxbus.Config{StartBuffer: 2}),
		fxbus.Topic[Signup]("users.signed-up"),
		handlers.Supply(handlers.RegisterFunc("users.signed-up", func(context.Context, Signup) error { handled.Add(1); return nil })),
		fx.Populate(&signups),
	)
	ctx := testContext(t)
	for i := range 2 {
		if err := signups.Publish(ctx, Signup{fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	err := signups.Publish(ctx, Signup{"one too many"})
	if !errors.Is(err, fxbus.ErrNotStarted) || !strings.Contains(err.Error(), "Config.StartBuffer") {
		t.Errorf("the third Publish before Start = %v, want ErrNotStarted naming Config.StartBuffer", err)
	}
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := handled.Load(); n != 2 {
		t.Errorf("handled %d, want the 2 held", n)
	}
	if err := fx.New(fx.NopLogger, fxbus.Module, fx.Supply(fxbus.Config{StartBuffer: -1}), fx.Invoke(func(*bus.Bus) {})).Err(); err == nil ||
		!strings.Contains(err.Error(), "Config.StartBuffer is -1") {
		t.Errorf("StartBuffer -1: %v, want an error", err)
	}
}

// When the start fails, the held messages go with it, and the error says
// how many.
func TestStartFailureDropsHeld(t *testing.T) {
	var signups fxbus.Publisher[Signup]
	app := fx.New(fx.NopLogger, fxbus.Module,
		fxbus.Topic[Signup]("users.signed-up"),
		// Subscribing fails at start: the topic carries Signup, not int.
		handlers.Supply(handlers.RegisterFunc("users.signed-up", func(context.Context, int) error { return nil })),
		fx.Populate(&signups),
	)
	ctx := testContext(t)
	for range 3 {
		if err := signups.Publish(ctx, Signup{"x"}); err != nil {
			t.Fatal(err)
		}
	}
	err := app.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "the 3 message(s) published before the start were dropped") {
		t.Fatalf("Start = %v, want it to fail and count the 3 held messages", err)
	}
	if err := signups.Publish(ctx, Signup{"after"}); !errors.Is(err, bus.ErrClosed) {
		t.Errorf("Publish after a failed start = %v, want bus.ErrClosed", err)
	}
}

// In synchronous mode a held message's handler errors fail the start: its
// Publish returned before the handlers ran, and could not return them.
func TestReleaseErrorFailsStart(t *testing.T) {
	errNo := errors.New("no signups today")
	app := fx.New(fx.NopLogger,
		// Listed first, so its OnStart hook runs before the bus's.
		fx.Module("early", fx.Invoke(func(lc fx.Lifecycle, p fxbus.Publisher[Signup]) {
			lc.Append(fx.StartHook(func(ctx context.Context) error { return p.Publish(ctx, Signup{"x"}) }))
		})),
		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fxbus.Topic[Signup]("users.signed-up"),
		handlers.Supply(handlers.RegisterFunc("users.signed-up", func(context.Context, Signup) error { return errNo }, handlers.NoDeadLetters())),
	)
	err := app.Start(testContext(t))
	if !errors.Is(err, errNo) || !strings.Contains(err.Error(), `published on "users.signed-up" before the start`) {
		t.Errorf("Start = %v, want the handler's error, naming the held message's topic", err)
	}
}

// A handlers.Registration provided with plain fx.Provide is in the graph
// but not in the handler group: the app fails to build with the fix.
func TestRegistrationOutsideTheGroup(t *testing.T) {
	newAudit := func() handlers.Registration {
		return handlers.RegisterFunc("users.signed-up", func(context.Context, Signup) error { return nil }, bus.Name("audit"))
	}
	newWorkers := func() []handlers.Registration {
		return []handlers.Registration{handlers.RegisterFunc("users.signed-up", func(context.Context, Signup) error { return nil }, bus.Name("w1"))}
	}
	for name, opt := range map[string]fx.Option{
		"one":   fx.Provide(newAudit),
		"slice": fx.Provide(newWorkers),
	} {
		t.Run(name, func(t *testing.T) {
			err := fx.New(fx.NopLogger, fxbus.Module, fxbus.Topic[Signup]("users.signed-up"), opt).Err()
			if err == nil || !strings.Contains(err.Error(), "plain handlers.Registration, so nothing subscribes it") ||
				!strings.Contains(err.Error(), "handlers.Provide(") || !strings.Contains(err.Error(), `handler "`) {
				t.Errorf("fx.New = %v, want the project's error that names the handler and says to use handlers.Provide", err)
			}
		})
	}
}

// Config.NoRetryWait: retries happen at once, whatever the backoff.
func TestNoRetryWait(t *testing.T) {
	var calls atomic.Int32
	var signups fxbus.Publisher[Signup]
	app := fx.New(fx.NopLogger, fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous, c.NoRetryWait = true, true }),
		fxbus.Topic[Signup]("users.signed-up"),
		handlers.Supply(handlers.RegisterFunc("users.signed-up", func(context.Context, Signup) error {
			calls.Add(1)
			return errors.New("not yet")
		}, handlers.Retry(3, handlers.Backoff(time.Hour, time.Hour)), handlers.NoDeadLetters())),
		fx.Populate(&signups),
	)
	ctx := testContext(t)
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := signups.Publish(ctx, Signup{"x"}); err == nil || calls.Load() != 3 {
		t.Errorf("Publish = %v after %d calls, want the handler's error after 3 (and no hour of waiting)", err, calls.Load())
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// A handler that runs while the held messages are released (on a
// synchronous bus, the release runs it) may publish with PublishSync: it
// runs only once every handler is subscribed.
func TestHandlerPublishSyncDuringRelease(t *testing.T) {
	var welcomed atomic.Int32
	app := fx.New(fx.NopLogger,
		fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }),
		fx.Module("early", fx.Invoke(func(lc fx.Lifecycle, p fxbus.Publisher[Signup]) {
			lc.Append(fx.StartHook(func(ctx context.Context) error { return p.Publish(ctx, Signup{"ada"}) }))
		})),
		fxbus.Module,
		fxbus.Topic[Signup]("users.signed-up"),
		fxbus.Topic[Welcome]("users.welcomed"),
		handlers.Provide(func(welcomes fxbus.Publisher[Welcome]) handlers.Registration {
			return handlers.RegisterFunc("users.signed-up", func(ctx context.Context, s Signup) error {
				return welcomes.PublishSync(ctx, Welcome(s))
			}, handlers.NoDeadLetters())
		}),
		handlers.Supply(handlers.RegisterFunc("users.welcomed", func(context.Context, Welcome) error { welcomed.Add(1); return nil })),
	)
	ctx := testContext(t)
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v: the handler's PublishSync failed?", err)
	}
	if n := welcomed.Load(); n != 1 {
		t.Errorf("welcomed %d, want 1", n)
	}
}

// A nil context is refused before the start as after it, not held.
func TestPublishNilContextBeforeStart(t *testing.T) {
	var signups fxbus.Publisher[Signup]
	app := fx.New(fx.NopLogger, fxbus.Module, fxbus.Topic[Signup]("users.signed-up"), fx.Populate(&signups))
	var nilCtx context.Context // the bad input under test, hidden from vet
	if err := signups.Publish(nilCtx, Signup{"x"}); err == nil || !strings.Contains(err.Error(), "nil context") {
		t.Errorf("Publish(nil, ...) before the start = %v, want the bus's error", err)
	}
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
}
