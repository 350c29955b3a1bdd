package natsbridge

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// exporter is one Export: a bus handler of T on its pattern that encodes
// each local event and hands it to its publisher.
type exporter[T any] struct {
	spec exportSpec
	env  envelope
	b    *Bridge
	pub  *publisher // set when the bridge starts, before the bus subscribes
}

func newExporter[T any](b *Bridge, spec exportSpec) *exporter[T] {
	if spec.eventType == "" {
		spec.eventType = typeName[T]()
	}
	spec.codec = or(spec.codec, b.cfg.Codec)
	return &exporter[T]{spec: spec, b: b, env: newEnvelope(spec.eventType, b.cfg.Source, spec.codec, false)}
}

func (e *exporter[T]) pattern() string { return e.spec.pattern }

// budget is the longest time a publish may spend in its attempts: each
// waits up to DefaultAckTimeout for the ack, with the backoffs in between.
// The stream's duplicate window must cover it.
func (e *exporter[T]) budget() time.Duration {
	d := time.Duration(e.spec.attempts) * DefaultAckTimeout
	for n := 1; n < e.spec.attempts; n++ {
		d += min(e.spec.backoff[0]<<min(n-1, 30), e.spec.backoff[1])
	}
	return d
}

// registration is the export's bus subscription: a handler with no retries
// and no dead letters of its own (the publisher retries).
func (e *exporter[T]) registration() handlers.Registration {
	opts := append([]bus.SubscribeOption{bus.Name(e.spec.name), handlers.NoDeadLetters()}, e.spec.subscribe...)
	return handlers.RegisterFunc(e.spec.pattern, e.handle, opts...)
}

func (e *exporter[T]) start(nc *nats.Conn) error {
	p, err := newPublisher(nc, e.spec, e.b.log, e.b.m)
	e.pub = p
	return err
}

func (e *exporter[T]) stopper() *publisher { return e.pub }

// handle exports one local event, unless it came from an import (no echo).
// It returns once the event is handed to the connection, waiting for a free
// in-flight slot as long as the bus lets its handler run.
func (e *exporter[T]) handle(ctx context.Context, v T) error {
	topic, _ := bus.TopicFrom(ctx)
	if isImported(ctx, topic) {
		e.pub.skipped.Inc()
		return nil
	}
	data, err := e.spec.codec.Marshal(v)
	if err != nil {
		e.pub.failures.Inc()
		return fmt.Errorf("natsbridge: export %q: encode %T: %w", topic, v, err)
	}
	corr, _ := bus.CorrelationIDFrom(ctx)
	msg := e.env.message(topic, e.b.ids.next(), corr, time.Now(), data)
	if e.b.headers != nil {
		e.b.headers.Inject(ctx, msg.Header)
	}
	return e.pub.publish(ctx, msg)
}

// publisher publishes one export's messages to JetStream asynchronously, at
// most cap(slots) at once, retrying failed publishes with the same message
// (and so the same Nats-Msg-Id).
type publisher struct {
	js       jetstream.JetStream // its own, so that the ack callbacks are this export's
	log      *zap.Logger
	slots    chan struct{} // one token per publish not finished
	attempts int
	backoff  [2]time.Duration

	exported, errors, failures, duplicates, skipped prometheus.Counter
	inFlight                                        prometheus.Gauge

	retrying atomic.Int32 // messages in retries: the ack callback looks them up only then
	mu       sync.Mutex
	retries  map[*nats.Msg]int        // failed attempts so far, of messages being retried
	timers   map[*retryTimer]struct{} // guarded by mu, like r.t
	closed   bool
	running  sync.WaitGroup // retry callbacks
}

func newPublisher(nc *nats.Conn, spec exportSpec, log *zap.Logger, m *metrics) (*publisher, error) {
	l := spec.pattern
	p := &publisher{
		log:        log.With(zap.String("export", spec.pattern)),
		slots:      make(chan struct{}, spec.inFlight),
		attempts:   spec.attempts,
		backoff:    spec.backoff,
		exported:   m.exported.WithLabelValues(l),
		errors:     m.exportErrors.WithLabelValues(l),
		failures:   m.exportFailures.WithLabelValues(l),
		duplicates: m.exportDuplicates.WithLabelValues(l),
		skipped:    m.exportSkipped.WithLabelValues(l),
		inFlight:   m.inFlight.WithLabelValues(l),
		retries:    make(map[*nats.Msg]int),
		timers:     make(map[*retryTimer]struct{}),
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncAckHandler(p.acked),
		jetstream.WithPublishAsyncErrHandler(p.failed),
		// Above the export's own bound, which is the one that applies: nats.go's
		// would stall the publisher 200 ms and then fail.
		jetstream.WithPublishAsyncMaxPending(spec.inFlight+1),
		jetstream.WithPublishAsyncTimeout(DefaultAckTimeout))
	p.js = js
	return p, err
}

// publish takes a slot, waiting while ctx allows, and sends msg.
func (p *publisher) publish(ctx context.Context, msg *nats.Msg) error {
	select {
	case p.slots <- struct{}{}:
	default:
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			p.failures.Inc()
			p.log.Warn("event not exported: the bus stopped waiting for a free slot", zap.String("id", first(msg.Header, HeaderID)), zap.Error(ctx.Err()))
			return ctx.Err()
		}
	}
	p.inFlight.Inc()
	if _, err := p.js.PublishMsgAsync(msg); err != nil {
		p.failed(p.js, msg, err)
	}
	return nil
}

// acked is nats.go's callback for a publish the stream acked.
func (p *publisher) acked(_ jetstream.JetStream, msg *nats.Msg, ack *jetstream.PubAck) {
	if ack.Duplicate {
		p.duplicates.Inc()
	}
	if p.retrying.Load() > 0 {
		p.mu.Lock()
		if _, ok := p.retries[msg]; ok {
			delete(p.retries, msg)
			p.retrying.Add(-1)
		}
		p.mu.Unlock()
	}
	p.exported.Inc()
	p.done()
}

func (p *publisher) done() {
	p.inFlight.Dec()
	<-p.slots
}

// failed is nats.go's callback for a publish that failed (no ack in time, no
// stream, a reconnect): it retries after a backoff, or gives up.
func (p *publisher) failed(_ jetstream.JetStream, msg *nats.Msg, err error) {
	p.errors.Inc()
	p.mu.Lock()
	if p.closed { // flush gave up on it, and counted it
		p.mu.Unlock()
		p.done()
		return
	}
	n := p.retries[msg] + 1
	if n >= p.attempts {
		if _, ok := p.retries[msg]; ok {
			delete(p.retries, msg)
			p.retrying.Add(-1)
		}
		p.mu.Unlock()
		p.failures.Inc()
		p.log.Error("event not exported", zap.String("subject", msg.Subject), zap.String("id", first(msg.Header, HeaderID)),
			zap.Int("attempts", n), zap.Error(err))
		p.done()
		return
	}
	if n == 1 {
		p.retrying.Add(1)
	}
	p.retries[msg] = n
	r := new(retryTimer)
	r.t = time.AfterFunc(p.wait(n), func() { p.retry(r, msg) })
	p.timers[r] = struct{}{}
	p.mu.Unlock()
	p.log.Debug("export failed, retrying", zap.String("id", first(msg.Header, HeaderID)), zap.Int("attempt", n), zap.Error(err))
}

// wait is the backoff after n failed attempts: initial doubling up to the
// ceiling, less up to a fifth at random.
func (p *publisher) wait(n int) time.Duration {
	d := p.backoff[0] << min(n-1, 30)
	if d <= 0 || d > p.backoff[1] {
		d = p.backoff[1]
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// retryTimer is the timer of one pending retry; the map of them holds
// pointers, so that a callback can name its own before its timer is stored.
type retryTimer struct{ t *time.Timer }

func (p *publisher) retry(r *retryTimer, msg *nats.Msg) {
	p.mu.Lock()
	delete(p.timers, r)
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.running.Add(1)
	p.mu.Unlock()
	defer p.running.Done()
	if _, err := p.js.PublishMsgAsync(msg); err != nil {
		p.failed(p.js, msg, err)
	}
}

// flush waits until every publish has finished, or ctx ends; then it stops
// the retries. It returns how many events were left unconfirmed.
func (p *publisher) flush(ctx context.Context) int {
	taken := 0
wait:
	for ; taken < cap(p.slots); taken++ {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			break wait
		}
	}
	p.mu.Lock()
	p.closed = true
	for r := range p.timers {
		r.t.Stop()
	}
	clear(p.timers)
	p.mu.Unlock()
	p.running.Wait()
	lost := cap(p.slots) - taken
	if lost > 0 {
		p.failures.Add(float64(lost))
		p.log.Error("stop ran out of time: events handed to the stream without its ack", zap.Int("events", lost), zap.Error(ctx.Err()))
	}
	return lost
}
