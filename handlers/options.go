package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// The handler-only options (Retry, Timeout, DeadLetterTopic, NoDeadLetters,
// WithMiddleware) are bus.SubscribeOptions too, so that a registration takes
// one list: bus.Name, bus.QueueGroup and the other subscribe options beside
// them. Options that get bad input do not panic: the registration records
// what was wrong, and Err and Subscribe return it.
type option struct {
	bus.Extension
	apply func(*config)
}

func optionFunc(f func(*config)) bus.SubscribeOption {
	return option{Extension: bus.Extension{Owner: "handlers"}, apply: f}
}

type config struct {
	name         string
	subOpts      []bus.SubscribeOption
	timeout      time.Duration
	retry        retryPolicy
	deadLetter   string // explicit dead-letter topic; "" means topic + DeadLetterSuffix
	noDeadLetter bool
	middleware   []any // Middleware[T] values, checked against T by Register
	errs         []error

	// Injected by tests; nil means the real clock, timer and random source.
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	rnd   func() float64
}

// newConfig applies the package's own options and keeps the bus's for the
// subscription.
func newConfig(opts []bus.SubscribeOption) *config {
	c := &config{retry: defaultRetry()}
	for i, o := range opts {
		switch o := o.(type) {
		case nil:
			c.errs = append(c.errs, fmt.Errorf("option %d of %d is nil", i+1, len(opts)))
		case option:
			o.apply(c)
		default:
			c.subOpts = append(c.subOpts, o)
		}
	}
	name, err := bus.CheckSubscribeOptions(c.subOpts...)
	c.name = name
	if err != nil {
		c.errs = append(c.errs, err)
	}
	return c
}

func (c *config) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// Timeout bounds each call of the handler (each attempt, when retrying): the
// handler's context gets a deadline d after the call starts. A call that
// returns an error after its deadline passed fails with an error that
// matches ErrTimeout, and is observed as OutcomeTimeout. The handler must
// honour its context: a call that ignores it is not abandoned.
func Timeout(d time.Duration) bus.SubscribeOption {
	return optionFunc(func(c *config) {
		if d <= 0 {
			c.errorf("handlers.Timeout(%v): the timeout must be positive: leave the option out for no timeout", d)
			return
		}
		c.timeout = d
	})
}

// DeadLetterSuffix is appended to a message's topic to name its default
// dead-letter topic: messages of "orders.created" that a handler gives up on
// go to "orders.created.dead-letter".
const DeadLetterSuffix = ".dead-letter"

// DeadLetterTopic sends the messages the handler gives up on to topic
// instead of to their own topic name plus DeadLetterSuffix. The topic
// carries DeadLetter[T] values.
func DeadLetterTopic(topic string) bus.SubscribeOption {
	return optionFunc(func(c *config) {
		if err := bus.ValidateTopic(topic); err != nil {
			c.errorf("handlers.DeadLetterTopic: %w", err)
			return
		}
		c.deadLetter = topic
		c.noDeadLetter = false
	})
}

// NoDeadLetters makes the handler drop the messages it gives up on instead of
// publishing them as DeadLetter values. The failure is still returned to the
// bus, which counts it in the subscription's Failed stat.
func NoDeadLetters() bus.SubscribeOption {
	return optionFunc(func(c *config) { c.noDeadLetter = true })
}

// WithMiddleware wraps the handler in mw. The first middleware given is the
// outermost of them; all of them run inside the package's own layers, once
// per attempt (see the package documentation for the order). T must be the
// handler's message type; a mismatch is reported by Register's Err and by
// Subscribe.
func WithMiddleware[T any](mw ...Middleware[T]) bus.SubscribeOption {
	return optionFunc(func(c *config) {
		for _, m := range mw {
			c.middleware = append(c.middleware, m)
		}
	})
}

// Retry makes the handler try each message up to attempts times in all (the
// first call included) while it fails with an error worth retrying, waiting
// an exponential backoff with jitter between attempts. attempts must be at
// least 1; 1 means no retry, the default. By default every error is retried
// except one marked with Permanent and except when the handler's context has
// ended; RetryIf narrows that. The wait between attempts is, before jitter,
// 100ms doubling up to 10s; see Backoff, BackoffMultiplier and Jitter.
//
// With bus.Concurrency 1 (the default) a message waiting for its next attempt
// holds up the messages of this handler queued behind it (to keep their
// order), never those of other subscribers.
func Retry(attempts int, opts ...RetryOption) bus.SubscribeOption {
	return optionFunc(func(c *config) {
		if attempts < 1 {
			c.errorf("handlers.Retry(%d): attempts counts every call, the first included: use at least 1", attempts)
			return
		}
		p := defaultRetry()
		p.attempts = attempts
		for i, o := range opts {
			if o == nil {
				c.errorf("handlers.Retry: option %d of %d is nil", i+1, len(opts))
				continue
			}
			if err := o.applyRetry(&p); err != nil {
				c.errs = append(c.errs, err)
			}
		}
		c.retry = p
	})
}

// RetryOption configures Retry.
type RetryOption interface {
	applyRetry(*retryPolicy) error
}

type retryOptionFunc func(*retryPolicy) error

func (f retryOptionFunc) applyRetry(p *retryPolicy) error { return f(p) }

// Backoff sets the wait before the second attempt (initial) and the most any
// wait may grow to (ceiling). The defaults are 100ms and 10s.
func Backoff(initial, ceiling time.Duration) RetryOption {
	return retryOptionFunc(func(p *retryPolicy) error {
		if initial <= 0 || ceiling < initial {
			return fmt.Errorf("handlers.Backoff(%v, %v): want 0 < initial <= ceiling", initial, ceiling)
		}
		p.initial, p.max = initial, ceiling
		return nil
	})
}

// BackoffMultiplier sets how much each wait grows over the previous one; the
// default is 2. It must be at least 1 (1 makes every wait the same).
func BackoffMultiplier(f float64) RetryOption {
	return retryOptionFunc(func(p *retryPolicy) error {
		if !(f >= 1) || f > 1e6 {
			return fmt.Errorf("handlers.BackoffMultiplier(%v): want a factor from 1 to 1e6, like 2", f)
		}
		p.multiplier = f
		return nil
	})
}

// Jitter sets the fraction of each wait that is random: a wait of d lasts
// between d*(1-fraction) and d, so that handlers failing together do not
// retry together. The default is 0.2; 0 turns jitter off.
func Jitter(fraction float64) RetryOption {
	return retryOptionFunc(func(p *retryPolicy) error {
		if !(fraction >= 0 && fraction <= 1) {
			return fmt.Errorf("handlers.Jitter(%v): want a fraction from 0 to 1, like 0.2", fraction)
		}
		p.jitter = fraction
		return nil
	})
}

// RetryIf retries only the errors for which retryable returns true. Errors
// marked with Permanent are never retried, whatever retryable says. A panic
// arrives as a *bus.PanicError, a timeout as an error matching ErrTimeout.
func RetryIf(retryable func(error) bool) RetryOption {
	return retryOptionFunc(func(p *retryPolicy) error {
		if retryable == nil {
			return errors.New("handlers.RetryIf(nil): pass a function, or leave the option out to retry every error")
		}
		p.retryable = retryable
		return nil
	})
}
