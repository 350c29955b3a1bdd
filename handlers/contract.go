package handlers

// This file is the contract that the lifecycle, metrics and fxbus packages
// build on. Change it only together with them.

import (
	"context"
	"time"

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

// Outcome is how one handler call (one attempt) or one message ended.
type Outcome uint8

// The outcomes an Observer sees. A failed call is OutcomeRetried if the
// message will be tried again, else OutcomeDeadLettered if the message went
// to the dead-letter topic, else OutcomeError, OutcomePanic or
// OutcomeTimeout. OutcomeOf tells the kind of failure from Call.Err whatever
// the outcome.
const (
	OutcomeOK           Outcome = iota // the call returned nil
	OutcomeError                       // the call returned an error (and will not be retried)
	OutcomePanic                       // the call panicked
	OutcomeTimeout                     // the call ran past its timeout
	OutcomeRetried                     // the call failed and the message will be tried again
	OutcomeDeadLettered                // the call was the message's last and the message went to the dead-letter topic
)

var outcomeNames = [...]string{"ok", "error", "panic", "timeout", "retried", "dead-lettered"}

// String returns the outcome's name as used in metrics labels.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Call describes one finished handler call.
type Call struct {
	Ctx      context.Context // the handler's context: correlation ID, topic
	Duration time.Duration   // how long the call took
	Outcome  Outcome
	Err      error // the call's error, nil for OutcomeOK
	Attempt  int   // 1 for the first attempt
}

// CallObserver sees every call of one subscription's handler. It must be
// safe for concurrent use and quick.
type CallObserver interface {
	Observe(Call)
}

// Observer is bound once per subscription: the metrics package implements it
// with a histogram whose labels are resolved in Bind, and the lifecycle
// package with a logger. With no Observer a call costs no clock reading.
type Observer interface {
	Bind(topic, subscriber string) CallObserver
}

// Env is what an app gives every Registration when it subscribes it.
type Env struct {
	Observer Observer // nil: calls are not observed
}

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
