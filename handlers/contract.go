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

// Outcome is what one handler call (one attempt) did, whatever happens to
// the message next: a call that panicked is OutcomePanic whether the message
// is then retried, dead-lettered or dropped. Fate says what happened to the
// message.
type Outcome uint8

// The outcomes of a call, as OutcomeOf tells them from the call's error.
const (
	OutcomeOK      Outcome = iota // the call returned nil
	OutcomeError                  // the call returned an error
	OutcomePanic                  // the call panicked
	OutcomeTimeout                // the call ran past its timeout
)

var outcomeNames = [...]string{"ok", "error", "panic", "timeout"}

// String returns the outcome's name as used in metrics labels.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Fate is what became of the message after a call: handled, tried again,
// or, after its last attempt, where it went.
type Fate uint8

// The fates of a message after one call. Every failed call has exactly one
// fate other than FateHandled.
const (
	FateHandled          Fate = iota // the call returned nil: the message is handled
	FateRetried                      // the call failed; the message will be tried again
	FateDeadLettered                 // the message went to its dead-letter topic, which something subscribes to
	FateDeadLetterUnread             // the message went to its dead-letter topic, which nothing subscribes to: nobody will read it
	FateDeadLetterFailed             // the dead letter could not be published: the message is lost
	FateDiscarded                    // the handler gave up and has no dead letters (NoDeadLetters): only the bus's Failed count keeps it
)

var fateNames = [...]string{"handled", "retried", "dead-lettered", "dead-letter-unread", "dead-letter-failed", "discarded"}

// String returns the fate's name as used in metrics labels.
func (f Fate) String() string {
	if int(f) < len(fateNames) {
		return fateNames[f]
	}
	return "unknown"
}

// Call describes one finished handler call.
type Call struct {
	Ctx      context.Context // the handler's context: correlation ID, topic
	Duration time.Duration   // how long the call took
	Outcome  Outcome         // what the call did: OutcomeOf(Err)
	Err      error           // the call's error, nil for OutcomeOK
	Attempt  int             // 1 for the first attempt
	Fate     Fate            // what became of the message after this call

	// DeadLetterTopic is the topic the message's dead letter went to (or
	// failed to go to), for the fates FateDeadLettered,
	// FateDeadLetterUnread and FateDeadLetterFailed; "" otherwise.
	DeadLetterTopic string
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

// Interceptor wraps every attempt of one subscription's handler: tracing
// (package otelfxbus) implements it with a span per attempt. It is bound
// once per subscription; a nil CallInterceptor leaves that subscription's
// calls unwrapped. With no Interceptor a call takes the same path as before.
type Interceptor interface {
	Bind(topic, subscriber string) CallInterceptor
}

// CallInterceptor wraps one attempt: Begin returns the context the attempt
// runs with (derived from ctx) and whether End must be called, with that
// context and the attempt's error, once it returned. The attempt's layers
// (recover, timeout, the user's middleware) run between the two, so a panic
// arrives as a *bus.PanicError; retries and dead letters run outside, each
// retry being an attempt of its own. It must be safe for concurrent use.
// (Begin and End rather than a function that wraps a call: a Begin that
// has nothing to do costs no allocation.)
type CallInterceptor interface {
	Begin(ctx context.Context) (context.Context, bool)
	End(ctx context.Context, err error)
}

// Env is what an app gives every Registration when it subscribes it.
type Env struct {
	Observer Observer // nil: calls are not observed

	// Interceptor, when set, wraps every attempt of every handler (see
	// Interceptor). Nil: calls are not wrapped.
	Interceptor Interceptor

	// Wait, when set, replaces the wait between two attempts of a retried
	// message: it waits d, or until ctx ends and then returns ctx's error.
	// Tests use it to retry at once (fxtest.NoRetryWait) or on a clock
	// they control. Nil waits on a real timer.
	Wait func(ctx context.Context, d time.Duration) error
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
