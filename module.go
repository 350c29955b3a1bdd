package fxbus

import (
	"context"
	"fmt"
	"path"
	"reflect"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/lifecycle"
)

// The value groups that carry topic declarations and Configure functions to
// the module. Handler registrations travel in handlers.Group.
const (
	topicGroup  = "fxbus.topics"
	configGroup = "fxbus.config"
)

// Module provides a *bus.Bus to an fx app and runs it with the app.
//
// It takes, all optional: a *zap.Logger (default: no logging), a
// prometheus.Registerer (metrics are registered only when one is given), and
// a Config (set it with fx.Supply, fx.Decorate or Configure). It collects the
// handler registrations of the value group handlers.Group and the topics
// that Topic and NamedTopic declare. At start it subscribes the handlers; at
// stop it drains and closes the bus (see package lifecycle). It provides
// nothing but the *bus.Bus: not the logger, not the registry.
//
// The module's stop hook is appended by its own invoke, which fx runs before
// the invokes of the app's root and of modules listed after it: components
// that those invokes build stop before the bus, and what the handlers depend
// on stops after it. List Module before your own modules whose invokes
// publish at start.
var Module = fx.Module("fxbus",
	fx.Provide(fx.Private, resolveConfig, newLog),
	fx.Provide(newBus),
	fx.Supply(&handlers.GroupReader{}),
	fx.Invoke(run),
)

// Config configures the bus that Module provides. The zero Config is the
// default; supply one with fx.Supply(fxbus.Config{...}), change a supplied
// one with fx.Decorate, or change fields whether or not one was supplied
// with Configure.
//
// Buffer size and slow-subscriber policy are per subscription: pass them to
// a handler with handlers.WithSubscribeOptions. DefaultBuffer and
// DefaultPolicy set what a subscription gets when it sets none.
type Config struct {
	// DefaultBuffer is the queue size of subscriptions that set none. Zero
	// means bus.DefaultBuffer.
	DefaultBuffer int

	// DefaultPolicy is the slow-subscriber policy of subscriptions that set
	// none. The zero Policy is bus.Block(). In YAML or JSON configuration it
	// reads as text: "block", "block:2s", "drop-newest", "drop-oldest" or
	// "disconnect:N" (see bus.ParsePolicy).
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
}

func (c Config) validate() error {
	if c.DefaultBuffer < 0 {
		return fmt.Errorf("fxbus: Config.DefaultBuffer is %d: use a positive size, or 0 for bus.DefaultBuffer", c.DefaultBuffer)
	}
	if err := bus.ValidatePolicy(c.DefaultPolicy); err != nil {
		return fmt.Errorf("fxbus: Config.DefaultPolicy: %w", err)
	}
	if c.DrainTimeout < 0 {
		return fmt.Errorf("fxbus: Config.DrainTimeout is %v: use a positive duration, or 0 to drain as long as the stop context allows", c.DrainTimeout)
	}
	if c.KillGrace < 0 {
		return fmt.Errorf("fxbus: Config.KillGrace is %v: use a positive duration, or 0 for the bus's default", c.KillGrace)
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

func newBus(in busIn) (*bus.Bus, error) { return NewBus(in.Settings.Config, in.Log) }

// NewBus returns a bus configured by cfg that logs drops and disconnects
// through log (nil: no logging). It is the constructor Module uses; without
// fx, give the same log and bus to lifecycle.New and call the Runner's Start
// and Stop.
func NewBus(cfg Config, log *lifecycle.Log) (*bus.Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	opts := []bus.Option{bus.WithHooks(log.Hooks())}
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
	Settings   settings
	Log        *lifecycle.Log
	Registerer prometheus.Registerer   `optional:"true"`
	Handlers   []handlers.Registration `group:"fxbus.handlers"`
	Topics     []lifecycle.Declaration `group:"fxbus.topics"`
}

// run is the invoke that consumes the handler group, so that the stop hook
// it appends sits after everything the handlers depend on.
func run(in runIn) {
	r := lifecycle.New(in.Bus, in.Handlers, lifecycle.Options{
		Log:          in.Log,
		Registerer:   in.Registerer,
		Topics:       in.Topics,
		DrainTimeout: in.Settings.DrainTimeout,
		KillGrace:    in.Settings.KillGrace,
	})
	in.Lifecycle.Append(r.Hook())
}

// Publisher publishes messages of type T on one topic. Ask for it in a
// constructor after declaring the topic with Topic (or NamedTopic, with the
// matching name tag). *bus.Topic[T] implements it; so can a fake in tests.
type Publisher[T any] interface {
	// Publish offers v to every subscriber of the topic under its policy;
	// see bus.Topic.Publish.
	Publish(ctx context.Context, v T) error
	// PublishSync returns once every subscriber has taken v and every
	// handler has handled it, with their errors; see bus.Topic.PublishSync.
	PublishSync(ctx context.Context, v T) error
}

var _ Publisher[int] = (*bus.Topic[int])(nil)

// Topic declares the topic called name with message type T. It provides a
// Publisher[T] and the *bus.Topic[T], and tells Module that handlers may
// subscribe to name. Declare a topic once per app; for a second topic of the
// same type use NamedTopic (fx holds one unnamed value per type).
//
// The name must follow the bus's naming rules (see package bus), or the app
// fails to build. If the same name is declared with two types, the app fails
// with a *bus.TypeError that names the topic, both types and where each was
// declared. Without Module (or a *bus.Bus of the app's own) in the app, a
// constructor that asks for the topic fails with an error that says so.
func Topic[T any](name string) fx.Option {
	at := declaredAt()
	what := fmt.Sprintf("fxbus.Topic[%s](%q) in %s", typeName[T](), name, at)
	if err := bus.ValidateTopic(name); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	return topicOptions[T](name, what, at)
}

// NamedTopic is Topic for apps with several topics of one message type: it
// provides the Publisher[T] and the *bus.Topic[T] with the fx name fxName, so
// that a constructor asks for them with a `name:"<fxName>"` tag (fx.ParamTags
// or a field of an fx.In struct). fxName may use letters, digits and
// '.', '-', '_', '/', ':'.
func NamedTopic[T any](name, fxName string) fx.Option {
	at := declaredAt()
	what := fmt.Sprintf("fxbus.NamedTopic[%s](%q, %q) in %s", typeName[T](), name, fxName, at)
	if err := bus.ValidateTopic(name); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	if err := validateFxName(fxName); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	tag := `name:"` + fxName + `"`
	return topicOptions[T](name, what, at, fx.ResultTags(tag, tag))
}

// topicOptions provides the topic called name (and its Publisher), with
// extra annotations of the results, and supplies its declaration, made at
// at, to the runner; what is the declaration as errors name it.
func topicOptions[T any](name, what, at string, results ...fx.Annotation) fx.Option {
	annotations := append([]fx.Annotation{fx.ParamTags(`optional:"true"`, `group:"`+topicGroup+`"`)}, results...)
	return fx.Options(
		fx.Provide(fx.Annotate(func(b *bus.Bus, decls []lifecycle.Declaration) (*bus.Topic[T], Publisher[T], error) {
			return newTopic[T](b, name, what, decls)
		}, annotations...)),
		fx.Supply(fx.Annotated{Group: topicGroup, Target: lifecycle.Declare[T](name).WithSource(at)}),
	)
}

// newTopic makes the topic that the declaration what provides; decls are
// the app's declarations, to name the other one when the name is declared
// with two types.
func newTopic[T any](b *bus.Bus, name, what string, decls []lifecycle.Declaration) (*bus.Topic[T], Publisher[T], error) {
	if b == nil {
		return nil, nil, fmt.Errorf("%s: the app has no *bus.Bus: add fxbus.Module to its fx.Options (or provide a *bus.Bus of its own)", what)
	}
	t, err := bus.NewTopic[T](b, name)
	if err != nil {
		for _, d := range decls {
			if d.Name() == name && d.Type() != reflect.TypeFor[T]() {
				err = fmt.Errorf("%w (the topic is also declared by %s)", err, d)
				break
			}
		}
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return t, t, nil
}

// declaredAt returns the function and file:line that called the caller of
// declaredAt: the app code that declares a topic.
func declaredAt() string {
	var pc [1]uintptr
	if runtime.Callers(3, pc[:]) == 0 {
		return "an unknown caller"
	}
	f, _ := runtime.CallersFrames(pc[:]).Next()
	return fmt.Sprintf("%s (%s:%d)", path.Base(f.Function), path.Base(f.File), f.Line)
}

func validateFxName(n string) error {
	if n == "" {
		return fmt.Errorf("empty fx name: give the topic a name to ask for it by, or use Topic")
	}
	for _, c := range n {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == '_' || c == '/' || c == ':'
		if !ok {
			return fmt.Errorf("fx name %q contains %q: use letters, digits, '.', '-', '_', '/' or ':'", n, c)
		}
	}
	return nil
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }
