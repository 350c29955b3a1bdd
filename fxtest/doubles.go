package fxtest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/source"
)

// ErrInjected is the error a Flaky returns for its failing calls when it
// was given none.
var ErrInjected = errors.New("fxtest: injected failure")

// Call is one finished call of a test double's Handle method.
type Call[T any] struct {
	Value         T
	CorrelationID bus.CorrelationID // the message's, from the handler's context
	Topic         string            // the topic the message was published on
	Attempt       int               // 1 for the first attempt, 2 for the first retry (handlers.AttemptFrom)
	Err           error             // what the call returned
}

func newCall[T any](ctx context.Context, v T, err error) Call[T] {
	c := Call[T]{Value: v, Attempt: handlers.AttemptFrom(ctx), Err: err}
	c.CorrelationID, _ = bus.CorrelationIDFrom(ctx)
	c.Topic, _ = bus.TopicFrom(ctx)
	return c
}

// CallLog records the calls of a test double, in the order they returned.
// Spy, Flaky and Blocker embed one. Its zero value is ready to use, and it is
// safe for concurrent use.
type CallLog[T any] struct {
	calls list[Call[T]]
}

// Calls returns the calls that returned so far.
func (l *CallLog[T]) Calls() []Call[T] { return l.calls.snapshot() }

// Values returns the values of the calls that returned so far. With
// retries, a value shows once per attempt.
func (l *CallLog[T]) Values() []T {
	calls := l.calls.snapshot()
	vs := make([]T, len(calls))
	for i, c := range calls {
		vs[i] = c.Value
	}
	return vs
}

// Len returns how many calls returned so far.
func (l *CallLog[T]) Len() int { return l.calls.len() }

// Wait waits until at least n calls have returned, and returns them all. If
// ctx ends first it returns the calls so far and an error that counts them.
func (l *CallLog[T]) Wait(ctx context.Context, n int) ([]Call[T], error) {
	calls, err := l.calls.wait(ctx, n)
	if err != nil {
		return calls, fmt.Errorf("%d call(s) of the %s handler returned, want %d: %w", len(calls), source.TypeName[T](), n, err)
	}
	return calls, nil
}

// WaitN waits until at least n calls have returned, and returns them all. It
// fails app's test if that takes longer than app's Timeout (DefaultTimeout
// unless the Timeout option set another). In synchronous mode the calls have
// returned as soon as Publish returns.
func (l *CallLog[T]) WaitN(app *App, n int) []Call[T] {
	if app == nil || app.tb == nil {
		panic(fmt.Sprintf("fxtest: %s handler's WaitN(nil, %d): pass the app that fxtest.New returned", source.TypeName[T](), n))
	}
	app.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), app.cfg.timeout)
	defer cancel()
	calls, err := l.Wait(ctx, n)
	if err != nil {
		app.tb.Errorf("fxtest: %v", err)
		app.tb.FailNow()
	}
	return calls
}

func (l *CallLog[T]) add(ctx context.Context, v T, err error) error {
	l.calls.add(newCall(ctx, v, err))
	return err
}

// Spy is a handler of T that records its calls and returns nil. Its zero
// value is ready to use; register a pointer like any handler:
//
//	spy := new(fxtest.Spy[Order])
//	handlers.Supply(handlers.Register[Order]("orders.placed", spy))
type Spy[T any] struct {
	CallLog[T]
}

// Handle records the call and returns nil.
func (s *Spy[T]) Handle(ctx context.Context, v T) error { return s.add(ctx, v, nil) }

// Flaky is a handler of T whose first n calls fail and whose later calls
// succeed, to test retries (handlers.Retry) and dead letters
// (handlers.DeadLetter). The count is over all its calls, whatever the
// message. It records its calls; the failed ones have an Err.
type Flaky[T any] struct {
	CallLog[T]
	n   int
	err error

	mu     sync.Mutex
	failed int
}

// NewFlaky returns a Flaky whose first n calls return err (ErrInjected if
// err is nil). Mark err with handlers.Permanent to test that it is not
// retried. A negative n makes every call fail with an error that says so.
func NewFlaky[T any](n int, err error) *Flaky[T] {
	if err == nil {
		err = ErrInjected
	}
	return &Flaky[T]{n: n, err: err}
}

// Handle fails while the Flaky has failures left, then returns nil.
func (f *Flaky[T]) Handle(ctx context.Context, v T) error {
	if f.n < 0 {
		return f.add(ctx, v, fmt.Errorf("fxtest.NewFlaky[%s](%d, ...): the number of failing calls must be at least 0", source.TypeName[T](), f.n))
	}
	f.mu.Lock()
	fail := f.failed < f.n
	if fail {
		f.failed++
	}
	f.mu.Unlock()
	if fail {
		return f.add(ctx, v, f.err)
	}
	return f.add(ctx, v, nil)
}

// Blocker is a handler of T whose calls block until the test releases them,
// to test slow-subscriber policies and shutdown. Each call first reports its
// value on Started, then waits for Release or ReleaseAll; it returns nil when
// released, or its context's error if the bus cancels it (when a stop gives
// up draining). It records its calls when they return. Its zero value is
// ready to use: new(fxtest.Blocker[T]).
//
// Use it with the Async option: on a synchronous bus Publish waits for the
// blocked call, so only a publish from another goroutine could return.
// Release what you block before the app stops, or the stop waits for the
// calls until fx's stop timeout: t.Cleanup(blk.ReleaseAll) after fxtest.New
// runs before the app's stop.
type Blocker[T any] struct {
	CallLog[T]

	mu      sync.Mutex
	started chan T
	wake    chan struct{} // closed when tokens or all change
	tokens  int           // calls that Release let through ahead of time
	all     bool          // ReleaseAll was called
	running int
}

// init makes the channels of a zero Blocker; b.mu is held.
func (b *Blocker[T]) init() {
	if b.started == nil {
		b.started = make(chan T)
		b.wake = make(chan struct{})
	}
}

// Started returns the channel on which each call reports its value when it
// starts. It is unbuffered: a call waits until the test receives its value,
// or until it is released, so a test that does not care about starts need
// not read it.
func (b *Blocker[T]) Started() <-chan T {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.init()
	return b.started
}

// Release lets one call return: one that is blocked now, or else the next
// one to start.
func (b *Blocker[T]) Release() {
	b.mu.Lock()
	b.init()
	b.tokens++
	b.signal()
	b.mu.Unlock()
}

// ReleaseAll lets every call return, now and from now on.
func (b *Blocker[T]) ReleaseAll() {
	b.mu.Lock()
	b.init()
	b.all = true
	b.signal()
	b.mu.Unlock()
}

// Running returns how many calls have started and not returned.
func (b *Blocker[T]) Running() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}

// signal wakes the blocked calls; b.mu is held.
func (b *Blocker[T]) signal() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// take uses up a release if there is one; wake is closed when one comes.
func (b *Blocker[T]) take() (released bool, wake <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.all:
		return true, nil
	case b.tokens > 0:
		b.tokens--
		return true, nil
	}
	return false, b.wake
}

// Handle reports the call on Started, blocks until released, and returns
// nil, or its context's error if the context ends first.
func (b *Blocker[T]) Handle(ctx context.Context, v T) error {
	b.mu.Lock()
	b.init()
	b.running++
	started := b.started
	b.mu.Unlock()
	err := b.block(ctx, v, started)
	b.mu.Lock()
	b.running--
	b.mu.Unlock()
	return b.add(ctx, v, err)
}

func (b *Blocker[T]) block(ctx context.Context, v T, started chan<- T) error {
	for reported := false; ; {
		released, wake := b.take()
		if released {
			return nil
		}
		report := started
		if reported {
			report = nil // a nil channel: only wake or ctx
		}
		select {
		case report <- v:
			reported = true
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
