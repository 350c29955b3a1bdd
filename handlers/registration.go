package handlers

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/fxgroup"
	"github.com/fxbus/fxbus/internal/observe"
	"github.com/fxbus/fxbus/internal/quote"
	"github.com/fxbus/fxbus/internal/source"
)

// Registration is one typed handler, ready to subscribe, as a plain value:
// handlers of many message types travel through one fx value group as
// Registrations. Make one with Register or RegisterFunc.
type Registration struct {
	topic     string
	typ       reflect.Type
	name      string
	source    string
	err       error // what was wrong with the options
	dead      bool  // T is a DeadLetter type
	subscribe func(ctx context.Context, b *bus.Bus, env observe.Env) (Subscription, error)
}

// Info is what fxbus's own packages (the root and lifecycle) read of r
// beyond its other methods: the message type, where r was made, and whether
// it takes dead letters. Apps do not need it: String names the type and the
// place.
func (r Registration) Info() fxgroup.Info {
	return fxgroup.Info{Type: r.typ, Source: r.source, DeadLetters: r.dead}
}

// Topic returns the topic name or pattern the handler subscribes to.
func (r Registration) Topic() string { return r.topic }

// Name returns the handler's name: the one bus.Name gave, or a name derived from
// the handler's type or function.
func (r Registration) Name() string { return r.name }

// String describes the registration for logs and errors: its name, topic,
// message type and where it was made (function and file:line).
func (r Registration) String() string {
	return fmt.Sprintf("handler %s for %s (%s, registered at %s)", quote.String(r.name), quote.String(r.topic), r.typ, r.source)
}

// Err reports what is wrong with the registration's handler or options
// (a nil handler, a bad option value, middleware of another message type),
// or nil. Subscribe returns the same error, so checking it first is only
// needed to fail earlier.
func (r Registration) Err() error {
	if r.subscribe == nil {
		return errZero
	}
	if r.err != nil {
		return fmt.Errorf("handlers: %s: %w", r, r.err)
	}
	return nil
}

var errZero = errors.New("handlers: zero Registration: make one with handlers.Register or handlers.RegisterFunc")

// Subscribe subscribes the handler to b until ctx ends or the subscription
// is closed, with the layers the package documentation lists. Errors name
// the registration and its source; a topic declared with another message
// type is a *bus.TypeError (use errors.As), and so is a dead-letter topic
// declared with another type than DeadLetter[T]. Without fx, a
// lifecycle.Runner subscribes an app's registrations (and adds logging,
// metrics and tracing); Subscribe is for one handler on its own.
func (r Registration) Subscribe(ctx context.Context, b *bus.Bus) (Subscription, error) {
	if err := r.Err(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("handlers: subscribe %s: nil *bus.Bus", r)
	}
	s, err := r.subscribe(ctx, b, observe.EnvFrom(ctx))
	if err != nil {
		return nil, fmt.Errorf("handlers: subscribe %s: %w", r, err)
	}
	return s, nil
}

// Register makes a Registration of h for topic (a topic name or pattern).
// h is often a struct whose fields are the handler's dependencies and whose
// Handle method handles one message.
//
// Register does not fail: what is wrong with h or opts is reported by the
// Registration's Err and Subscribe methods, at the app's start.
func Register[T any](topic string, h Handler[T], opts ...bus.SubscribeOption) Registration {
	return newRegistration(topic, h, opts, source.Caller(0))
}

// RegisterFunc is Register for a function.
func RegisterFunc[T any](topic string, fn func(ctx context.Context, v T) error, opts ...bus.SubscribeOption) Registration {
	var h Handler[T]
	if fn != nil {
		h = Func[T](fn)
	}
	return newRegistration(topic, h, opts, source.Caller(0))
}

func newRegistration[T any](topic string, h Handler[T], opts []bus.SubscribeOption, source string) Registration {
	c := newConfig(opts)
	_, dead := any(*new(T)).(deadLetterValue)
	r := Registration{topic: topic, typ: reflect.TypeFor[T](), name: c.name, source: source, dead: dead}
	if isNil(h) {
		c.errs = append(c.errs, fmt.Errorf("the handler is nil: pass a value whose Handle method handles %s", r.typ))
		h = nil
	}
	if r.name == "" && h != nil {
		r.name = defaultName(h)
	}
	mws := make([]Middleware[T], 0, len(c.middleware))
	for i, m := range c.middleware {
		mw, ok := m.(Middleware[T])
		switch {
		case !ok:
			c.errs = append(c.errs, fmt.Errorf("middleware %d of %d is a %T, but the handler takes %s: use a handlers.Middleware[%s]",
				i+1, len(c.middleware), m, r.typ, r.typ))
		case mw == nil:
			c.errs = append(c.errs, fmt.Errorf("middleware %d of %d is nil", i+1, len(c.middleware)))
		default:
			mws = append(mws, mw)
		}
	}
	r.err = errors.Join(c.errs...)
	r.subscribe = func(ctx context.Context, b *bus.Bus, env observe.Env) (Subscription, error) {
		return subscribe(ctx, b, env, r, h, c, mws)
	}
	return r
}

// subscribe builds the handler's chain for one subscription and subscribes
// it.
func subscribe[T any](ctx context.Context, b *bus.Bus, env observe.Env, r Registration, h Handler[T], c *config, user []Middleware[T]) (Subscription, error) {
	top, a, err := build(b, env, r.topic, r.name, h, c, user)
	if err != nil {
		return nil, err
	}
	opts := make([]bus.SubscribeOption, 0, 1+len(c.subOpts))
	opts = append(opts, bus.Name(r.name))
	opts = append(opts, c.subOpts...)
	s, err := bus.Handle(ctx, b, r.topic, top.Handle, opts...)
	if err != nil {
		return nil, err
	}
	// Declare the dead-letter topic now, when it does not depend on the
	// message, so that a type clash shows at start.
	if a.dl != nil && (c.deadLetter != "" || !bus.IsPattern(r.topic)) {
		if _, err := a.dl.topic(r.topic); err != nil {
			s.Close()
			return nil, fmt.Errorf("dead-letter topic: %w", err)
		}
	}
	return s, nil
}

// build wraps h in its layers, outermost first: attempts (observe, retry,
// dead letter), the Env's Interceptor, recover, timeout, the user's middleware. With a nil b, dead
// letters are off.
func build[T any](b *bus.Bus, env observe.Env, topic, name string, h Handler[T], c *config, user []Middleware[T]) (Handler[T], *attempts[T], error) {
	a := &attempts[T]{
		policy: c.retry,
		name:   name,
		topic:  topic,
		now:    c.now,
		sleep:  c.sleep,
		rnd:    c.rnd,
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.sleep == nil {
		a.sleep = env.Wait
	}
	if a.sleep == nil {
		a.sleep = sleepCtx
	}
	if a.rnd == nil {
		a.rnd = realRand
	}
	if b != nil && !c.noDeadLetter {
		a.dl = newDeadLetters[T](b, c.deadLetter)
	}
	mws := make([]Middleware[T], 0, 4+len(user))
	mws = append(mws, retryMiddleware(a))
	if env.Interceptor != nil {
		if ci := env.Interceptor.Bind(topic, name); ci != nil {
			mws = append(mws, interceptMiddleware[T](ci))
		}
	}
	mws = append(mws, recoverMiddleware[T]())
	if c.timeout > 0 {
		mws = append(mws, timeoutMiddleware[T](c.timeout))
	}
	mws = append(mws, user...)
	top, err := chain(h, mws...)
	if err != nil {
		return nil, nil, err
	}
	if env.Observer != nil {
		a.obs = env.Observer.Bind(topic, name)
	}
	return top, a, nil
}

// isNil reports whether h is nil or a nil pointer, map, func, chan or slice
// whose Handle would panic on every message.
func isNil(h any) bool {
	if h == nil {
		return true
	}
	v := reflect.ValueOf(h)
	switch v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
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
	return source.FuncName(reflect.ValueOf(f).Pointer())
}
