package lifecycle

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/observe"
)

// defaultLogInterval is how often at most a Log writes a warning or error
// line for one kind of event on one subscriber (a drop reason, a disconnect,
// a panic, a dead letter); what it holds back in between is counted and
// reported in the next line's "suppressed" field.
const defaultLogInterval = time.Second

// Log writes what a bus does to the logs through a zap logger: drops that a
// subscriber's policy made (full, evicted, timeout) at info, other drops and
// disconnects at warn, messages that reached no subscription on a topic
// that handlers are registered for at warn, handler panics at error with
// their stack, dead letters that nothing reads or that could not be
// published at error, other dead letters and failed handler calls at warn
// (a Runner adds subscriptions at debug and shutdown losses at
// error). Warnings and errors are rate-limited per subscriber and kind of
// event, so that a storm of drops cannot flood the log: the first
// line of a kind is written at once, later ones at most every
// second, each with the number of lines it held back. A Runner's Stop
// writes what is still held back. Give the bus the Log's Hooks and the
// Runner the Log itself (Options.Log).
//
// A Log starts no goroutines. It is safe for concurrent use; a nil *Log logs
// nothing.
type Log struct {
	l     *zap.Logger
	every time.Duration
	now   func() time.Time // for tests

	mu     sync.RWMutex
	limits map[limitKey]*limit

	// What the unrouted hook needs: the topics of the app's handlers (set
	// by a Runner) and whether they are subscribed yet.
	topics     atomic.Pointer[map[string]bool]
	subscribed atomic.Bool
}

// NewLog returns a Log that writes to l; a nil l logs nothing.
func NewLog(l *zap.Logger) *Log {
	if l == nil {
		l = zap.NewNop()
	}
	return &Log{l: l, every: defaultLogInterval, now: time.Now, limits: make(map[limitKey]*limit)}
}

// logger returns the zap logger the Log writes to (a no-op logger for a nil
// Log).
func (g *Log) logger() *zap.Logger {
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

// Hooks returns the bus hooks that log drops, the ends of subscriptions and
// messages that reached no subscription. Pass them to bus.New with
// bus.WithHooks. Drops with reason shutdown are not logged one by one: the
// Runner's Stop logs them per subscriber. Drops that the subscriber's
// policy exists to make (full, evicted, timeout) are logged at info, as a
// summary at most once per defaultLogInterval per subscriber: they are the
// policy working, and still counted in the stats and metrics.
func (g *Log) Hooks() bus.Hooks {
	if !g.enabled() {
		return bus.Hooks{}
	}
	return bus.Hooks{Dropped: g.dropped, Ended: g.ended, Unrouted: g.unrouted}
}

// byPolicy reports whether r is a drop that a subscriber's policy chose:
// the reason DropNewest, DisconnectAfter, DropOldest and BlockFor exist
// for.
func byPolicy(r bus.DropReason) bool {
	return r == bus.ReasonFull || r == bus.ReasonEvicted || r == bus.ReasonTimeout
}

// policyReasons are the names of the reasons byPolicy accepts.
var policyReasons = map[string]bool{
	bus.ReasonFull.String(): true, bus.ReasonEvicted.String(): true, bus.ReasonTimeout.String(): true,
}

func (g *Log) dropped(e bus.DropEvent) {
	if e.Reason == bus.ReasonShutdown {
		return
	}
	level, msg := zapcore.WarnLevel, "fxbus: message dropped"
	if byPolicy(e.Reason) {
		level, msg = zapcore.InfoLevel, "fxbus: messages dropped by the subscriber's policy"
	}
	ce := g.l.Check(level, msg)
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

// watch tells the Log the topics that the app's handlers are registered
// for by name, so that a message published on one of them that reaches no
// subscription is logged. A Runner calls it with its registrations' topics;
// patterns with wildcards are left out, since the topics they match may
// carry another type than their handlers take.
func (g *Log) watch(topics []string) {
	if g == nil {
		return
	}
	set := make(map[string]bool, len(topics))
	for _, t := range topics {
		set[t] = true
	}
	g.topics.Store(&set)
}

// setSubscribed records whether the Runner has subscribed the handlers.
func (g *Log) setSubscribed(v bool) {
	if g != nil {
		g.subscribed.Store(v)
	}
}

// watches reports whether a handler is registered for the topic.
func (g *Log) watches(topic string) bool {
	set := g.topics.Load()
	return set != nil && (*set)[topic]
}

// unrouted logs a message that no subscription received on a topic that
// handlers are registered for: published before they were subscribed (with
// a *bus.Topic or *bus.Bus, which do not wait for the start as
// fxbus.Publisher does), or after their subscriptions ended.
func (g *Log) unrouted(topic string) {
	if !g.watches(topic) {
		return
	}
	msg := "fxbus: message reached no subscription, though handlers are registered for its topic: their subscriptions have ended"
	if !g.subscribed.Load() {
		msg = "fxbus: message published before the handlers were subscribed, so none received it: publish with an fxbus.Publisher, which holds messages until the start"
	}
	ce := g.l.Check(zapcore.WarnLevel, msg)
	if ce == nil {
		return
	}
	ok, held := g.limit(limitKey{event: "unrouted", pattern: topic}).allow(g)
	if !ok {
		return
	}
	fields := []zap.Field{zap.String("topic", topic)}
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

// observer returns a handler observer that logs failed calls: panics at
// error level, with the correlation ID and the panic's stack as the entry's
// stack trace, whatever happens to the message next; dead letters that
// nothing subscribes to (nobody will read them) and dead letters that could
// not be published at error level; other dead letters, and failures after
// which the message is discarded, at warn. Successful calls and failures
// that will be retried cost a level check. The observer is nil when the
// logger writes nothing, so that calls are not observed for nothing.
func (g *Log) observer() observe.Observer {
	if !g.enabled() {
		return nil
	}
	return logObserver{g}
}

type logObserver struct{ g *Log }

func (o logObserver) Bind(topic, subscriber string) observe.CallObserver {
	lim := func(event string) *limit {
		return o.g.limit(limitKey{event: event, pattern: topic, subscriber: subscriber})
	}
	return &callLog{
		g: o.g, topic: topic, subscriber: subscriber,
		panics: lim("panic"), unread: lim("dead-letter-unread"), lost: lim("dead-letter-failed"),
		dead: lim("dead-lettered"), failed: lim("failed"),
	}
}

type callLog struct {
	g                                  *Log
	topic, subscriber                  string
	panics, unread, lost, dead, failed *limit
}

// line is one kind of log line about a call.
type line struct {
	level zapcore.Level
	msg   string
	lim   *limit
}

// lines returns what to log about a call: a panic, whatever comes next,
// and where the message went when the handler gave up on it (but for a
// panic whose message was dead-lettered or discarded: the panic's line
// says so).
func (c *callLog) lines(call observe.Call) []line {
	var out []line
	panicked := call.Outcome == observe.OutcomePanic
	if panicked {
		out = append(out, line{zapcore.ErrorLevel, "fxbus: handler panicked", c.panics})
	}
	switch call.Fate {
	case observe.FateDeadLetterUnread:
		out = append(out, line{zapcore.ErrorLevel, "fxbus: dead letter that nobody reads: nothing subscribes to its topic, so the message is lost", c.unread})
	case observe.FateDeadLetterFailed:
		out = append(out, line{zapcore.ErrorLevel, "fxbus: dead letter could not be published, so the message is lost", c.lost})
	case observe.FateDeadLettered:
		if !panicked {
			out = append(out, line{zapcore.WarnLevel, "fxbus: message dead-lettered", c.dead})
		}
	case observe.FateDiscarded:
		if !panicked {
			out = append(out, line{zapcore.WarnLevel, "fxbus: handler failed", c.failed})
		}
	}
	return out
}

func (c *callLog) Observe(call observe.Call) {
	if call.Err == nil || (call.Fate == observe.FateRetried && call.Outcome != observe.OutcomePanic) {
		return
	}
	for _, l := range c.lines(call) {
		ce := c.g.l.Check(l.level, l.msg)
		if ce == nil {
			continue
		}
		ok, held := l.lim.allow(c.g)
		if !ok {
			continue
		}
		if pe, isPanic := call.Err.(*bus.PanicError); isPanic && l.lim == c.panics {
			// The panic's own stack, once, where zap puts stack traces
			// (its own, of this call site, would say nothing).
			ce.Stack = string(pe.Stack)
		}
		ce.Write(c.fields(call, held)...)
	}
}

// fields describes a call for its log lines.
func (c *callLog) fields(call observe.Call, held uint64) []zap.Field {
	fields := make([]zap.Field, 0, 10)
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
	fields = append(fields, zap.Stringer("outcome", call.Outcome), zap.Stringer("then", call.Fate),
		zap.Int("attempt", call.Attempt), zap.Error(call.Err))
	if call.DeadLetterTopic != "" {
		fields = append(fields, zap.String("dead_letter_topic", call.DeadLetterTopic))
	}
	if held > 0 {
		fields = append(fields, zap.Uint64("suppressed", held))
	}
	return fields
}

// flush writes, per subscriber and kind of event, how many lines the rate
// limit held back since the last line it let through. The Runner calls it at
// the end of Stop.
func (g *Log) flush() {
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
		level := zapcore.WarnLevel
		if k.event == "dropped" && policyReasons[k.detail] {
			level = zapcore.InfoLevel
		}
		g.l.Log(level, "fxbus: log lines suppressed by the rate limit", fields...)
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
