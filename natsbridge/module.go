package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/fxgroup"
	"github.com/fxbus/fxbus/internal/source"
)

const (
	exportGroup = "natsbridge.exports"
	importGroup = "natsbridge.imports"
	configGroup = "natsbridge.config"
)

// Module runs the bridge in an fx app that has fxbus.Module: it provides the
// *Bridge, subscribes the Exports on the bus, and consumes the Imports. List
// it after fxbus.Module.
//
// It takes, all optional: a Config (fx.Supply, or Configure), a *zap.Logger,
// and a prometheus.Registerer, on which it registers its metrics (the
// fxbus_bridge_ series) beside the bus's.
//
// Its hooks sit around the bus's: at start the server, the connection and the
// streams come up before the bus subscribes its handlers (the exports among
// them), and the imports start consuming after. At stop the imports stop
// first (their messages in hand are handled and acked, those pulled ahead are
// given back), then the bus drains (the exports publish what it still holds),
// then the bridge waits for the stream's acks of the exports, drains the
// connection and stops the embedded server.
var Module = fx.Module("natsbridge",
	fx.Provide(newBridge),
	fx.Provide(fx.Annotate(exportRegistrations, fx.ResultTags(`group:"`+fxgroup.Handlers+`,flatten"`))),
	fx.Supply(&moduleMarker{}),
	fx.Invoke(runImports),
)

// moduleMarker tells Export and Import that Module is in the app.
type moduleMarker struct{}

type configFunc func(*Config)

// Configure changes the Config that Module uses, whether or not one was
// supplied, like fxbus.Configure.
func Configure(fn func(*Config)) fx.Option {
	if fn == nil {
		return fx.Error(errors.New("natsbridge.Configure: nil function"))
	}
	return fx.Supply(fx.Annotated{Group: configGroup, Target: configFunc(fn)})
}

type exportDecl struct {
	pattern string
	build   func(*Bridge) export
}

type importDecl struct {
	subject string
	build   func(*Bridge) (*consumer, error)
}

// Export publishes the local events of type T on the topics that pattern
// matches to the JetStream subjects of the same names. A stream must capture
// them: the default stream does, a configured one must list them.
//
// It is a bus subscription (a handler named "natsbridge.export", see
// ExportName) that hands each event to the connection and returns, with at
// most InFlight events waiting for the stream's ack; a failed publish is
// retried (PublishRetry), then counted and logged. Events that an Import
// brought in are not exported again.
func Export[T any](pattern string, opts ...ExportOption) fx.Option {
	what := fmt.Sprintf("natsbridge.Export[%s](%q) in %s", typeName[T](), pattern, source.Caller(0))
	spec := newExportSpec(pattern, opts)
	if err := spec.err(); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	decl := exportDecl{pattern: pattern, build: func(b *Bridge) export { return newExporter[T](b, spec) }}
	return fx.Options(
		fx.Supply(fx.Annotated{Group: exportGroup, Target: decl}),
		requireModule(what),
	)
}

// Import consumes the JetStream subject (wildcards allowed) with a durable
// consumer and publishes each message, decoded as a T, on the local topic of
// the same name with PublishSync: it is acked once every local handler
// returned nil. A handler error gives the message back to be delivered again
// after a Backoff; after MaxDeliver deliveries, or at once if it does not
// decode or a handler's error is marked handlers.Permanent, the message goes
// to the dead-letter subject (DeadLetterSubject), then is acked.
//
// The broker owns the retries of imported messages: their handlers make one
// call per delivery whatever their handlers.Retry, and publish no local dead
// letters (the import marks its publishes); handlers.AttemptFrom returns the
// delivery count.
//
// Import declares the topic (of a subject without wildcards) on the bus, so
// that handlers may subscribe to it without fxbus.Topic. At start, a subject
// that no subscription matches is an error (ErrNoSubscriber).
func Import[T any](subject string, opts ...ImportOption) fx.Option {
	what := fmt.Sprintf("natsbridge.Import[%s](%q) in %s", typeName[T](), subject, source.Caller(0))
	spec := newImportSpec(subject, opts)
	if err := spec.err(); err != nil {
		return fx.Error(fmt.Errorf("%s: %w", what, err))
	}
	decl := importDecl{subject: subject, build: func(b *Bridge) (*consumer, error) {
		c, err := newConsumer[T](b, spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return c, nil
	}}
	return fx.Options(
		fx.Supply(fx.Annotated{Group: importGroup, Target: decl}),
		requireModule(what),
	)
}

// requireModule fails the app when Module is missing, instead of leaving the
// declaration what unused.
func requireModule(what string) fx.Option {
	return fx.Invoke(fx.Annotate(func(m *moduleMarker) error {
		if m == nil {
			return fmt.Errorf("%s: the app has no natsbridge.Module: add it to its fx.Options, after fxbus.Module", what)
		}
		return nil
	}, fx.ParamTags(`optional:"true"`)))
}

// newConsumer makes the consumer of an import of T, declaring its topic.
func newConsumer[T any](b *Bridge, spec importSpec) (*consumer, error) {
	strict := spec.strict
	if spec.eventType == "" {
		spec.eventType = typeName[T]()
	}
	spec.codec = or(spec.codec, b.cfg.Codec)
	s := &importSink[T]{b: b.bus, codec: spec.codec}
	if !strings.ContainsAny(spec.subject, "*>") {
		t, err := bus.NewTopic[T](b.bus, spec.subject)
		if err != nil {
			return nil, err
		}
		s.exact = t
	}
	c := &consumer{
		spec:    spec,
		env:     newEnvelope(spec.eventType, "", spec.codec, strict),
		sink:    s,
		typ:     typeName[T](),
		durable: or(spec.durable, durableName(b.cfg.Name, spec.subject)),
		headers: b.headers,
	}
	if err := validName("Durable", c.durable); err != nil {
		return nil, err
	}
	c.dlq = spec.deadLetter
	if c.dlq == "" {
		c.dlq = deadLetterPrefix(b.cfg) + "." + c.durable + ".%s"
	}
	c.log = b.log.With(zap.String("import", spec.subject), zap.String("consumer", c.durable))
	c.bindMetrics(b.m)
	return c, nil
}

// deadLetterPrefix is the start of the default dead-letter subjects: the
// dead-letter stream's first subject without its ".>".
func deadLetterPrefix(cfg Config) string {
	if p, ok := strings.CutSuffix(cfg.DeadLetters.Subjects[0], ".>"); ok {
		return p
	}
	return DefaultDeadLetterPrefix
}

type bridgeIn struct {
	fx.In
	Lifecycle  fx.Lifecycle
	Bus        *bus.Bus              `optional:"true"`
	Config     Config                `optional:"true"`
	Configure  []configFunc          `group:"natsbridge.config"`
	Logger     *zap.Logger           `optional:"true"`
	Registerer prometheus.Registerer `optional:"true"`
	Exports    []exportDecl          `group:"natsbridge.exports"`
	Imports    []importDecl          `group:"natsbridge.imports"`
	Headers    HeaderPropagator      `optional:"true"`
}

// newBridge builds the bridge and appends its outer hook. fxbus.Module's
// invoke asks for the export registrations, which need the bridge, before it
// appends the bus's hook: so this hook starts before the bus's and stops
// after it.
func newBridge(in bridgeIn) (*Bridge, error) {
	if in.Bus == nil {
		return nil, errors.New("natsbridge.Module needs a *bus.Bus: add fxbus.Module to the app's fx.Options, before natsbridge.Module")
	}
	cfg := in.Config
	for _, fn := range in.Configure {
		fn(&cfg)
	}
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	log := in.Logger
	if log == nil {
		log = zap.NewNop()
	}
	b := &Bridge{cfg: cfg, bus: in.Bus, log: log.Named("natsbridge"), m: newMetrics(), reg: in.Registerer, ids: newIDs(), headers: in.Headers}
	if err := b.build(in.Exports, in.Imports); err != nil {
		return nil, err
	}
	in.Lifecycle.Append(fx.Hook{OnStart: b.start, OnStop: b.stop})
	return b, nil
}

// build makes the exporters and consumers, sorted so that they start in the
// same order on every run, and checks that durable names are not shared.
func (b *Bridge) build(exports []exportDecl, imports []importDecl) error {
	slices.SortStableFunc(exports, func(x, y exportDecl) int { return strings.Compare(x.pattern, y.pattern) })
	slices.SortStableFunc(imports, func(x, y importDecl) int { return strings.Compare(x.subject, y.subject) })
	for _, d := range exports {
		b.exports = append(b.exports, d.build(b))
	}
	durables := make(map[string]string)
	for _, d := range imports {
		c, err := d.build(b)
		if err != nil {
			return err
		}
		if prev, ok := durables[c.durable]; ok {
			return fmt.Errorf("natsbridge: Import(%q) and Import(%q) share the durable %q: a durable consumes one subject; give each Import its own Durable", prev, c.spec.subject, c.durable)
		}
		durables[c.durable] = c.spec.subject
		b.imports = append(b.imports, c)
	}
	return nil
}

func exportRegistrations(b *Bridge) []handlers.Registration {
	regs := make([]handlers.Registration, 0, len(b.exports))
	for _, e := range b.exports {
		regs = append(regs, e.registration())
	}
	return regs
}

// runImports appends the imports' hook. Listed after fxbus.Module, Module's
// invoke runs after the bus's: the imports start after the bus has
// subscribed its handlers and stop before it drains.
func runImports(lc fx.Lifecycle, b *Bridge) {
	lc.Append(fx.Hook{
		OnStart: b.startImports,
		OnStop: func(ctx context.Context) error {
			b.stopImports(ctx, -1)
			return nil
		},
	})
}
