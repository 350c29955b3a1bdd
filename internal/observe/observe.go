// Package observe is the plumbing through which the project's own packages
// watch and wrap handler calls and publishes: the handler-call contract that
// handlers reports to, metrics and lifecycle's Log observe, and otelfxbus
// intercepts, plus the Env that carries them to a Registration when it
// subscribes. Users reach these through fxbus.Module, metrics, lifecycle and
// otelfxbus, never directly.
package observe

import (
	"context"
	"errors"
	"time"

	"github.com/fxbus/fxbus/bus"
)

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

// ErrTimeout is matched (with errors.Is) by the error of a handler call that
// ran past its timeout. Package handlers exports it as handlers.ErrTimeout.
var ErrTimeout = errors.New("handlers: handler call timed out")

// OutcomeOf returns what a call did from its error: OutcomeOK for nil,
// OutcomePanic for a *bus.PanicError (as the recover layer returns it),
// OutcomeTimeout for an error matching ErrTimeout, else OutcomeError. It is
// Call.Outcome.
func OutcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case isPanic(err):
		return OutcomePanic
	case errors.Is(err, ErrTimeout):
		return OutcomeTimeout
	}
	return OutcomeError
}

// isPanic reports whether err is a *bus.PanicError, unwrapped: the recover
// layer returns it as is, while a handler that returns the joined errors of
// a PublishSync whose handler panicked did not panic itself.
func isPanic(err error) bool {
	_, ok := err.(*bus.PanicError)
	return ok
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
// with a histogram whose labels are resolved in Bind, and lifecycle's Log
// with a logger. With no Observer a call costs no clock reading.
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

// CallInterceptor wraps one attempt (or one publish: see
// PublishInterceptor): Begin returns the context the attempt runs with
// (derived from ctx) and whether End must be called, with that context and
// the attempt's error, once it returned. The attempt's layers (recover,
// timeout, the user's middleware) run between the two, so a panic arrives
// as a *bus.PanicError; retries and dead letters run outside, each retry
// being an attempt of its own. It must be safe for concurrent use. (Begin
// and End rather than a function that wraps a call: a Begin that has
// nothing to do costs no allocation.)
type CallInterceptor interface {
	Begin(ctx context.Context) (context.Context, bool)
	End(ctx context.Context, err error)
}

// PublishInterceptor is bound once per Publisher, with its topic's name. The
// CallInterceptor it returns (nil: none) wraps each publish: Begin may give
// the publish a context of its own (with a span, a correlation ID), and
// End sees the publish's error.
type PublishInterceptor interface {
	Bind(topic string) CallInterceptor
}

// Instrumentation is what a tracing package (otelfxbus) gives fxbus.Module
// and the Publishers that fxbus.Topic provides, through the fx graph:
// provide at most one *Instrumentation. Without one the publish and handler
// paths are unchanged.
type Instrumentation struct {
	// Handlers, when set, wraps every attempt of every handler that the
	// module subscribes (see Env.Interceptor).
	Handlers Interceptor

	// Publishes, when set, wraps every Publish and PublishSync of the
	// Publishers that fxbus.Topic and fxbus.NamedTopic provide.
	Publishes PublishInterceptor
}

// Env is what an app gives every Registration when it subscribes it. It
// travels in the context passed to Registration.Subscribe (WithEnv).
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

type envKey struct{}

// WithEnv returns a copy of ctx that carries env, for
// handlers.Registration.Subscribe.
func WithEnv(ctx context.Context, env Env) context.Context {
	return context.WithValue(ctx, envKey{}, env)
}

// EnvFrom returns the Env that ctx carries, or the zero Env.
func EnvFrom(ctx context.Context) Env {
	if ctx == nil {
		return Env{}
	}
	env, _ := ctx.Value(envKey{}).(Env)
	return env
}

// Observers combines observers into one that passes every call to each of
// them, in order. Nil observers are left out; with none left the result is
// nil (calls are then not observed at all), and with one it is that
// observer itself.
func Observers(obs ...Observer) Observer {
	var f fanout
	for _, o := range obs {
		if o != nil {
			f = append(f, o)
		}
	}
	switch len(f) {
	case 0:
		return nil
	case 1:
		return f[0]
	}
	return f
}

type fanout []Observer

func (f fanout) Bind(topic, subscriber string) CallObserver {
	var cs callFanout
	for _, o := range f {
		if c := o.Bind(topic, subscriber); c != nil {
			cs = append(cs, c)
		}
	}
	switch len(cs) {
	case 0:
		return nopCall{}
	case 1:
		return cs[0]
	}
	return cs
}

type callFanout []CallObserver

func (cs callFanout) Observe(c Call) {
	for _, o := range cs {
		o.Observe(c)
	}
}

type nopCall struct{}

func (nopCall) Observe(Call) {}
