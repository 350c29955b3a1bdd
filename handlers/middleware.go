package handlers

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/broker"
	"github.com/fxbus/fxbus/internal/observe"
	"github.com/fxbus/fxbus/internal/quote"
)

// Middleware wraps a handler: it returns a Handler that may act before and
// after calling next, change the context, or not call next at all. Recover,
// timeout and retry are middleware too; see the package documentation for
// the order in which they and the user's middleware run.
type Middleware[T any] func(next Handler[T]) Handler[T]

// ErrTimeout is matched (with errors.Is) by the error of a handler call that
// failed after its Timeout passed.
var ErrTimeout = observe.ErrTimeout

// chain wraps h in mws, the first the outermost.
func chain[T any](h Handler[T], mws ...Middleware[T]) (Handler[T], error) {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
		if h == nil {
			return nil, fmt.Errorf("middleware %d of %d returned a nil Handler: return next, or a Handler that calls it", i+1, len(mws))
		}
	}
	return h, nil
}

// recoverMiddleware turns a panic into a *bus.PanicError with the stack, so
// that the panic can be observed and retried like any failure. The bus
// recovers too, as a safety net for panics outside this layer.
func recoverMiddleware[T any]() Middleware[T] {
	return func(next Handler[T]) Handler[T] { return &recoverer[T]{next: next} }
}

// recoverer is a struct rather than a Func: one indirect call less per
// message on the path every call takes.
type recoverer[T any] struct{ next Handler[T] }

func (r *recoverer[T]) Handle(ctx context.Context, v T) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &bus.PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return r.next.Handle(ctx, v)
}

// interceptMiddleware runs each attempt inside ci (see observe.Env.Interceptor).
func interceptMiddleware[T any](ci observe.CallInterceptor) Middleware[T] {
	return func(next Handler[T]) Handler[T] {
		return Func[T](func(ctx context.Context, v T) error {
			ictx, end := ci.Begin(ctx)
			if !end {
				return next.Handle(ctx, v)
			}
			err := next.Handle(ictx, v)
			ci.End(ictx, err)
			return err
		})
	}
}

// timeoutMiddleware gives each call a deadline d away.
func timeoutMiddleware[T any](d time.Duration) Middleware[T] {
	return func(next Handler[T]) Handler[T] {
		return Func[T](func(ctx context.Context, v T) error {
			tctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			err := next.Handle(tctx, v)
			if err != nil && errors.Is(tctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
				return fmt.Errorf("%w (after %v): %w", ErrTimeout, d, err)
			}
			return err
		})
	}
}

// attempts is the outermost layer: it observes each call, retries, and
// dead-letters the messages it gives up on. One per subscription.
type attempts[T any] struct {
	next   Handler[T]
	policy retryPolicy
	obs    observe.CallObserver // nil: no clock reading at all
	dl     *deadLetters[T]
	name   string // the subscriber, for dead letters and errors
	topic  string // the registration's topic or pattern

	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	rnd   func() float64
}

func retryMiddleware[T any](a *attempts[T]) Middleware[T] {
	return func(next Handler[T]) Handler[T] {
		a.next = next
		return a
	}
}

// Handle runs the first attempt; failures continue in failed, off the fast
// path, which takes no clock reading without an observer and allocates
// nothing.
func (a *attempts[T]) Handle(ctx context.Context, v T) error {
	if a.obs == nil {
		err := a.next.Handle(ctx, v)
		if err == nil {
			return nil
		}
		return a.failed(ctx, v, err, time.Time{})
	}
	start := a.now()
	err := a.next.Handle(ctx, v)
	if err == nil {
		a.obs.Observe(observe.Call{Ctx: ctx, Duration: a.now().Sub(start), Outcome: observe.OutcomeOK, Attempt: 1})
		return nil
	}
	return a.failed(ctx, v, err, start)
}

func (a *attempts[T]) since(start time.Time) time.Duration {
	if a.obs == nil {
		return 0
	}
	return a.now().Sub(start)
}

func (a *attempts[T]) observe(ctx context.Context, d time.Duration, err error, attempt int, f observe.Fate, dlTopic string) {
	if a.obs != nil {
		a.obs.Observe(observe.Call{Ctx: ctx, Duration: d, Outcome: observe.OutcomeOf(err), Err: err, Attempt: attempt, Fate: f, DeadLetterTopic: dlTopic})
	}
}

// failed takes over after the first attempt failed with err.
func (a *attempts[T]) failed(ctx context.Context, v T, err error, start time.Time) error {
	if d, ok := broker.From(ctx); ok { // the broker retries and dead-letters
		a.observe(ctx, a.since(start), err, d.Attempt, observe.FateRetried, "")
		return err
	}
	actx := ctx
	for attempt := 1; ; attempt++ {
		d := a.since(start)
		if !a.policy.worthRetry(ctx, err, attempt) {
			return a.giveUp(actx, v, err, attempt, d, nil)
		}
		a.observe(actx, d, err, attempt, observe.FateRetried, "")
		if werr := a.sleep(ctx, a.policy.backoff(attempt, a.rnd())); werr != nil {
			// The bus gave up draining: this attempt was observed as
			// retried already, so the give-up is not observed again.
			return a.giveUp(actx, v, err, attempt, d, werr)
		}
		actx = withAttempt(ctx, attempt+1)
		if a.obs != nil {
			start = a.now()
		}
		if err = a.next.Handle(actx, v); err == nil {
			a.observe(actx, a.since(start), nil, attempt+1, observe.FateHandled, "")
			return nil
		}
	}
}

// giveUp dead-letters the message after its last attempt, observes the
// attempt with the message's fate, and returns the error the bus gets.
// waitErr is set when a backoff was cut short.
func (a *attempts[T]) giveUp(ctx context.Context, v T, err error, attempt int, d time.Duration, waitErr error) error {
	fate, dlTopic, dlErr := observe.FateDiscarded, "", error(nil)
	if a.dl != nil {
		var read bool
		dlTopic, read, dlErr = a.dl.publish(ctx, v, err, attempt, a.name, a.topic)
		switch {
		case dlErr != nil:
			fate = observe.FateDeadLetterFailed
		case !read:
			fate = observe.FateDeadLetterUnread
		default:
			fate = observe.FateDeadLettered
		}
	}
	if waitErr == nil {
		a.observe(ctx, d, err, attempt, fate, dlTopic)
	}
	if a.dl == nil && attempt == 1 && waitErr == nil {
		return err // the plain case: the handler's own error, unwrapped
	}
	return a.giveUpError(err, attempt, waitErr, fate, dlTopic, dlErr)
}

// giveUpError says what the handler did and where the message went.
func (a *attempts[T]) giveUpError(err error, attempt int, waitErr error, fate observe.Fate, dlTopic string, dlErr error) error {
	var what string
	switch {
	case waitErr != nil:
		what = fmt.Sprintf("stopped retrying after %d attempt(s) because its context ended (%v)", attempt, waitErr)
	case attempt == 1:
		what = "failed"
	default:
		what = fmt.Sprintf("failed %d attempts", attempt)
	}
	name, topic := quote.String(a.name), quote.String(dlTopic)
	switch fate {
	case observe.FateDiscarded:
		return fmt.Errorf("handlers: %s %s: %w", name, what, err)
	case observe.FateDeadLetterFailed:
		return errors.Join(
			fmt.Errorf("handlers: %s %s: %w", name, what, err),
			fmt.Errorf("handlers: %s could not dead-letter the message to %s, so it is lost: %w", name, topic, dlErr))
	case observe.FateDeadLetterUnread:
		return &unreadError{
			msg: fmt.Sprintf("handlers: %s %s; the message went to dead-letter topic %s, but nothing subscribes to it, "+
				"so nobody will read it (subscribe a handler to %s, or drop such messages with handlers.NoDeadLetters): %v",
				name, what, topic, topic, err),
			err: err,
		}
	}
	return fmt.Errorf("handlers: %s %s; the message went to dead-letter topic %s: %w", name, what, topic, err)
}

// ErrDeadLetterUnread is matched (with errors.Is) by the error of a handler
// that gave up on a message whose dead letter went to a topic that nothing
// subscribes to: nobody will read it.
var ErrDeadLetterUnread = errors.New("handlers: nothing subscribes to the dead-letter topic, so nobody will read the dead letter")

// unreadError is the error of a message dead-lettered where nothing
// subscribes: it matches the handler's error and ErrDeadLetterUnread.
type unreadError struct {
	msg string
	err error
}

// Error says what the handler did and that nobody reads its dead letter.
func (e *unreadError) Error() string { return e.msg }

// Unwrap returns the handler's error and ErrDeadLetterUnread.
func (e *unreadError) Unwrap() []error { return []error{e.err, ErrDeadLetterUnread} }
