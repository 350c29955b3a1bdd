package lifecycle

import (
	"errors"
	"sync"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// DefaultLogInterval is how often at most a Log writes a warning or error
// line for one kind of event on one subscriber (a drop reason, a disconnect,
// a panic, a dead letter); what it holds back in between is counted and
// reported in the next line's "suppressed" field.
const DefaultLogInterval = time.Second

// Log writes what a bus does to the logs through a zap logger: drops and
// disconnects at warn, handler panics at error, dead letters and other failed
// handler calls at warn (a Runner adds subscriptions at debug and shutdown
// losses at error). Warnings and errors are rate-limited per subscriber and
// kind of event, so that a storm of drops cannot flood the log: the first
// line of a kind is written at once, later ones at most every
// DefaultLogInterval, each with the number of lines it held back. Flush
// writes what is still held back.
//
// A Log starts no goroutines. It is safe for concurrent use; a nil *Log logs
// nothing.
type Log struct {
	l     *zap.Logger
	every time.Duration
	now   func() time.Time // for tests

	mu     sync.RWMutex
	limits map[limitKey]*limit
}

// NewLog returns a Log that writes to l; a nil l logs nothing.
func NewLog(l *zap.Logger) *Log {
	if l == nil {
		l = zap.NewNop()
	}
	return &Log{l: l, every: DefaultLogInterval, now: time.Now, limits: make(map[limitKey]*limit)}
}

// Logger returns the zap logger the Log writes to (a no-op logger for a nil
// Log).
func (g *Log) Logger() *zap.Logger {
	if g == nil {
		return zap.NewNop()
	}
	return g.l
}

// enabled reports whether the logger writes anything at all, so that a no-op
// logger costs the bus nothing.
func (g *Log) enabled() bool {
	return g != nil && g.l.Core().Enabled(zapcore.FatalLevel)
}

// Hooks returns the bus hooks that log drops and the ends of subscriptions.
// Pass them to bus.New with bus.WithHooks. Drops with reason shutdown are not
// logged one by one: the Runner's Stop logs them per subscriber.
func (g *Log) Hooks() bus.Hooks {
	if !g.enabled() {
		return bus.Hooks{}
	}
	return bus.Hooks{Dropped: g.dropped, Ended: g.ended}
}

func (g *Log) dropped(e bus.DropEvent) {
	if e.Reason == bus.ReasonShutdown {
		return
	}
	ce := g.l.Check(zapcore.WarnLevel, "fxbus: message dropped")
	if ce == nil {
		return
	}
	ok, held := g.limit(limitKey{event: "dropped", pattern: e.Pattern, subscriber: e.Subscriber, detail: e.Reason.String()}).allow(g)
	if !ok {
		return
	}
	fields := []zap.Field{
		zap.String("topic", e.Topic),
		zap.String("subscriber", e.Subscriber),
		zap.Stringer("reason", e.Reason),
		zap.Stringer("correlation_id", e.CorrelationID),
	}
	if e.Pattern != e.Topic {
		fields = append(fields, zap.String("pattern", e.Pattern))
	}
	if held > 0 {
		fields = append(fields, zap.Uint64("suppressed", held))
	}
	ce.Write(fields...)
}

func (g *Log) ended(e bus.EndEvent) {
	if !errors.Is(e.Err, bus.ErrDisconnected) {
		g.l.Debug("fxbus: subscription ended",
			zap.String("topic", e.Pattern), zap.String("subscriber", e.Subscriber), zap.Error(e.Err))
		return
	}
	ce := g.l.Check(zapcore.WarnLevel, "fxbus: subscriber disconnected")
	if ce == nil {
		return
	}
	ok, held := g.limit(limitKey{event: "disconnected", pattern: e.Pattern, subscriber: e.Subscriber}).allow(g)
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("topic", e.Pattern), zap.String("subscriber", e.Subscriber), zap.Error(e.Err)}
	if held > 0 {
		fields = append(fields, zap.Uint64("suppressed", held))
	}
	ce.Write(fields...)
}

// Observer returns a handler observer that logs failed calls: panics at
// error level, with the correlation ID and the panic's stack, whatever
// happens to the message next (retried, dead-lettered or dropped), as
// handlers.OutcomeOf tells them from other errors; dead
// letters at warn; and other failures that end a message's handling (an
// error or a timeout with no dead letter) at warn. Successful calls and
// failures that will be retried cost a level check. The observer is nil when
// the logger writes nothing, so that calls are not observed for nothing.
// Combine it with other observers using Observers.
func (g *Log) Observer() handlers.Observer {
	if !g.enabled() {
		return nil
	}
	return logObserver{g}
}

type logObserver struct{ g *Log }

func (o logObserver) Bind(topic, subscriber string) handlers.CallObserver {
	lim := func(event string) *limit {
		return o.g.limit(limitKey{event: event, pattern: topic, subscriber: subscriber})
	}
	return &callLog{
		g: o.g, topic: topic, subscriber: subscriber,
		panics: lim("panic"), dead: lim("dead-lettered"), failed: lim("failed"),
	}
}

type callLog struct {
	g                    *Log
	topic, subscriber    string
	panics, dead, failed *limit
}

func (c *callLog) Observe(call handlers.Call) {
	if call.Outcome == handlers.OutcomeOK || call.Err == nil {
		return
	}
	var (
		level zapcore.Level
		msg   string
		lim   *limit
	)
	// As handlers.OutcomeOf decides: only the handler's own panic, not an
	// error that wraps the panic of a handler further down a chain.
	pe, isPanic := call.Err.(*bus.PanicError)
	isPanic = isPanic || handlers.OutcomeOf(call.Err) == handlers.OutcomePanic
	switch {
	case isPanic || call.Outcome == handlers.OutcomePanic:
		level, msg, lim = zapcore.ErrorLevel, "fxbus: handler panicked", c.panics
	case call.Outcome == handlers.OutcomeDeadLettered:
		level, msg, lim = zapcore.WarnLevel, "fxbus: message dead-lettered", c.dead
	case call.Outcome == handlers.OutcomeError || call.Outcome == handlers.OutcomeTimeout:
		level, msg, lim = zapcore.WarnLevel, "fxbus: handler failed", c.failed
	default: // retried: the next attempt decides
		return
	}
	ce := c.g.l.Check(level, msg)
	if ce == nil {
		return
	}
	ok, held := lim.allow(c.g)
	if !ok {
		return
	}
	fields := make([]zap.Field, 0, 9)
	topic, _ := bus.TopicFrom(call.Ctx)
	if topic == "" {
		topic = c.topic
	}
	fields = append(fields, zap.String("topic", topic), zap.String("subscriber", c.subscriber))
	if topic != c.topic {
		fields = append(fields, zap.String("pattern", c.topic))
	}
	if id, ok := bus.CorrelationIDFrom(call.Ctx); ok {
		fields = append(fields, zap.Stringer("correlation_id", id))
	}
	fields = append(fields, zap.Stringer("outcome", call.Outcome), zap.Int("attempt", call.Attempt), zap.Error(call.Err))
	if pe != nil {
		fields = append(fields, zap.ByteString("stack", pe.Stack))
	}
	if held > 0 {
		fields = append(fields, zap.Uint64("suppressed", held))
	}
	ce.Write(fields...)
}

// Flush writes, per subscriber and kind of event, how many lines the rate
// limit held back since the last line it let through. The Runner calls it at
// the end of Stop.
func (g *Log) Flush() {
	if g == nil {
		return
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for k, lim := range g.limits {
		lim.mu.Lock()
		n := lim.held
		lim.held = 0
		lim.mu.Unlock()
		if n == 0 {
			continue
		}
		fields := []zap.Field{zap.String("event", k.event), zap.String("topic", k.pattern), zap.String("subscriber", k.subscriber)}
		if k.detail != "" {
			fields = append(fields, zap.String("reason", k.detail))
		}
		fields = append(fields, zap.Uint64("suppressed", n))
		g.l.Warn("fxbus: log lines suppressed by the rate limit", fields...)
	}
}

type limitKey struct {
	event, pattern, subscriber, detail string
}

// limit is the rate limit of one kind of line for one subscriber.
type limit struct {
	mu     sync.Mutex
	last   time.Time
	logged bool
	held   uint64 // lines held back since the last one written
}

func (g *Log) limit(k limitKey) *limit {
	g.mu.RLock()
	lim, ok := g.limits[k]
	g.mu.RUnlock()
	if ok {
		return lim
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if lim, ok = g.limits[k]; !ok {
		lim = &limit{}
		g.limits[k] = lim
	}
	return lim
}

// allow reports whether a line may be written now, and how many were held
// back before it.
func (l *limit) allow(g *Log) (bool, uint64) {
	now := g.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.logged && now.Sub(l.last) < g.every {
		l.held++
		return false, 0
	}
	l.logged, l.last = true, now
	n := l.held
	l.held = 0
	return true, n
}
