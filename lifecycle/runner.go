package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/decl"
	"github.com/fxbus/fxbus/internal/observe"
	"github.com/fxbus/fxbus/internal/quote"
)

// Options configures a Runner. The zero value is valid: no logging, no
// observer, no declared topics, and a drain bounded only by Stop's context
// (less the reserve).
type Options struct {
	// Log logs subscriptions, what Stop left undelivered, and the handler
	// panics and dead letters it observes. Give the bus the same Log's Hooks
	// to log drops and disconnects. Nil logs nothing.
	Log *Log

	// Topics are the topics that fxbus.Topic declares: Start declares each
	// on the bus, and fails for a handler whose topic is neither declared
	// here nor already on the bus, unless it is a wildcard pattern or the
	// handler takes handlers.DeadLetter values. Without fx, declare the
	// topics with bus.NewTopic before Start.
	Topics []decl.Declaration

	// DrainTimeout bounds how long Stop waits for the bus to drain. Zero
	// means no bound of its own. Either way, when Stop's context has a
	// deadline the drain gives up before it, keeping KillGrace plus a
	// tenth of the time left (at most half of it) for the handlers to
	// return and for the hooks that stop after the bus.
	DrainTimeout time.Duration

	// Observer, when set, also sees every handler call, after the Log's:
	// pass a *metrics.Metrics' Observer() (fxbus.Module does so when the
	// app has a prometheus.Registerer).
	Observer observe.Observer

	// Wait, when set, replaces the wait between a handler's attempts: it
	// waits d, or until ctx ends and then returns ctx's error. Tests use it
	// to retry at once. Nil waits on a real timer.
	Wait func(ctx context.Context, d time.Duration) error

	// Interceptor, when set, wraps every attempt of every handler: pass
	// the Handlers of an otelfxbus.Tracing's Instrumentation() for a span
	// per attempt.
	Interceptor observe.Interceptor
}

// Runner subscribes an app's handlers to a bus at Start and shuts the bus
// down at Stop. In an fx app, fxbus.Module runs one; without fx, call Start
// before publishing and Stop at the end.
type Runner struct {
	b    *bus.Bus
	regs []handlers.Registration
	opts Options
	log  *zap.Logger

	mu      sync.Mutex
	started bool
	subs    []handlers.Subscription
}

// New returns a Runner for the handler registrations regs on b. It keeps its
// own copy of regs, sorted by topic, then name: fx value groups come in no
// fixed order, and subscription order decides the order of the shutdown.
func New(b *bus.Bus, regs []handlers.Registration, opts Options) *Runner {
	regs = slices.Clone(regs)
	sortRegistrations(regs)
	opts.Topics = slices.Clone(opts.Topics)
	slices.SortStableFunc(opts.Topics, func(a, b decl.Declaration) int {
		return cmp.Or(cmp.Compare(a.Name(), b.Name()), cmp.Compare(typeString(a.Type()), typeString(b.Type())))
	})
	topics := make([]string, 0, len(regs))
	for _, r := range regs {
		if !bus.IsPattern(r.Topic()) {
			topics = append(topics, r.Topic())
		}
	}
	opts.Log.watch(topics)
	return &Runner{b: b, regs: regs, opts: opts, log: opts.Log.logger()}
}

// sortRegistrations sorts regs by topic, then name (then type and source),
// so that they subscribe in the same order on every run: fx hands a value
// group's values over in no particular order.
func sortRegistrations(regs []handlers.Registration) {
	slices.SortStableFunc(regs, func(a, b handlers.Registration) int {
		return cmp.Or(
			cmp.Compare(a.Topic(), b.Topic()),
			cmp.Compare(a.Name(), b.Name()),
			cmp.Compare(typeString(a.Info().Type), typeString(b.Info().Type)),
			cmp.Compare(a.Info().Source, b.Info().Source),
		)
	})
}

func typeString(t reflect.Type) string {
	if t == nil {
		return ""
	}
	return t.String()
}

// Start declares the topics and subscribes every handler, in order of topic
// and name. Before it subscribes anything it checks every handler's topic:
// a name that breaks the naming rules, or a topic that nothing declared, is
// an error that names the handler. If a subscription fails, Start closes the
// ones it made, closes the bus (the app will not run), and returns an error
// that names the handler and the cause.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started {
		return errors.New("lifecycle: Start called twice: a Runner starts once; make a new bus and Runner")
	}
	r.started = true
	if r.b == nil {
		return errNilBus
	}
	if err := r.declare(); err != nil {
		return r.fail(ctx, err)
	}
	env := observe.Env{Observer: observe.Observers(r.opts.Log.observer(), r.opts.Observer), Wait: r.opts.Wait, Interceptor: r.opts.Interceptor}
	for _, reg := range r.regs {
		// The subscription lives until Stop closes the bus, not as long as
		// the start context.
		s, err := reg.Subscribe(observe.WithEnv(context.Background(), env), r.b)
		if err != nil {
			return r.fail(ctx, fmt.Errorf("lifecycle: start: %w", err))
		}
		r.subs = append(r.subs, s)
		r.log.Debug("fxbus: subscribed",
			zap.String("topic", reg.Topic()), zap.String("subscriber", s.Name()),
			zap.Stringer("type", reg.Info().Type), zap.String("source", reg.Info().Source))
	}
	r.opts.Log.setSubscribed(true)
	return nil
}

var errNilBus = errors.New("lifecycle: the Runner has a nil *bus.Bus: pass the bus to lifecycle.New")

// declare declares the topics on the bus and checks every registration's
// topic before anything subscribes, reporting every problem at once.
func (r *Runner) declare() error {
	var errs []error
	declared := make(map[string]bool)
	first := make(map[string]decl.Declaration) // the declaration that made each topic
	for _, d := range r.opts.Topics {
		if d.Type() == nil {
			errs = append(errs, errors.New("lifecycle: a zero Declaration: make one with fxbus.Topic"))
			continue
		}
		if err := d.Declare(r.b); err != nil {
			if f, ok := first[d.Name()]; ok {
				err = fmt.Errorf("%w (the topic was declared first by %s)", err, f)
			}
			errs = append(errs, fmt.Errorf("lifecycle: %s: %w", d, err))
			continue
		}
		if _, ok := first[d.Name()]; !ok {
			first[d.Name()] = d
		}
		declared[d.Name()] = true
	}
	// Topics declared on the bus by other means (a bridge, bus.NewTopic in
	// a constructor) count as declared too.
	for _, t := range r.b.Stats().Topics {
		declared[t.Name] = true
	}
	for _, reg := range r.regs {
		if err := reg.Err(); err != nil {
			// A zero Registration, a nil handler, bad handler options.
			errs = append(errs, fmt.Errorf("lifecycle: %w", err))
			continue
		}
		topic := reg.Topic()
		if err := bus.ValidatePattern(topic); err != nil {
			errs = append(errs, fmt.Errorf("lifecycle: %s: %w", reg, err))
			continue
		}
		if !bus.IsPattern(topic) && !declared[topic] && !reg.Info().DeadLetters {
			errs = append(errs, fmt.Errorf("lifecycle: %s: no topic %s is declared: add fxbus.Topic[%s](%[2]s) to the app's options (or declare it with bus.NewTopic before Start)",
				reg, quote.String(topic), typeString(reg.Info().Type)))
		}
	}
	return errors.Join(errs...)
}

// fail undoes a partial start: it closes the subscriptions made so far in
// reverse order, waits for them within ctx, and closes the bus, whose
// workers would otherwise outlive the app (fx does not call the OnStop of a
// hook whose OnStart failed).
func (r *Runner) fail(ctx context.Context, err error) error {
	for i := len(r.subs) - 1; i >= 0; i-- {
		r.subs[i].Close()
	}
	for _, s := range r.subs {
		select {
		case <-s.Done():
		case <-ctx.Done():
		}
	}
	r.subs = nil
	if cerr := r.b.Close(ctx); cerr != nil {
		err = errors.Join(err, fmt.Errorf("lifecycle: closing the bus after a failed start: %w", cerr))
	}
	r.opts.Log.flush()
	return err
}

// drainContext returns the context that bounds the drain: DrainTimeout, if
// set, and, when ctx has a deadline, that deadline less a reserve. fx gives
// up on the whole stop at its deadline (app.Stop then returns the context's
// error, not the hooks', and skips the hooks left), so the drain must give
// up earlier: after it the bus still waits up to its KillGrace for running
// handlers, and what the handlers depend on still has to stop. The reserve
// is KillGrace plus a tenth of the time left, but at most half of it.
func (r *Runner) drainContext(ctx context.Context, now time.Time) (context.Context, context.CancelFunc) {
	var limit time.Time
	if d := r.opts.DrainTimeout; d > 0 {
		limit = now.Add(d)
	}
	if dl, ok := ctx.Deadline(); ok {
		left := dl.Sub(now)
		reserve := min(r.b.KillGrace()+left/10, left/2)
		if at := dl.Add(-reserve); limit.IsZero() || at.Before(limit) {
			limit = at
		}
	}
	if limit.IsZero() {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, limit)
}

// Stop shuts the bus down (see bus.Bus.Close): it refuses publishes that do
// not come from handlers, drains every queue while handlers' own publishes
// are still delivered, closes the subscriptions in reverse order of
// subscription and waits for the bus's workers. When the drain runs out of
// time (DrainTimeout, or ctx's deadline less a reserve: see Options), the
// handlers' contexts are cancelled and what was left is dropped and counted;
// Stop logs each subscriber and its count and returns the
// *bus.ShutdownError that names them. Stop then flushes the Log.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.b == nil {
		return errNilBus
	}
	r.log.Debug("fxbus: stopping: draining the bus")
	dctx, cancel := r.drainContext(ctx, time.Now())
	defer cancel()
	err := r.b.Close(dctx)
	r.subs = nil
	r.opts.Log.flush()
	var se *bus.ShutdownError
	if errors.As(err, &se) {
		log := r.log.Warn // publishes that raced with the close
		if se.Cause != nil {
			log = r.log.Error // the deadline cut the drain short
		}
		for _, l := range se.Leftovers {
			log("fxbus: messages left undelivered at shutdown",
				zap.String("topic", l.Topic), zap.String("subscriber", l.Subscriber),
				zap.Uint64("count", l.Count), zap.Bool("handler_running", l.Running))
		}
	}
	if err != nil {
		return err
	}
	r.log.Debug("fxbus: bus stopped")
	return nil
}
