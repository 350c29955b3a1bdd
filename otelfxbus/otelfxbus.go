package otelfxbus

import (
	"reflect"

	"github.com/fxbus/fxbus/internal/observe"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"
)

// ScopeName is the instrumentation scope of the spans: the name of the
// tracer that otelfxbus asks the TracerProvider for.
const ScopeName = "github.com/fxbus/fxbus/otelfxbus"

// System is the value of the spans' messaging.system attribute.
const System = "fxbus"

// Module turns tracing on in an fx app that includes fxbus.Module. It takes,
// both optional, a trace.TracerProvider and a propagation.TextMapPropagator
// from the graph, and uses the global ones (otel.GetTracerProvider,
// otel.GetTextMapPropagator) for the one that is absent. It provides the
// instrumentation (internal/observe) that fxbus.Module and the Publishers of fxbus.Topic
// pick up, and a *Headers, the natsbridge.HeaderPropagator that carries the
// trace over NATS: give it to the bridge with
//
//	fx.Provide(func(h *otelfxbus.Headers) natsbridge.HeaderPropagator { return h })
var Module = fx.Module("otelfxbus",
	fx.Provide(newTracing, instrumentation, headers),
)

type tracingIn struct {
	fx.In
	TracerProvider trace.TracerProvider          `optional:"true"`
	Propagator     propagation.TextMapPropagator `optional:"true"`
}

func newTracing(in tracingIn) *Tracing { return New(in.TracerProvider, in.Propagator) }

func instrumentation(t *Tracing) *observe.Instrumentation { return t.Instrumentation() }

func headers(t *Tracing) *Headers { return t.Headers() }

// Tracing makes the spans of one app's bus. Module makes one from the fx
// graph; without fx, make one with New and give its Instrumentation's
// Handlers to lifecycle.Options.Interceptor.
type Tracing struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator // nil: the global one, looked up per message
	off    bool                          // a no-op provider: nothing to do
	global bool                          // the global provider: off while it is unset
}

// New returns the tracing of a bus with tp and prop; a nil tp or prop means
// the global one. With a trace/noop TracerProvider, or with the global one
// while no program has set it, the hooks do nothing and allocate nothing.
func New(tp trace.TracerProvider, prop propagation.TextMapPropagator) *Tracing {
	t := &Tracing{prop: prop}
	if tp == nil {
		tp, t.global = otel.GetTracerProvider(), true
	}
	if _, ok := tp.(noop.TracerProvider); ok {
		t.off = true
	}
	t.tracer = tp.Tracer(ScopeName)
	return t
}

// Instrumentation returns the hooks that fxbus.Module and the Publishers of
// fxbus.Topic use: a producer span per publish and a consumer span per
// handler attempt.
// With a no-op TracerProvider both hooks are nil: the paths are the plain
// bus's.
func (t *Tracing) Instrumentation() *observe.Instrumentation {
	if t.off {
		return &observe.Instrumentation{}
	}
	return &observe.Instrumentation{Handlers: handlerTracer{t}, Publishes: publishTracer{t}}
}

// Headers returns the propagator of the trace over natsbridge.
func (t *Tracing) Headers() *Headers { return &Headers{t: t} }

// on reports whether spans are worth starting: false with a no-op
// provider, and with the global provider while no program has set one (it
// is checked on each message, without allocating, so that setting it after
// the app was built turns tracing on).
func (t *Tracing) on() bool {
	if t.off {
		return false
	}
	return !t.global || unsetGlobal == nil || otel.GetTracerProvider() != unsetGlobal
}

// unsetGlobal is the global TracerProvider before any program sets one: a
// placeholder of the otel package that makes no spans of its own.
var unsetGlobal = func() trace.TracerProvider {
	tp := otel.GetTracerProvider()
	if reflect.TypeOf(tp).String() != "*global.tracerProvider" {
		return nil // set in an init already, or otel changed: always on
	}
	return tp
}()

// propagator is the propagator of the bridge's headers.
func (t *Tracing) propagator() propagation.TextMapPropagator {
	if t.prop != nil {
		return t.prop
	}
	return otel.GetTextMapPropagator()
}
