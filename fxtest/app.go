package fxtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/quote"
	"github.com/fxbus/fxbus/internal/source"
)

// TB is the part of testing.TB that fxtest uses. *testing.T and *testing.B
// satisfy it; so can a fake, to test a test helper.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	FailNow()
	Cleanup(func())
}

// DefaultTimeout bounds fxtest's waits unless the Timeout option sets
// another bound: App.WaitIdle, a Recorder's WaitN and AssertNone, the test
// doubles' WaitN, and RequirePublish.
const DefaultTimeout = 10 * time.Second

// optionsGroup carries fxtest's own options through the app's graph, so that
// they mix with fx options in New's arguments.
const optionsGroup = "fxtest.options"

// appName is the fx name under which New supplies the *App, for recorders.
const appName = "fxtest.app"

// App is a started fx app with fxbus.Module, made by New. It stops when the
// test ends, or earlier with Stop or RequireStop.
type App struct {
	tb     TB
	seq    uint64        // the number in the app's goroutine label
	labels labels        // the labels New set on its goroutine
	ignore goleak.Option // the goroutines that ran before New
	cfg    settings

	app     *fx.App
	bus     *bus.Bus
	started bool

	mu      sync.Mutex
	stopped bool
	stopErr error
}

// settings are what fxtest's options set.
type settings struct {
	async       bool
	noRetryWait bool
	noLeaks     bool
	leakOpts    []goleak.Option
	timeout     time.Duration
	errs        []error
}

// setting is one fxtest option in the options group.
type setting struct{ apply func(*settings) }

func option(fn func(*settings)) fx.Option {
	return fx.Supply(fx.Annotated{Group: optionsGroup, Target: setting{fn}})
}

// Async makes the bus asynchronous, as in production: Publish returns once
// every subscriber has queued (or dropped) the message, and handlers run on
// the bus's workers. Wait for them with App.WaitIdle, a Recorder's WaitN or a
// test double's WaitN. Without Async the bus is synchronous: Publish returns
// after every handler has run, with their joined errors.
func Async() fx.Option {
	return option(func(s *settings) { s.async = true })
}

// NoRetryWait makes handlers retry at once instead of waiting their
// backoff between attempts (fxbus.Config.NoRetryWait), so that a test of
// retries and dead letters takes no time: a handler with the default
// backoff that fails three times would otherwise wait 0.3 s. The attempts
// and their order are the same; only the waits go.
func NoRetryWait() fx.Option {
	return option(func(s *settings) { s.noRetryWait = true })
}

// NoLeakCheck turns off the check for leaked goroutines that New runs when
// the app stops (see New).
func NoLeakCheck() fx.Option {
	return option(func(s *settings) { s.noLeaks = true })
}

// LeakCheck passes options to the leak check that New runs when the app
// stops, typically goleak.IgnoreTopFunction for a goroutine that a library
// starts once per process. The check is on by default; LeakCheck does not
// turn it back on after NoLeakCheck.
func LeakCheck(opts ...goleak.Option) fx.Option {
	for i, o := range opts {
		if o == nil {
			return option(func(s *settings) {
				s.errs = append(s.errs, fmt.Errorf("fxtest.LeakCheck: option %d of %d is nil", i+1, len(opts)))
			})
		}
	}
	return option(func(s *settings) { s.leakOpts = append(s.leakOpts, opts...) })
}

// Timeout bounds fxtest's waits on the app (see DefaultTimeout), which is
// how long a test that waits for something that never comes takes to fail;
// it also bounds RequirePublish.
// It does not change fx's start and stop timeouts (fx.StartTimeout,
// fx.StopTimeout).
func Timeout(d time.Duration) fx.Option {
	return option(func(s *settings) {
		if d <= 0 {
			s.errs = append(s.errs, fmt.Errorf("fxtest.Timeout(%v): want a positive duration", d))
			return
		}
		s.timeout = d
	})
}

type settingsIn struct {
	fx.In
	Settings []setting `group:"fxtest.options"`
}

// New builds an fx app from opts and fxbus.Module in synchronous mode
// (fxbus.Config.Synchronous; see Async), starts it, and stops it when the
// test ends (tb.Cleanup). It fails the test with the app's error if the app
// does not build, start or stop. Publish on a synchronous bus returns once
// every handler has handled the message, with their joined errors, so a test
// can assert right after publishing:
//
//	var orders fxbus.Publisher[Order]
//	app := fxtest.New(t, fxbus.Topic[Order]("orders"), handlers.Supply(...), fx.Populate(&orders))
//	err := orders.Publish(ctx, Order{ID: "a"}) // the handlers have run
//
// New adds fxbus.Module unless opts already provide a *bus.Bus (an app's
// own module that includes fxbus.Module, say). fxtest's options (Async,
// NoLeakCheck, LeakCheck, Timeout, a Recorder's Option) go among opts; fx
// logs nothing unless opts have an fx.WithLogger.
//
// New labels the goroutine that calls it with a runtime/pprof label of the
// app's own, which the goroutines it starts from then on inherit: the app's
// constructors and hooks, the bus's workers that the test's publishes start,
// and what handlers start. When the app has stopped, New's cleanup checks
// that no goroutine with that label is still running (goleak.Find, after
// goleak's own retries), and fails the test with their stacks if one is.
// Goroutines of other apps, in parallel tests, carry other labels and are
// neither reported nor waited for. A goroutine that also carries the label
// of an app made earlier, by the same test or an enclosing one (a subtest
// that publishes to its parent's app), is left to that app's check, which
// runs later; the check logs that. Goroutines that run tests are never
// leaks. New replaces labels that the test itself set on its goroutine.
// Call t.Parallel before New.
//
// A nil tb panics: there is no other way to report it.
func New(tb TB, opts ...fx.Option) *App {
	if tb == nil {
		panic("fxtest.New: nil TB: pass the test's *testing.T")
	}
	tb.Helper()
	a := &App{tb: tb, seq: appSeq.Add(1), ignore: goleak.IgnoreCurrent(), cfg: settings{timeout: DefaultTimeout}}
	a.labels = labelGoroutine(tb.Name(), a.seq)
	tb.Cleanup(a.cleanup)

	for i, o := range opts {
		if o == nil {
			a.labels.undo()
			tb.Errorf("fxtest.New: option %d of %d is nil", i+1, len(opts))
			tb.FailNow()
			return a
		}
	}
	all := []fx.Option{
		fx.NopLogger,
		// Its invoke runs first, before the bus is built.
		fx.Module("fxtest", fx.Invoke(a.readSettings)),
		fx.Supply(fx.Annotated{Name: appName, Target: a}),
	}
	addModule := !providesBus(opts)
	if addModule {
		all = append(all, fxbus.Module)
	}
	all = append(all, fxbus.Configure(a.configure))
	all = append(all, opts...)
	all = append(all, fx.Populate(&a.bus))
	a.app = fx.New(all...)
	if err := a.app.Err(); err != nil {
		if addModule {
			err = ownError(opts, err)
		}
		a.labels.undo() // nothing runs: no leak check
		tb.Errorf("fxtest.New: the app did not build: %v", err)
		tb.FailNow()
		return a
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.app.StartTimeout())
	defer cancel()
	if err := a.app.Start(ctx); err != nil {
		a.labels.undo() // fx undid the start
		tb.Errorf("fxtest.New: the app did not start: %v", err)
		tb.FailNow()
		return a
	}
	a.started = true
	return a
}

func (a *App) readSettings(in settingsIn) error {
	for _, s := range in.Settings {
		s.apply(&a.cfg)
	}
	if len(a.cfg.errs) > 0 {
		return errors.Join(a.cfg.errs...)
	}
	return nil
}

func (a *App) configure(c *fxbus.Config) {
	if !a.cfg.async {
		c.Synchronous = true
	}
	if a.cfg.noRetryWait {
		c.NoRetryWait = true
	}
}

// providesBus reports whether opts provide a *bus.Bus on their own, checked
// without running any constructor or invoke (fx.ValidateApp).
func providesBus(opts []fx.Option) bool {
	return fx.ValidateApp(fx.NopLogger, fx.Options(opts...), fx.Invoke(func(*bus.Bus) {})) == nil
}

// ownError chooses what to report when opts with fxbus.Module did not
// build (err), by trial builds rather than by reading fx's error: if opts
// fail even when a stand-in *bus.Bus is added to them, either they provide
// a bus themselves (the stand-in is a second one, as fxbus.Module was), or
// they have an error that the module would not cure; either way their own
// error, without the module, is the one to fix. If the stand-in cures them,
// the module is what clashed with them, and err says how.
func ownError(opts []fx.Option, err error) error {
	standIn := fx.Supply(new(bus.Bus))
	if fx.ValidateApp(fx.NopLogger, fx.Options(opts...), standIn) == nil {
		return err
	}
	if own := fx.ValidateApp(fx.NopLogger, fx.Options(opts...)); own != nil {
		return own
	}
	return err
}

// Bus returns the app's bus, for Stats, WaitIdle or bus.NewTopic. It is nil
// if the app did not build.
func (a *App) Bus() *bus.Bus { return a.bus }

// Stop stops the app now (draining the bus) and returns fx's stop error,
// without failing the test: for tests that expect a stop error, such as a
// *bus.ShutdownError. Later calls return the same error. The leak check still
// runs when the test ends.
func (a *App) Stop() error {
	_, err := a.stop()
	return err
}

// RequireStop stops the app now and fails the test if the stop fails, so
// that a test can check what happened at stop (what the bus drained, what
// its dependencies saw when they closed).
func (a *App) RequireStop() {
	a.tb.Helper()
	if err := a.Stop(); err != nil {
		a.tb.Errorf("fxtest: the app did not stop cleanly: %v", err)
		a.tb.FailNow()
	}
}

// stop stops the app once; first is true for the call that stopped it.
func (a *App) stop() (first bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return false, a.stopErr
	}
	a.stopped = true
	if a.started {
		ctx, cancel := context.WithTimeout(context.Background(), a.app.StopTimeout())
		a.stopErr = a.app.Stop(ctx)
		cancel()
		a.logStats()
	}
	return true, a.stopErr
}

// logStats logs what went wrong on the bus, for a test that fails later.
func (a *App) logStats() {
	if a.bus == nil {
		return
	}
	for _, s := range a.bus.Stats().Subscriptions {
		if s.Failed > 0 || s.Dropped.Total() > 0 {
			a.tb.Logf("fxtest: %s: %d handler call(s) failed; %s", subscriberName(s), s.Failed, dropsText(s.Dropped))
		}
	}
}

func (a *App) cleanup() {
	if first, err := a.stop(); first && err != nil {
		a.tb.Errorf("fxtest: the app did not stop cleanly: %v", err)
	}
	if a.started && !a.cfg.noLeaks {
		a.checkLeaks()
	}
	if a.started {
		a.labels.forget()
	}
}

// WaitIdle waits until no queue of the bus holds a message and no handler
// runs, and fails the test if that takes longer than the Timeout (a Blocker
// that was never released, say). In asynchronous mode, call it before
// asserting what the handlers did.
func (a *App) WaitIdle() {
	a.tb.Helper()
	if a.bus == nil {
		a.tb.Errorf("fxtest: App.WaitIdle: the app has no bus (it did not build)")
		a.tb.FailNow()
		return
	}
	if err := waitIdle(a.bus, a.cfg.timeout); err != nil {
		a.tb.Errorf("fxtest: App.WaitIdle: %v", err)
		a.tb.FailNow()
	}
}

// waitIdle waits for b to be idle, and says what kept it busy if it was not.
func waitIdle(b *bus.Bus, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if b.WaitIdle(ctx) == nil {
		return nil
	}
	var busy []string
	for _, s := range b.Stats().Subscriptions {
		if s.Queued > 0 {
			busy = append(busy, fmt.Sprintf("%s has %d message(s) queued or being handled", subscriberName(s), s.Queued))
		}
	}
	if len(busy) == 0 {
		busy = append(busy, "a handler is still running")
	}
	return fmt.Errorf("the bus was not idle after %v: %s (a handler blocked on something the test never released?)", d, strings.Join(busy, "; "))
}

// RequirePublish publishes v on the topic called topic of app's bus and
// fails the test if that fails: on a synchronous bus (the default), when a
// handler returns an error, with the handlers' errors in the message. The
// topic must exist on the bus with message type T (fxbus.Topic declares it).
func RequirePublish[T any](app *App, topic string, v T) {
	if app == nil || app.tb == nil {
		panic(fmt.Sprintf("fxtest.RequirePublish[%s](%s): nil *App: pass the app that fxtest.New returned", source.TypeName[T](), quote.String(topic)))
	}
	app.tb.Helper()
	if err := publish(app, topic, v); err != nil {
		app.tb.Errorf("fxtest.RequirePublish[%s](%s, %s): %v", source.TypeName[T](), quote.String(topic), quote.Value(v), err)
		app.tb.FailNow()
	}
}

func publish[T any](app *App, topic string, v T) error {
	if app.bus == nil {
		return fmt.Errorf("the app has no bus (it did not build)")
	}
	if !hasTopic(app.bus, topic) {
		if err := bus.ValidateTopic(topic); err != nil {
			return err
		}
		return fmt.Errorf("no topic %s on the bus: declare it with fxbus.Topic[%s](%[1]s), or check the name", quote.String(topic), source.TypeName[T]())
	}
	t, err := bus.NewTopic[T](app.bus, topic)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), app.cfg.timeout)
	defer cancel()
	return t.Publish(ctx, v)
}

func hasTopic(b *bus.Bus, name string) bool {
	for _, t := range b.Stats().Topics {
		if t.Name == name {
			return true
		}
	}
	return false
}

// subscriberName names a subscriber for messages: "audit on orders.placed".
func subscriberName(s bus.SubscriptionStats) string {
	return fmt.Sprintf("subscriber %s on %s", quote.String(s.Name), quote.String(s.Pattern))
}

// dropsText says what a subscriber dropped, by reason: "dropped 3 (2 full,
// 1 evicted)", or "dropped nothing".
func dropsText(d bus.DropCounts) string {
	if d.Total() == 0 {
		return "dropped nothing"
	}
	var parts []string
	for _, r := range bus.DropReasons() {
		if n := d[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
	}
	return fmt.Sprintf("dropped %d (%s)", d.Total(), strings.Join(parts, ", "))
}
