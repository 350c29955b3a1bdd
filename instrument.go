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

	// Publishes, when set, wraps every Publish and PublishSync of the
	// Publishers that Topic and NamedTopic provide.
	Publishes PublishInterceptor
}

// PublishInterceptor is bound once per Publisher, with its topic's name. The
// CallInterceptor it returns (nil: none) wraps each publish: Begin may give
// the publish a context of its own (with a span, a correlation ID), and
// End sees the publish's error.
type PublishInterceptor interface {
	Bind(topic string) handlers.CallInterceptor
}

// instrumented is a Publisher whose publishes go through a CallInterceptor.
type instrumented[T any] struct {
	next Publisher[T]
	ci   handlers.CallInterceptor
}

// instrument wraps p in in's publish interceptor, if any.
func instrument[T any](p Publisher[T], name string, in *Instrumentation) Publisher[T] {
	if in == nil || in.Publishes == nil {
		return p
	}
	ci := in.Publishes.Bind(name)
	if ci == nil {
		return p
	}
	return &instrumented[T]{next: p, ci: ci}
}

// Publish publishes v inside the interceptor.
func (p *instrumented[T]) Publish(ctx context.Context, v T) error {
	if ctx == nil {
		return p.next.Publish(ctx, v) // the bus's error
	}
	ictx, end := p.ci.Begin(ctx)
	if !end {
		return p.next.Publish(ctx, v)
	}
	err := p.next.Publish(ictx, v)
	p.ci.End(ictx, err)
	return err
}

// PublishSync publishes v and waits for its handlers, inside the
// interceptor.
func (p *instrumented[T]) PublishSync(ctx context.Context, v T) error {
	if ctx == nil {
		return p.next.PublishSync(ctx, v)
	}
	ictx, end := p.ci.Begin(ctx)
	if !end {
		return p.next.PublishSync(ctx, v)
	}
	err := p.next.PublishSync(ictx, v)
	p.ci.End(ictx, err)
	return err
}
