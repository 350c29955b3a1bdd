package fxbus

import (
	"context"

	"github.com/fxbus/fxbus/handlers"
)

// Instrumentation is what a tracing package (otelfxbus) gives Module and the
// Publishers that Topic provides, through the fx graph: provide at most one
// *Instrumentation. Without one the publish and handler paths are unchanged.
type Instrumentation struct {
	// Handlers, when set, wraps every attempt of every handler that Module
	// subscribes (see handlers.Env.Interceptor).
	Handlers handlers.Interceptor

	// Publish, when set, wraps every Publish and PublishSync of the
	// Publishers that Topic and NamedTopic provide; sync tells which. It
	// must call publish once, with ctx or a context derived from it (one
	// that carries a correlation ID, say), and return its error.
	Publish func(ctx context.Context, topic string, sync bool, publish func(context.Context) error) error
}

// instrumented is a Publisher whose publishes go through an
// Instrumentation's Publish.
type instrumented[T any] struct {
	next Publisher[T]
	name string
	wrap func(ctx context.Context, topic string, sync bool, publish func(context.Context) error) error
}

// Publish publishes v inside the instrumentation.
func (p *instrumented[T]) Publish(ctx context.Context, v T) error {
	return p.wrap(ctx, p.name, false, func(ctx context.Context) error { return p.next.Publish(ctx, v) })
}

// PublishSync publishes v and waits for its handlers, inside the
// instrumentation.
func (p *instrumented[T]) PublishSync(ctx context.Context, v T) error {
	return p.wrap(ctx, p.name, true, func(ctx context.Context) error { return p.next.PublishSync(ctx, v) })
}
