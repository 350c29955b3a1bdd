package bus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
)

// Subscribe subscribes to this topic and returns the subscription, whose
// channel C receives the messages. See the package function Subscribe.
func (t *Topic[T]) Subscribe(ctx context.Context, opts ...SubscribeOption) (*Subscription[T], error) {
	return subscribe[T](ctx, t.b, t.name, t.b.configure(opts), nil, 1)
}

// Handle subscribes fn to this topic. See the package function Handle.
func (t *Topic[T]) Handle(ctx context.Context, fn func(context.Context, T) error, opts ...SubscribeOption) (*Subscription[T], error) {
	if fn == nil {
		return nil, errors.New("bus: Handle: nil handler function")
	}
	return subscribe(ctx, t.b, t.name, t.b.configure(opts), fn, 1)
}

// Subscribe subscribes to every topic of type T whose name matches pattern
// (a topic name, or one with '*' and '>' wildcards; topics declared later
// are matched when they are declared; topics of another type are skipped).
// Messages arrive on the subscription's channel C. The subscription ends,
// and C is closed, when ctx ends, when Close is called on it, when its policy
// disconnects it, or when the bus closes.
//
// A pattern without wildcards declares the topic with type T if it does not
// exist, and is a *TypeError if it exists with another type.
func Subscribe[T any](ctx context.Context, b *Bus, pattern string, opts ...SubscribeOption) (*Subscription[T], error) {
	return subscribe[T](ctx, b, pattern, b.configure(opts), nil, 1)
}

// Handle subscribes fn to every topic of type T whose name matches pattern,
// like Subscribe. The bus calls fn for each message on its own worker
// goroutines, at most Concurrency calls at once (default 1, in publish
// order), never under a bus lock; fn may publish, also to its own topic.
// The context fn receives carries the message's correlation ID and topic,
// and is cancelled only when Close gives up waiting for handlers. A panic
// in fn is recovered and returned as a *PanicError.
//
// The handler subscriptions of a message share one context, allocated per
// published message; fn may keep it after it returns.
func Handle[T any](ctx context.Context, b *Bus, pattern string, fn func(context.Context, T) error, opts ...SubscribeOption) (*Subscription[T], error) {
	if fn == nil {
		return nil, errors.New("bus: Handle: nil handler function")
	}
	return subscribe(ctx, b, pattern, b.configure(opts), fn, 1)
}

// subscribe registers a new subscription. The caller has validated cfg.
func subscribe[T any](ctx context.Context, b *Bus, pattern string, cfg *subConfig, fn func(context.Context, T) error, skip int) (*Subscription[T], error) {
	if ctx == nil {
		return nil, errors.New("bus: nil context: pass the context whose end should end the subscription")
	}
	if err := ValidatePattern(pattern); err != nil {
		return nil, err
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, err
	}
	key, onDrop, err := typedOptions[T](cfg)
	if err != nil {
		return nil, err
	}
	if fn == nil && cfg.concurrency > 0 {
		return nil, errors.New("bus: Concurrency only applies to handlers: use Handle, or read the channel from several goroutines")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: subscribe to %q with a context that has already ended: %w", pattern, err)
	}
	s := newSub(home{reg: b, hooks: &b.cfg.hooks, pool: b.pool, work: &b.work}, cfg, fn, key, onDrop)
	s.pattern = pattern
	s.wildcard = IsPattern(pattern)

	b.mu.Lock()
	if b.state.Load() != stateOpen {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	var handler any // stays a nil interface for channel subscriptions
	if fn != nil {
		handler = fn
	}
	if err := b.nameSub(&s.core, cfg.name, handler, skip+1); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	if s.wildcard {
		for _, t := range b.topics {
			if Match(pattern, *t.nameRef()) && t.attach(s) {
				s.topics = append(s.topics, t)
			}
		}
	} else {
		t, err := topicFor[T](b, pattern)
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		t.attach(s)
		s.topics = append(s.topics, t)
	}
	b.subs = append(b.subs, s)
	// Under b.mu, so that an end racing with this registration finds it.
	s.stop = context.AfterFunc(ctx, func() { s.end(ReasonUnsubscribed, ctx.Err()) })
	b.mu.Unlock()
	return s, nil
}

// nameSub gives c its name: the requested one, which must be free on its
// pattern, or a default derived from the handler or the calling code.
func (b *Bus) nameSub(c *core, name string, fn any, skip int) error {
	taken := func(n string) bool {
		for _, s := range b.subs {
			if o := s.info(); o.pattern == c.pattern && o.name == n {
				return true
			}
		}
		return false
	}
	if name != "" {
		if taken(name) {
			return fmt.Errorf("bus: a subscription named %s already exists on %q: give each subscription of a topic its own name", quote(name), c.pattern)
		}
		c.name = name
		return nil
	}
	base := ""
	if fn != nil {
		if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
			base = f.Name()
		}
	} else if pc, _, _, ok := runtime.Caller(skip + 1); ok {
		if f := runtime.FuncForPC(pc); f != nil {
			base = f.Name()
		}
	}
	base = shortFuncName(base)
	if c.group != "" {
		base = c.group
	}
	name = base
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("%s#%d", base, i)
	}
	c.name = name
	return nil
}

// shortFuncName trims the import path: "github.com/x/app.(*T).Run-fm"
// becomes "app.(*T).Run".
func shortFuncName(n string) string {
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	n = strings.TrimSuffix(n, "-fm")
	if n == "" {
		n = "subscriber"
	}
	return n
}

// configure applies the bus's default options, then opts.
func (b *Bus) configure(opts []SubscribeOption) *subConfig {
	c := &subConfig{}
	if b == nil {
		c.errs = append(c.errs, errors.New("bus: nil *Bus: make one with bus.New"))
		return c
	}
	for _, o := range slices.Concat(b.cfg.defaults, opts) {
		if o == nil {
			c.errs = append(c.errs, errors.New("bus: nil SubscribeOption"))
			continue
		}
		o.applySub(c)
	}
	return c
}
