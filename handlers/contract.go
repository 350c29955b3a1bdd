package handlers

import (
	"context"

	"github.com/fxbus/fxbus/bus"
)

// Handler handles messages of type T. A struct with dependencies can be a
// Handler by having this method.
type Handler[T any] interface {
	Handle(ctx context.Context, v T) error
}

// Func adapts a function to Handler.
type Func[T any] func(ctx context.Context, v T) error

// Handle calls f(ctx, v).
func (f Func[T]) Handle(ctx context.Context, v T) error { return f(ctx, v) }

// Subscription is a live handler subscription, as a Registration returns it.
// *bus.Subscription[T] implements it.
type Subscription interface {
	Name() string
	Pattern() string
	Close()
	Done() <-chan struct{}
	Err() error
}

var _ Subscription = (*bus.Subscription[int])(nil)
