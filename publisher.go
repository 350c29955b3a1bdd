package fxbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/quote"
)

// Publisher publishes messages of type T on one topic. Ask for it in a
// constructor after declaring the topic with Topic (or NamedTopic, with the
// matching name tag). *bus.Topic[T] implements it; so can a fake in tests.
//
// The Publisher that Topic provides cannot deliver a message before every
// handler of the app is subscribed: Publish holds what it gets before
// Module's start hook has subscribed them (in a constructor, in an OnStart
// hook that runs earlier, or before app.Start) and that hook releases it,
// in publish order, right after subscribing them. Where the modules are
// listed in fx.Options therefore does not matter. See Config.StartBuffer.
type Publisher[T any] interface {
	// Publish offers v to every subscriber of the topic under its policy;
	// see bus.Topic.Publish. Before the app's start it holds v (and returns
	// nil) until the handlers are subscribed.
	Publish(ctx context.Context, v T) error
	// PublishSync returns once every subscriber has taken v and every
	// handler has handled it, with their errors; see bus.Topic.PublishSync.
	// Before the app's start it fails with an error matching ErrNotStarted:
	// no handler could handle v yet.
	PublishSync(ctx context.Context, v T) error
}

var _ Publisher[int] = (*bus.Topic[int])(nil)

// DefaultStartBuffer is how many messages, in all, an app's Publishers hold
// before the start when Config.StartBuffer is zero.
const DefaultStartBuffer = 1024

// ErrNotStarted is matched (with errors.Is) by the error of a PublishSync
// made before the app's start, and of a Publish that finds the start
// buffer full.
var ErrNotStarted = errors.New("fxbus: the bus has not started: its handlers are not subscribed yet")

// publisher is the Publisher that Topic provides: a topic and the app's
// start gate.
type publisher[T any] struct {
	t *bus.Topic[T]
	g *startGate // nil when the app has its own *bus.Bus and no Module
}

// Publish publishes v, or holds it until the start.
func (p *publisher[T]) Publish(ctx context.Context, v T) error {
	if p.g == nil || p.g.open.Load() || ctx == nil || fromHandler(ctx) {
		return p.t.Publish(ctx, v) // a nil ctx gets the bus's error
	}
	return p.g.hold(ctx, p.t.Name(), func(ctx context.Context) error { return p.t.Publish(ctx, v) })
}

// PublishSync publishes v and waits for its handlers, once the bus has
// started.
func (p *publisher[T]) PublishSync(ctx context.Context, v T) error {
	if p.g == nil || p.g.open.Load() || fromHandler(ctx) || p.g.released() {
		return p.t.PublishSync(ctx, v)
	}
	return fmt.Errorf("%w: PublishSync on %s before the app's start, so no handler could handle the message: "+
		"use Publish, which holds it until the handlers are subscribed, or publish after app.Start",
		ErrNotStarted, quote.String(p.t.Name()))
}

// fromHandler reports whether ctx is a handler's: a handler runs only once
// every handler is subscribed (while the held messages are released, say),
// so its publishes need not wait.
func fromHandler(ctx context.Context) bool {
	_, ok := bus.TopicFrom(ctx)
	return ok
}

// startGate holds the messages that an app's Publishers get before Module's
// start hook has subscribed the handlers, and releases them, in order, once
// it has.
type startGate struct {
	open  atomic.Bool // the held messages were released: publish at once
	limit int

	mu   sync.Mutex
	held []heldMessage
	done bool // released or dropped: hold no more
}

// heldMessage is one publish made before the start.
type heldMessage struct {
	ctx   context.Context
	topic string
	send  func(context.Context) error
}

func newStartGate(s settings) *startGate {
	limit := s.StartBuffer
	if limit == 0 {
		limit = DefaultStartBuffer
	}
	return &startGate{limit: limit}
}

// hold keeps a publish for the release, or sends it now if the release is
// over.
func (g *startGate) hold(ctx context.Context, topic string, send func(context.Context) error) error {
	g.mu.Lock()
	if g.done {
		g.mu.Unlock()
		return send(ctx)
	}
	if len(g.held) >= g.limit {
		g.mu.Unlock()
		return fmt.Errorf("%w: Publish on %s before the app's start: %d messages are already held for the start, "+
			"the most Config.StartBuffer allows: publish after app.Start, or raise Config.StartBuffer",
			ErrNotStarted, quote.String(topic), g.limit)
	}
	g.held = append(g.held, heldMessage{ctx: ctx, topic: topic, send: send})
	g.mu.Unlock()
	return nil
}

func (g *startGate) released() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.done
}

// release publishes the held messages in order, with ctx's deadline and
// each publisher's context values (its correlation ID), until none is left:
// what other goroutines publish meanwhile is held behind them (handlers
// publish at once). Then the gate opens. It returns the errors of the
// publishes.
func (g *startGate) release(ctx context.Context) error {
	var errs []error
	for {
		g.mu.Lock()
		batch := g.held
		g.held = nil
		if len(batch) == 0 {
			g.done = true
			g.open.Store(true)
			g.mu.Unlock()
			return errors.Join(errs...)
		}
		g.mu.Unlock()
		for _, m := range batch {
			if err := m.send(valuesOf{ctx, m.ctx}); err != nil {
				errs = append(errs, fmt.Errorf("fxbus: a message published on %s before the start, released once the handlers were subscribed: %w",
					quote.String(m.topic), err))
			}
		}
	}
}

// drop forgets the held messages after a failed start and returns how many
// there were. Later publishes go to the bus, which is closed.
func (g *startGate) drop() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.held)
	g.held, g.done = nil, true
	g.open.Store(true)
	return n
}

// valuesOf is the start's context (its deadline and cancellation) with the
// values of the context a held message was published with (its correlation
// ID, a trace): that one may have ended since.
type valuesOf struct {
	context.Context
	values context.Context
}

// Value looks key up in the publisher's context.
func (c valuesOf) Value(key any) any {
	if c.values == nil {
		return c.Context.Value(key)
	}
	return c.values.Value(key)
}
