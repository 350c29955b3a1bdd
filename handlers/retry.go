package handlers

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/fxbus/fxbus/internal/broker"
)

// retryPolicy is how many times a message is tried and how long to wait in
// between.
type retryPolicy struct {
	attempts   int // in all, the first included
	initial    time.Duration
	max        time.Duration
	multiplier float64
	jitter     float64
	retryable  func(error) bool // nil: every error
}

func defaultRetry() retryPolicy {
	return retryPolicy{
		attempts:   1,
		initial:    100 * time.Millisecond,
		max:        10 * time.Second,
		multiplier: 2,
		jitter:     0.2,
	}
}

// ceiling returns the wait after attempt failed attempts, before jitter:
// initial * multiplier^(attempt-1), at most max.
func (p *retryPolicy) ceiling(attempt int) time.Duration {
	d := float64(p.initial) * math.Pow(p.multiplier, float64(attempt-1))
	if d >= float64(p.max) || math.IsInf(d, 1) || math.IsNaN(d) {
		return p.max
	}
	return time.Duration(d)
}

// backoff returns the wait after attempt failed attempts: the ceiling, less
// a random part of up to jitter of it. r is in [0, 1).
func (p *retryPolicy) backoff(attempt int, r float64) time.Duration {
	d := p.ceiling(attempt)
	if p.jitter > 0 {
		d -= time.Duration(float64(d) * p.jitter * r)
	}
	return d
}

// worthRetry reports whether err, the error of attempt, earns another one.
func (p *retryPolicy) worthRetry(ctx context.Context, err error, attempt int) bool {
	if attempt >= p.attempts || IsPermanent(err) || ctx.Err() != nil {
		return false
	}
	return p.retryable == nil || p.retryable(err)
}

// sleepCtx waits d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errPermanent = errors.New("handlers: permanent error")

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() error        { return e.err }
func (e *permanentError) Is(target error) bool { return target == errPermanent }

// Permanent marks err as not worth a retry: a handler that returns it (or an
// error wrapping it) is not called again for that message, which goes to the
// dead-letter topic at once. The result still matches err with errors.Is and
// errors.As, and has err's message. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err is, or wraps, an error made by Permanent.
func IsPermanent(err error) bool { return err != nil && errors.Is(err, errPermanent) }

type attemptKey struct{}

// AttemptFrom returns which attempt at the current message a handler's call
// is: 1 for the first call, 2 for the first retry, and so on; for a message
// that a broker delivered (an import of package natsbridge), the broker's delivery count.
// It returns 1 for a context that carries no attempt number.
func AttemptFrom(ctx context.Context) int {
	if ctx != nil {
		if n, ok := ctx.Value(attemptKey{}).(int); ok {
			return n
		}
		if d, ok := broker.From(ctx); ok {
			return d.Attempt
		}
	}
	return 1
}

func withAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey{}, n)
}

func realRand() float64 { return rand.Float64() }
