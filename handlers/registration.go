package handlers

import (
	"context"
	"fmt"
	"reflect"
	"runtime"

	"github.com/fxbus/fxbus/bus"
)

// Group is the fx value group that carries Registrations to fxbus.Module.
const Group = "fxbus.handlers"

// Registration is one typed handler, ready to subscribe, as a plain value:
// handlers of many message types travel through one fx value group as
// Registrations. Make one with Register or RegisterFunc.
type Registration struct {
	topic     string
	typ       reflect.Type
	name      string
	source    string
	subscribe func(ctx context.Context, b *bus.Bus, env Env) (Subscription, error)
}

// Topic returns the topic name or pattern the handler subscribes to.
func (r Registration) Topic() string { return r.topic }

// Type returns the message type the handler takes.
func (r Registration) Type() reflect.Type { return r.typ }

// Name returns the handler's name: the Name option, or a name derived from
// the handler's type or function.
func (r Registration) Name() string { return r.name }

// Source returns where the registration was made (function and file:line),
// for error messages.
func (r Registration) Source() string { return r.source }

// String describes the registration for logs and errors.
func (r Registration) String() string {
	return fmt.Sprintf("handler %q for %q (%s, registered at %s)", r.name, r.topic, r.typ, r.source)
}

// Subscribe subscribes the handler to b until ctx ends or the subscription
// is closed. Errors name the registration and its source.
func (r Registration) Subscribe(ctx context.Context, b *bus.Bus, env Env) (Subscription, error) {
	if r.subscribe == nil {
		return nil, fmt.Errorf("handlers: zero Registration: make one with handlers.Register")
	}
	s, err := r.subscribe(ctx, b, env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	return s, nil
}

// Option configures a Registration.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	name    string
	subOpts []bus.SubscribeOption
}

// Name names the handler; names are unique per topic.
func Name(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// WithSubscribeOptions passes bus options (Buffer, WithPolicy, QueueGroup,
// OrderingKey, Concurrency, OnDrop) to the handler's subscription.
func WithSubscribeOptions(opts ...bus.SubscribeOption) Option {
	return optionFunc(func(c *config) { c.subOpts = append(c.subOpts, opts...) })
}

// Register makes a Registration of h for topic (a topic name or pattern).
func Register[T any](topic string, h Handler[T], opts ...Option) Registration {
	c := &config{}
	for _, o := range opts {
		o.apply(c)
	}
	r := Registration{topic: topic, typ: reflect.TypeFor[T](), name: c.name, source: caller(2)}
	if r.name == "" && h != nil {
		r.name = defaultName(h)
	}
	r.subscribe = func(ctx context.Context, b *bus.Bus, env Env) (Subscription, error) {
		if h == nil {
			return nil, fmt.Errorf("nil handler")
		}
		opts := append([]bus.SubscribeOption{bus.Name(r.name)}, c.subOpts...)
		return bus.Handle(ctx, b, topic, h.Handle, opts...)
	}
	return r
}

// RegisterFunc is Register for a function.
func RegisterFunc[T any](topic string, fn func(ctx context.Context, v T) error, opts ...Option) Registration {
	var h Handler[T]
	if fn != nil {
		h = Func[T](fn)
	}
	r := Register(topic, h, opts...)
	r.source = caller(2)
	return r
}

func defaultName(h any) string {
	if f, ok := h.(interface{ funcName() string }); ok {
		return f.funcName()
	}
	t := reflect.TypeOf(h)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.String()
}

func (f Func[T]) funcName() string {
	if fn := runtime.FuncForPC(reflect.ValueOf(f).Pointer()); fn != nil {
		return shortName(fn.Name())
	}
	return "func"
}

func shortName(n string) string {
	for i := len(n) - 1; i >= 0; i-- {
		if n[i] == '/' {
			n = n[i+1:]
			break
		}
	}
	if len(n) > 3 && n[len(n)-3:] == "-fm" {
		n = n[:len(n)-3]
	}
	return n
}

func caller(skip int) string {
	pc, file, line, ok := runtime.Caller(skip)
	if !ok {
		return "unknown"
	}
	name := "?"
	if f := runtime.FuncForPC(pc); f != nil {
		name = shortName(f.Name())
	}
	for i := len(file) - 1; i >= 0; i-- {
		if file[i] == '/' {
			file = file[i+1:]
			break
		}
	}
	return fmt.Sprintf("%s (%s:%d)", name, file, line)
}
