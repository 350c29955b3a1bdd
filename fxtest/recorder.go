package fxtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/fxgroup"
	"github.com/fxbus/fxbus/internal/quote"
	"github.com/fxbus/fxbus/internal/source"
)

// recorderName is the handler name a Recorder subscribes with, as it shows
// in the bus's stats. One Recorder per topic (or pattern) and app.
const recorderName = "fxtest.recorder"

// Recorder records every message of type T published on a topic (or on the
// topics a pattern matches), in order, with its correlation ID. Subscribe one
// with Record on a running app, or with its Option when the app is built, to
// see what components publish while they start. It subscribes as the handler
// "fxtest.recorder", as the bus's stats show it. It is safe for concurrent
// use.
type Recorder[T any] struct {
	pattern string
	msgs    list[bus.Message[T]]

	mu      sync.Mutex
	bus     *bus.Bus
	timeout time.Duration
	err     error // why it could not subscribe
}

// NewRecorder returns a Recorder for pattern (a topic name, or a pattern
// with '*' and '>') that is not subscribed yet: pass its Option to New.
func NewRecorder[T any](pattern string) *Recorder[T] {
	return &Recorder[T]{pattern: pattern}
}

// Record subscribes a new Recorder to pattern on app's running bus. It fails
// the test if pattern is invalid, if it is a topic name that the bus does not
// have (a typo would otherwise record nothing), or if the topic carries
// another type than T. It records what is published from now on; to record
// what components publish at start, use NewRecorder and its Option.
func Record[T any](app *App, pattern string) *Recorder[T] {
	r := NewRecorder[T](pattern)
	if app == nil || app.tb == nil {
		r.err = fmt.Errorf("%s: nil *App: pass the app that fxtest.New returned", r)
		return r
	}
	app.tb.Helper()
	if err := r.subscribe(app); err != nil {
		r.err = err
		app.tb.Errorf("fxtest.Record: %v", err)
		app.tb.FailNow()
	}
	return r
}

func (r *Recorder[T]) subscribe(app *App) error {
	if app.bus == nil {
		return fmt.Errorf("%s: the app has no bus (it did not build)", r)
	}
	if err := bus.ValidatePattern(r.pattern); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	if bus.ValidateTopic(r.pattern) == nil && !hasTopic(app.bus, r.pattern) {
		return fmt.Errorf("%s: no topic %s on the bus: declare it with fxbus.Topic[%s](%[2]s), or check the name", r, quote.String(r.pattern), source.TypeName[T]())
	}
	reg, err := r.registration(app.bus, app)
	if err != nil {
		return err
	}
	// The subscription lives as long as the bus: its Close ends it.
	if _, err := reg.Subscribe(context.Background(), app.bus); err != nil {
		return fmt.Errorf("%s: %w", r, err)
	}
	return nil
}

// registration binds r to b and returns its handler.
func (r *Recorder[T]) registration(b *bus.Bus, app *App) (handlers.Registration, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bus != nil {
		return handlers.Registration{}, fmt.Errorf("%s is already subscribed: make one Recorder per app", r)
	}
	r.bus, r.timeout = b, DefaultTimeout
	if app != nil {
		r.timeout = app.cfg.timeout
	}
	return handlers.RegisterFunc(r.pattern, r.handle, bus.Name(recorderName), handlers.NoDeadLetters()), nil
}

type recorderIn struct {
	fx.In
	Bus *bus.Bus
	App *App `name:"fxtest.app" optional:"true"`
}

// Option subscribes the Recorder when the app starts, with the app's
// handlers, so that it sees what components publish in their OnStart
// hooks. Pass it to New (or to fx.New with fxbus.Module). The topic must be
// declared (fxbus.Topic), as for any handler.
func (r *Recorder[T]) Option() fx.Option {
	return fx.Provide(fx.Annotate(func(in recorderIn) (handlers.Registration, error) {
		return r.registration(in.Bus, in.App)
	}, fx.ResultTags(`group:"`+fxgroup.Handlers+`"`)))
}

func (r *Recorder[T]) handle(ctx context.Context, v T) error {
	m := bus.Message[T]{Value: v}
	m.CorrelationID, _ = bus.CorrelationIDFrom(ctx)
	m.Topic, _ = bus.TopicFrom(ctx)
	r.msgs.add(m)
	return nil
}

// String describes the Recorder for messages, as the code that makes it reads.
func (r *Recorder[T]) String() string {
	return fmt.Sprintf("Recorder[%s](%s)", source.TypeName[T](), quote.String(r.pattern))
}

// Messages returns the messages recorded so far, in the order they were
// handled (the publish order, per topic).
func (r *Recorder[T]) Messages() []bus.Message[T] { return r.msgs.snapshot() }

// Values returns the values of the messages recorded so far.
func (r *Recorder[T]) Values() []T {
	msgs := r.msgs.snapshot()
	vs := make([]T, len(msgs))
	for i, m := range msgs {
		vs[i] = m.Value
	}
	return vs
}

// Len returns how many messages were recorded so far.
func (r *Recorder[T]) Len() int { return r.msgs.len() }

// Wait waits until at least n messages were recorded, and returns them all.
// If ctx ends first it returns what was recorded and an error that says how
// many arrived.
func (r *Recorder[T]) Wait(ctx context.Context, n int) ([]bus.Message[T], error) {
	if err := r.usable(); err != nil {
		return nil, err
	}
	msgs, err := r.msgs.wait(ctx, n)
	if err != nil {
		return msgs, fmt.Errorf("%s: %d message(s) recorded, want %d: %w%s", r, len(msgs), n, err, summary(msgs))
	}
	return msgs, nil
}

// WaitN waits until at least n messages were recorded, and returns them
// all. It fails the test if they do not arrive within the app's Timeout
// (DefaultTimeout when the Recorder was not subscribed by an fxtest app).
// In synchronous mode the messages are there as soon as Publish returns.
func (r *Recorder[T]) WaitN(tb TB, n int) []bus.Message[T] {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), r.waitTimeout())
	defer cancel()
	msgs, err := r.Wait(ctx, n)
	if err != nil {
		tb.Errorf("fxtest: %v", err)
		tb.FailNow()
	}
	return msgs
}

// AssertNone fails the test if the Recorder recorded any message. It waits
// for the bus to be idle first (App.WaitIdle), so that in asynchronous mode
// no message is still on its way; release blocked handlers before calling it.
func (r *Recorder[T]) AssertNone(tb TB) {
	tb.Helper()
	if err := r.usable(); err != nil {
		tb.Errorf("fxtest: %v", err)
		tb.FailNow()
		return
	}
	r.mu.Lock()
	b := r.bus
	r.mu.Unlock()
	if err := waitIdle(b, r.waitTimeout()); err != nil {
		tb.Errorf("fxtest: %s.AssertNone: %v, so messages may still arrive", r, err)
		tb.FailNow()
		return
	}
	if msgs := r.Messages(); len(msgs) > 0 {
		tb.Errorf("fxtest: %s recorded %d message(s), want none%s", r, len(msgs), summary(msgs))
	}
}

func (r *Recorder[T]) usable() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.err != nil:
		return r.err
	case r.bus == nil:
		return fmt.Errorf("%s is not subscribed: make it with fxtest.Record, or pass its Option to fxtest.New", r)
	}
	return nil
}

func (r *Recorder[T]) waitTimeout() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timeout > 0 {
		return r.timeout
	}
	return DefaultTimeout
}

// summary lists up to ten messages, for failure messages.
func summary[T any](msgs []bus.Message[T]) string {
	if len(msgs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(":")
	for i, m := range msgs {
		if i == 10 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(msgs)-i)
			break
		}
		fmt.Fprintf(&b, "\n\t%s: %s (correlation ID %s)", m.Topic, quote.Value(m.Value), m.CorrelationID)
	}
	return b.String()
}

// list is an append-only list whose waiters wake on each append.
type list[E any] struct {
	mu    sync.Mutex
	items []E
	wake  chan struct{} // closed on the next append; nil while nobody waits
}

func (l *list[E]) add(e E) {
	l.mu.Lock()
	l.items = append(l.items, e)
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
	l.mu.Unlock()
}

func (l *list[E]) snapshot() []E {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

func (l *list[E]) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.items)
}

// wait waits until the list holds at least n items or ctx ends.
func (l *list[E]) wait(ctx context.Context, n int) ([]E, error) {
	if ctx == nil {
		return nil, errors.New("nil context")
	}
	for {
		l.mu.Lock()
		if len(l.items) >= n {
			items := slices.Clone(l.items)
			l.mu.Unlock()
			return items, nil
		}
		if l.wake == nil {
			l.wake = make(chan struct{})
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return l.snapshot(), ctx.Err()
		}
	}
}
