package fxbus

import (
	"context"

	"github.com/fxbus/fxbus/internal/observe"
)

// instrumented is a Publisher whose publishes go through a CallInterceptor.
type instrumented[T any] struct {
	next Publisher[T]
	ci   observe.CallInterceptor
}

// instrument wraps p in in's publish interceptor, if any.
func instrument[T any](p Publisher[T], name string, in *observe.Instrumentation) Publisher[T] {
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
