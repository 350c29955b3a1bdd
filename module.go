package fxbus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/decl"
	"github.com/fxbus/fxbus/internal/fxgroup"
	"github.com/fxbus/fxbus/internal/observe"
	"github.com/fxbus/fxbus/internal/quote"
	"github.com/fxbus/fxbus/internal/source"
	"github.com/fxbus/fxbus/lifecycle"
	"github.com/fxbus/fxbus/metrics"
)

// The value groups that carry topic declarations and Configure functions to
// the module. Handler registrations travel in fxgroup.Handlers.
const (
	topicGroup  = "fxbus.topics"
	configGroup = "fxbus.config"
)

// Module provides a *bus.Bus to an fx app and runs it with the app.
//
// It takes, all optional: a *zap.Logger (default: no logging), a
// prometheus.Registerer (metrics are registered only when one is given), and
// a Config (set it with fx.Supply, fx.Decorate or Configure). It collects the
// handler registrations of the value group fxgroup.Handlers and the topics
// that Topic and NamedTopic declare. At start it subscribes the handlers,
// then releases what Publishers held until then; at stop it drains and
// closes the bus (see package lifecycle). It provides the *bus.Bus and the
// bus's *metrics.Metrics (whose Collector serves prometheus/testutil), not
// the logger or the registry.
//
// Start order is structural: the hook that subscribes the handlers is
// appended by the module's invoke that consumes the handler group, so every
// handler's dependencies were built, and their OnStart hooks run, before
// it; and the Publishers that Topic provides hold what is published before
// that hook ran (see Publisher). Modules may be listed in any order.
//
// Include Module once, at the app's root: fx cannot provide a *bus.Bus
// twice, and says so with "cannot provide *bus.Bus ... already provided".
// A feature module that needs the bus asks for it (or for a Publisher)
// instead of including Module.
//
// A handlers.Registration provided with plain fx.Provide (outside the
// handler group) makes the app fail to build with an error that names the
// handler and says to use handlers.Provide.
var Module = fx.Module("fxbus",
	fx.Provide(fx.Private, resolveConfig, newLog),
	fx.Provide(newBus, newStartGate, newMetrics),
	fx.Supply(&fxgroup.Reader{}),
	fx.Invoke(run),
)

// Config configures the bus that Module provides. The zero Config is the
// default; supply one with fx.Supply(fxbus.Config{...}), change a supplied
// one with fx.Decorate, or change fields whether or not one was supplied
// with Configure.
//
// Buffer size and slow-subscriber policy are per subscription: pass them to
// a handler's registration beside its handlers options. DefaultBuffer and
// DefaultPolicy set what a subscription gets when it sets none.
type Config struct {
	// DefaultBuffer is the queue size of subscriptions that set none. Zero
	// means bus.DefaultBuffer.
	DefaultBuffer int

	// DefaultPolicy is the slow-subscriber policy of subscriptions that set
	// none. The zero Policy is bus.Block(). In YAML or JSON configuration it
	// reads as text: "block", "block:2s", "drop-newest", "drop-oldest" or
	// "disconnect:N" (see bus.Policy's UnmarshalText).
	DefaultPolicy bus.Policy

	// Synchronous makes Publish wait until every handler has handled the
	// message and return their errors, like PublishSync. Meant for tests.
	Synchronous bool

	// DrainTimeout bounds how long the app's stop waits for the bus to
	// drain. Zero means no bound of its own. Either way the drain gives up
	// before fx's stop deadline (fx.StopTimeout, 15 s by default), keeping
	// KillGrace plus a tenth of the time left (at most half of it) in
	// reserve: when that deadline passes fx skips the stop hooks left (the
	// handlers' dependencies) and app.Stop returns only the context's
	// error, not the bus's report.
	DrainTimeout time.Duration

	// KillGrace is how long the stop waits, once the drain gave up and the
	// handlers' contexts were cancelled, for the handlers still running to
	// return. Zero means the bus's default (one second).
	KillGrace time.Duration

	// StartBuffer bounds how many messages, in all, the app's Publishers
	// hold before the start (see Publisher); a Publish beyond it fails with
	// an error matching ErrNotStarted. Zero means DefaultStartBuffer.
	StartBuffer int

	// NoRetryWait makes handlers retry at once instead of waiting their
	// backoff between attempts. Meant for tests (fxtest.NoRetryWait).
	NoRetryWait bool
}

func (c Config) validate() error {
	if c.DefaultBuffer < 0 {
		return fmt.Errorf("fxbus: Config.DefaultBuffer is %d: use a positive size, or 0 for bus.DefaultBuffer", c.DefaultBuffer)
	}
	if _, err := bus.CheckSubscribeOptions(bus.WithPolicy(c.DefaultPolicy)); err != nil {
		return fmt.Errorf("fxbus: Config.DefaultPolicy: %w", err)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("fxbus: Config.DrainTimeout is %v: use a positive duration, or 0 to drain as long as the stop context allows", c.DrainTimeout)
	}
	if c.KillGrace < 0 {
		return fmt.Errorf("fxbus: Config.KillGrace is %v: use a positive duration, or 0 for the bus's default", c.KillGrace)
	}
	if c.StartBuffer < 0 {
		return fmt.Errorf("fxbus: Config.StartBuffer is %d: use a positive count, or 0 for DefaultStartBuffer (%d)", c.StartBuffer, DefaultStartBuffer)
	}
	return nil
}

// configFunc is one Configure function in the config group.
type configFunc func(*Config)

// Configure changes the Config that Module uses. Unlike fx.Decorate it works
// whether or not a Config was supplied, which suits test helpers, for
// example fxbus.Configure(func(c *fxbus.Config) { c.Synchronous = true }).
// Configure functions run after the supplied Config is read, in no fixed
// order (fx value groups have none): let each one set its own fields.
func Configure(fn func(*Config)) fx.Option {
	if fn == nil {
		return fx.Error(fmt.Errorf("fxbus.Configure: nil function"))
	}
	return fx.Supply(fx.Annotated{Group: configGroup, Target: configFunc(fn)})
}

// settings is the Config after Configure: private to the module.
type settings struct{ Config }

type configIn struct {
	fx.In
	Config    Config       `optional:"true"`
	Configure []configFunc `group:"fxbus.config"`
}

func resolveConfig(in configIn) (settings, error) {
	c := in.Config
	for _, fn := range in.Configure {
		fn(&c)
	}
	if err := c.validate(); err != nil {
		return settings{}, err
	}
	return settings{c}, nil
}

type logIn struct {
	fx.In
	Logger *zap.Logger `optional:"true"`
}

func newLog(in logIn) *lifecycle.Log { return lifecycle.NewLog(in.Logger) }

type busIn struct {
	fx.In
	Settings settings
	Log      *lifecycle.Log
}

func newBus(in busIn) (*bus.Bus, error) {
	return NewBus(in.Settings.Config, bus.WithHooks(in.Log.Hooks()))
}

// NewBus returns a bus configured by cfg, with opts after the ones cfg
// makes. It is the constructor Module uses; without fx, pass
// bus.WithHooks(log.Hooks()) to log drops and disconnects through a
// lifecycle.Log, give the same log and bus to lifecycle.New, and call the
// Runner's Start and Stop.
func NewBus(cfg Config, opts ...bus.Option) (*bus.Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts = slices.Clone(opts)
	if cfg.Synchronous {
		opts = append(opts, bus.Synchronous())
	}
	if cfg.KillGrace > 0 {
		opts = append(opts, bus.KillGrace(cfg.KillGrace))
	}
	var defaults []bus.SubscribeOption
	if cfg.DefaultBuffer > 0 {
		defaults = append(defaults, bus.Buffer(cfg.DefaultBuffer))
	}
	if cfg.DefaultPolicy != (bus.Policy{}) {
		defaults = append(defaults, bus.WithPolicy(cfg.DefaultPolicy))
	}
	if len(defaults) > 0 {
		opts = append(opts, bus.Defaults(defaults...))
	}
	return bus.New(opts...), nil
}

type runIn struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Bus        *bus.Bus
	Gate       *startGate
	Metrics    *metrics.Metrics
	Settings   settings
	Log        *lifecycle.Log
	Registerer prometheus.Registerer    `optional:"true"`
	Handlers   []handlers.Registration  `group:"fxbus.handlers"`
	Topics     []decl.Declaration       `group:"fxbus.topics"`
	Instrument *observe.Instrumentation `optional:"true"`

	// Registrations provided with plain fx.Provide: nothing subscribes
	// them, so run fails with the fix.
	Stray  handlers.Registration   `optional:"true"`
	Strays []handlers.Registration `optional:"true"`
}

// run is the invoke that consumes the handler group, so that the start hook
// it appends runs after the OnStart hooks of everything the handlers depend
// on, and its stop hook after the OnStop hooks of everything built later.
func run(in runIn) error {
	if err := strays(in.Stray, in.Strays); err != nil {
		return err
	}
	opts := lifecycle.Options{
		Log:          in.Log,
		Topics:       in.Topics,
		DrainTimeout: in.Settings.DrainTimeout,
	}
	if in.Registerer != nil {
		// Without a Registerer nothing is registered and no call is timed.
		opts.Observer = in.Metrics.Observer()
	}
	if in.Instrument != nil {
		opts.Interceptor = in.Instrument.Handlers
	}
	if in.Settings.NoRetryWait {
		opts.Wait = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
	}
	s := &stage{r: lifecycle.New(in.Bus, in.Handlers, opts), g: in.Gate, m: in.Metrics, reg: in.Registerer}
	in.Lifecycle.Append(fx.Hook{OnStart: s.start, OnStop: s.stop})
	return nil
}

// stage is the bus's part of the app's start and stop: the Runner, the
// metrics around it, and the start gate of the Publishers.
type stage struct {
	r   *lifecycle.Runner
	g   *startGate
	m   *metrics.Metrics
	reg prometheus.Registerer // nil: the metrics are registered nowhere
}

func (s *stage) start(ctx context.Context) error {
	if s.reg != nil {
		if err := s.m.Register(s.reg); err != nil {
			err = fmt.Errorf("fxbus: start: registering the bus's metrics: %w", err)
			return s.fail(ctx, errors.Join(err, s.r.Stop(ctx)))
		}
	}
	if err := s.r.Start(ctx); err != nil {
		return s.fail(ctx, err)
	}
	if err := s.g.release(ctx); err != nil {
		// fx calls no OnStop for a hook whose OnStart failed.
		return errors.Join(err, s.stop(ctx))
	}
	return nil
}

// fail undoes a start that failed: the held messages are dropped and the
// metrics unregistered (the Runner closed the bus).
func (s *stage) fail(_ context.Context, err error) error {
	if n := s.g.drop(); n > 0 {
		err = errors.Join(err, fmt.Errorf("fxbus: the %d message(s) published before the start were dropped with it", n))
	}
	s.m.Close()
	return err
}

func (s *stage) stop(ctx context.Context) error {
	err := s.r.Stop(ctx)
	s.m.Close()
	return err
}

// strays reports registrations that reached the graph outside the handler
// group: provided with fx.Provide instead of handlers.Provide.
func strays(one handlers.Registration, many []handlers.Registration) error {
	var found []string
	if one.Info().Type != nil {
		found = append(found, one.String())
	}
	for _, r := range many {
		found = append(found, r.String())
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("fxbus: %s: provided with fx.Provide (or fx.Supply) as a plain handlers.Registration, so nothing subscribes it: "+
		"register it with handlers.Provide(NewHandler) (or handlers.Supply), which puts it in the handler group", strings.Join(found, "; "))
}

type metricsIn struct {
	fx.In
	Bus *bus.Bus
}

// newMetrics makes the bus's metrics, registered nowhere yet: the start
// registers them when the app has a prometheus.Registerer.
func newMetrics(in metricsIn) (*metrics.Metrics, error) { return metrics.New(nil, in.Bus) }

// Topic declares the topic called name with message type T. It provides a
// Publisher[T], which holds what it gets before the start (see Publisher),
// and tells Module that handlers may subscribe to name. Declare a topic once
// per app; for a second topic of the same type use NamedTopic (fx holds one
// unnamed value per type). A constructor that asks for a Publisher[T] of a
// T that no Topic declares fails with fx's "missing type:
// fxbus.Publisher[T]": add fxbus.Topic[T]("name") to the app's options. For
// the *bus.Topic[T] itself (to subscribe a channel), ask for the *bus.Bus
// and call bus.NewTopic.
//
// The name must follow the bus's naming rules (see package bus), or the app
// fails to build. If the same name is declared with two types, the app fails
// with a *bus.TypeError that names the topic, both types and where each was
// declared. Without Module (or a *bus.Bus of the app's own) in the app, a
// constructor that asks for the topic fails with an error that says so.
func Topic[T any](name string) fx.Option {
	at := source.Caller(0)
	what := fmt.Sprintf("fxbus.Topic[%s](%s) in %s", source.TypeName[T](), quote.String(name), at)
	if err := bus.ValidateTopic(name); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	return topicOptions[T](name, what, at)
}

// NamedTopic is Topic for apps with several topics of one message type: it
// provides the Publisher[T] with the fx name fxName, so
// that a constructor asks for them with a `name:"<fxName>"` tag (fx.ParamTags
// or a field of an fx.In struct). fxName may use letters, digits and
// '.', '-', '_', '/', ':'.
func NamedTopic[T any](name, fxName string) fx.Option {
	at := source.Caller(0)
	what := fmt.Sprintf("fxbus.NamedTopic[%s](%s, %s) in %s", source.TypeName[T](), quote.String(name), quote.String(fxName), at)
	if err := bus.ValidateTopic(name); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	if err := validateFxName(fxName); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	return topicOptions[T](name, what, at, fx.ResultTags(`name:"`+fxName+`"`))
}

// topicOptions provides the Publisher of the topic called name, with extra
// annotations of the result, and supplies its declaration, made at at, to
// the runner; what is the declaration as errors name it.
func topicOptions[T any](name, what, at string, results ...fx.Annotation) fx.Option {
	annotations := append([]fx.Annotation{fx.ParamTags(`optional:"true"`, `optional:"true"`, `group:"`+topicGroup+`"`, `optional:"true"`)}, results...)
	return fx.Options(
		fx.Provide(fx.Annotate(func(b *bus.Bus, g *startGate, decls []decl.Declaration, in *observe.Instrumentation) (Publisher[T], error) {
			p, err := newPublisher[T](b, g, name, what, decls)
			if err != nil {
				return nil, err
			}
			return instrument(p, name, in), nil
		}, annotations...)),
		fx.Supply(fx.Annotated{Group: topicGroup, Target: decl.Declare[T](name).WithSource(at)}),
	)
}

// newPublisher makes the Publisher that the declaration what provides;
// decls are the app's declarations, to name the other one when the name is
// declared with two types. Without Module's start gate (an app with a
// *bus.Bus of its own) it publishes at once.
func newPublisher[T any](b *bus.Bus, g *startGate, name, what string, decls []decl.Declaration) (Publisher[T], error) {
	if b == nil {
		return nil, fmt.Errorf("%s: the app has no *bus.Bus: add fxbus.Module to its fx.Options (or provide a *bus.Bus of its own)", what)
	}
	t, err := bus.NewTopic[T](b, name)
	if err != nil {
		for _, d := range decls {
			if d.Name() == name && d.Type() != reflect.TypeFor[T]() {
				err = fmt.Errorf("%w (the topic is also declared by %s)", err, d)
				break
			}
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return &publisher[T]{t: t, g: g}, nil
}

func validateFxName(n string) error {
	if n == "" {
		return fmt.Errorf("empty fx name: give the topic a name to ask for it by, or use Topic")
	}
	for _, c := range n {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == '/' || c == ':'
		if !ok {
			return fmt.Errorf("fx name %s contains %q: use letters, digits, '.', '-', '_', '/' or ':'", quote.String(n), c)
		}
	}
	return nil
}
