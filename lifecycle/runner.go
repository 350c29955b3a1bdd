package lifecycle

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/quote"
	"github.com/fxbus/fxbus/metrics"
)

// Declaration is a topic that an app declares: a name and its message type.
// fxbus.Topic puts one in the fx graph; a Runner declares each on the bus at
// Start, and only handlers of declared topics may subscribe.
type Declaration struct {
	name    string
	typ     reflect.Type
	source  string
	declare func(*bus.Bus) error
}

// Declare returns the Declaration of the topic called name that carries T.
func Declare[T any](name string) Declaration {
	return Declaration{
		name: name,
		typ:  reflect.TypeFor[T](),
		declare: func(b *bus.Bus) error {
			_, err := bus.NewTopic[T](b, name)
			return err
		},
	}
}

// Name returns the topic's name.
func (d Declaration) Name() string { return d.name }

// Type returns the topic's message type.
func (d Declaration) Type() reflect.Type { return d.typ }

// WithSource returns d with where it was made (a function and its
// file:line), which errors about it then name; fxbus.Topic records its
// caller.
func (d Declaration) WithSource(source string) Declaration {
	d.source = source
	return d
}

// Source returns where the declaration was made, or "" if nobody said.
func (d Declaration) Source() string { return d.source }

// String describes the declaration as the code that makes it reads, and
// where that code is when known.
func (d Declaration) String() string {
	s := fmt.Sprintf("fxbus.Topic[%s](%s)", d.typ, quote.String(d.name))
	if d.source != "" {
		s += " in " + d.source
	}
	return s
}

// Options configures a Runner. The zero value is valid: no logging, no
// metrics, no declared topics, and a drain bounded only by Stop's context
// (less the reserve).
type Options struct {
	// Log logs subscriptions, what Stop left undelivered, and the handler
	// panics and dead letters it observes. Give the bus the same Log's Hooks
	// to log drops and disconnects. Nil logs nothing.
	Log *Log

	// Registerer, when set, gets the bus's metrics (see package metrics)
	// from Start to Stop, and the handlers' calls are observed for them.
	// Nil: no metrics are registered.
	Registerer prometheus.Registerer

	// Metrics, when set, is the bus's *metrics.Metrics, made by
	// metrics.New with a nil Registerer (fxbus.Module provides one, so
	// that tests can read its Collector): Start registers it on
	// Registerer, if set, instead of making one. Stop closes it either
	// way.
	Metrics *metrics.Metrics

	// Topics are the topics the app declares. Start declares each on the
	// bus, and fails for a handler whose topic is neither declared here nor
	// already on the bus, unless it is a wildcard pattern or the handler
	// takes handlers.DeadLetter values.
	Topics []Declaration

	// DrainTimeout bounds how long Stop waits for the bus to drain. Zero
	// means no bound of its own. Either way, when Stop's context has a
	// deadline the drain gives up before it, keeping KillGrace plus a
	// tenth of the time left (at most half of it) for the handlers to
	// return and for the hooks that stop after the bus.
	DrainTimeout time.Duration

	// KillGrace is the bus's KillGrace (bus.KillGrace; one second when the
	// bus has the default), which Stop keeps in reserve before the stop
	// deadline. Zero means one second.
	KillGrace time.Duration

	// Observer, when set, also sees every handler call, after the Log's and
	// the metrics' observers (for tracing, or for tests).
	Observer handlers.Observer

	// Wait, when set, replaces the wait between a handler's attempts (see
	// handlers.Env). Nil waits on a real timer.
	Wait func(ctx context.Context, d time.Duration) error

	// Interceptor, when set, wraps every attempt of every handler (see
	// handlers.Env): tracing.
	Interceptor handlers.Interceptor
}

// Runner subscribes an app's handlers to a bus at Start and shuts the bus
// down at Stop. Its methods fit fx.Hook; see Hook.
type Runner struct {
	b    *bus.Bus
	regs []handlers.Registration
	opts Options
	log  *zap.Logger

	mu       sync.Mutex
	started  bool
	subs     []handlers.Subscription
	metrics  *metrics.Metrics // closed at Stop
	observed bool             // the handlers are observed for metrics
}

// New returns a Runner for the handler registrations regs on b. It keeps its
// own copy of regs, sorted by topic, then name: fx value groups come in no
// fixed order, and subscription order decides the order of the shutdown.
func New(b *bus.Bus, regs []handlers.Registration, opts Options) *Runner {
	regs = slices.Clone(regs)
	handlers.Sort(regs)
	opts.Topics = slices.Clone(opts.Topics)
	slices.SortStableFunc(opts.Topics, func(a, b Declaration) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(typeString(a.typ), typeString(b.typ)))
	})
	if opts.KillGrace <= 0 {
		opts.KillGrace = time.Second
	}
	topics := make([]string, 0, len(regs))
	for _, r := range regs {
		if !isPattern(r.Topic()) {
			topics = append(topics, r.Topic())
		}
	}
	opts.Log.Watch(topics)
	return &Runner{b: b, regs: regs, opts: opts, log: opts.Log.Logger()}
}

func typeString(t reflect.Type) string {
	if t == nil {
		return ""
	}
	return t.String()
}

// Hook returns the fx hook that runs Start and Stop. Append it from the fx
// invoke that consumes the handler group, never from the bus's constructor:
// fx stops hooks in reverse order, so components built after that invoke
// (publishers, servers) then stop before the bus, and what the handlers
// depend on (built before it) stops after the bus has drained.
func (r *Runner) Hook() fx.Hook {
	return fx.Hook{OnStart: r.Start, OnStop: r.Stop}
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
	if err := r.startMetrics(); err != nil {
		return r.fail(ctx, fmt.Errorf("lifecycle: start: registering the bus's metrics: %w", err))
	}
	env := handlers.Env{Observer: Observers(r.opts.Log.Observer(), r.metricsObserver(), r.opts.Observer), Wait: r.opts.Wait, Interceptor: r.opts.Interceptor}
	for _, reg := range r.regs {
		// The subscription lives until Stop closes the bus, not as long as
		// the start context.
		s, err := reg.Subscribe(context.Background(), r.b, env)
		if err != nil {
			return r.fail(ctx, fmt.Errorf("lifecycle: start: %w", err))
		}
		r.subs = append(r.subs, s)
		r.log.Debug("fxbus: subscribed",
			zap.String("topic", reg.Topic()), zap.String("subscriber", s.Name()),
			zap.Stringer("type", reg.Type()), zap.String("source", reg.Source()))
	}
	r.opts.Log.setSubscribed(true)
	return nil
}

// startMetrics registers the bus's metrics when there is a Registerer, on
// the Metrics of the Options if set; the handlers are observed for them
// only then.
func (r *Runner) startMetrics() error {
	r.metrics = r.opts.Metrics
	if r.opts.Registerer == nil {
		return nil
	}
	if r.metrics == nil {
		m, err := metrics.New(r.opts.Registerer, r.b)
		if err != nil {
			return err
		}
		r.metrics = m
	} else if err := r.metrics.Register(r.opts.Registerer); err != nil {
		return err
	}
	r.observed = true
	return nil
}

var errNilBus = errors.New("lifecycle: the Runner has a nil *bus.Bus: pass the bus to lifecycle.New")

func (r *Runner) metricsObserver() handlers.Observer {
	if !r.observed {
		return nil
	}
	return r.metrics.Observer()
}

// declare declares the topics on the bus and checks every registration's
// topic before anything subscribes, reporting every problem at once.
func (r *Runner) declare() error {
	var errs []error
	declared := make(map[string]bool)
	first := make(map[string]Declaration) // the declaration that made each topic
	for _, d := range r.opts.Topics {
		if d.declare == nil {
			errs = append(errs, errors.New("lifecycle: a zero Declaration: make one with lifecycle.Declare or fxbus.Topic"))
			continue
		}
		if err := d.declare(r.b); err != nil {
			if f, ok := first[d.name]; ok {
				err = fmt.Errorf("%w (the topic was declared first by %s)", err, f)
			}
			errs = append(errs, fmt.Errorf("lifecycle: %s: %w", d, err))
			continue
		}
		if _, ok := first[d.name]; !ok {
			first[d.name] = d
		}
		declared[d.name] = true
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
		if !isPattern(topic) && !declared[topic] && !isDeadLetter(reg.Type()) {
			errs = append(errs, fmt.Errorf("lifecycle: %s: no topic %s is declared: add fxbus.Topic[%s](%[2]s) to the app's options (or lifecycle.Declare to Options.Topics)",
				reg, quote.String(topic), typeString(reg.Type())))
		}
	}
	return errors.Join(errs...)
}

// deadLetterType is the package path and name prefix of handlers.DeadLetter.
var deadLetterType = reflect.TypeFor[handlers.DeadLetter[struct{}]]()

// isDeadLetter reports whether t is a handlers.DeadLetter[T]: dead-letter
// topics are declared by the handlers that publish to them, at start.
func isDeadLetter(t reflect.Type) bool {
	return t != nil && t.PkgPath() == deadLetterType.PkgPath() && strings.HasPrefix(t.Name(), "DeadLetter[")
}

// isPattern reports whether a valid pattern has a wildcard token.
func isPattern(p string) bool {
	for i := 0; i < len(p); i++ {
		if (p[i] == '*' || p[i] == '>') && (i == 0 || p[i-1] == '.') && (i == len(p)-1 || p[i+1] == '.') {
			return true
		}
	}
	return false
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
	r.closeMetrics()
	r.opts.Log.Flush()
	return err
}

func (r *Runner) closeMetrics() {
	if r.metrics != nil {
		r.metrics.Close()
		r.metrics, r.observed = nil, false
	}
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
		reserve := min(r.opts.KillGrace+left/10, left/2)
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
// *bus.ShutdownError that names them. Stop then unregisters the metrics and
// flushes the Log.
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
	r.closeMetrics()
	r.opts.Log.Flush()
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
