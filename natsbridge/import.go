package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/broker"
)

// sink is the typed end of an import: it decodes a payload and publishes
// the event on the bus.
type sink interface {
	// deliver publishes the event in data on subject with PublishSync and
	// returns the handlers' joined errors, or a *decodeError.
	deliver(ctx context.Context, subject string, data []byte) error
}

type importSink[T any] struct {
	b     *bus.Bus
	codec Codec
	exact *bus.Topic[T] // the topic of an import without wildcards
	more  sync.Map      // subject -> *bus.Topic[T], for wildcard imports
}

func (s *importSink[T]) deliver(ctx context.Context, subject string, data []byte) error {
	var v T
	if err := s.codec.Unmarshal(data, &v); err != nil {
		return &decodeError{err}
	}
	t := s.exact
	if t == nil {
		var err error
		if t, err = s.topic(subject); err != nil {
			return &decodeError{err}
		}
	}
	return t.PublishSync(ctx, v)
}

// topic returns the bus topic of a subject a wildcard import matched.
func (s *importSink[T]) topic(subject string) (*bus.Topic[T], error) {
	if t, ok := s.more.Load(subject); ok {
		return t.(*bus.Topic[T]), nil
	}
	t, err := bus.NewTopic[T](s.b, subject)
	if err != nil {
		return nil, err
	}
	s.more.Store(subject, t)
	return t, nil
}

// consumer is one Import: a durable JetStream consumer whose messages its
// workers publish on the bus, acking each once every local handler returned
// nil.
type consumer struct {
	spec    importSpec
	env     envelope
	sink    sink
	typ     string
	durable string
	stream  string
	dlq     string // dead-letter subject, with %s for the original subject
	js      jetstream.JetStream
	log     *zap.Logger
	headers HeaderPropagator // nil: no trace headers

	cons    jetstream.Consumer
	cc      jetstream.ConsumeContext
	msgs    chan jetstream.Msg
	quit    chan struct{}
	run     context.Context // the workers' publishes; cancelled when stop runs out of time
	cancel  context.CancelFunc
	workers sync.WaitGroup
	current []slot // per worker, for InProgress
	closing atomic.Bool

	imported, acked, naked, redelivered, decodeFailures prometheus.Counter
	deadHandler, deadDecode                             prometheus.Counter
}

// slot is the message a worker is handling.
type slot struct {
	mu sync.Mutex
	m  jetstream.Msg
}

func (s *slot) set(m jetstream.Msg) {
	s.mu.Lock()
	s.m = m
	s.mu.Unlock()
}

func (s *slot) get() jetstream.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m
}

// durableName is the default durable of an import of subject: the app's
// name, '_', and the subject with what JetStream names forbid replaced by
// characters that subjects do not use: '.' by '~', and the wildcards as MQTT
// writes them ('*' as '+', '>' as '#'). Distinct subjects get distinct names.
func durableName(app, subject string) string {
	return app + "_" + strings.NewReplacer(".", "~", "*", "+", ">", "#").Replace(subject)
}

func (c *consumer) bindMetrics(m *metrics) {
	l := c.durable
	c.imported = m.imported.WithLabelValues(l)
	c.acked = m.acked.WithLabelValues(l)
	c.naked = m.naked.WithLabelValues(l)
	c.redelivered = m.redelivered.WithLabelValues(l)
	c.decodeFailures = m.decodeFailures.WithLabelValues(l)
	c.deadHandler = m.deadLettered.WithLabelValues(l, "handler")
	c.deadDecode = m.deadLettered.WithLabelValues(l, "decode")
}

func (c *consumer) config() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       c.durable,
		Description:   "fxbus natsbridge import of " + c.typ,
		FilterSubject: c.spec.subject,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.spec.ackWait,
		MaxDeliver:    c.spec.attempts + 1,
		MaxAckPending: c.spec.maxAckPending,
		DeliverPolicy: c.spec.deliver,
		OptStartSeq:   c.spec.startSeq,
	}
	if !c.spec.startTime.IsZero() {
		cfg.OptStartTime = &c.spec.startTime
	}
	return cfg
}

// The pulls of an import wait up to pullExpiry for messages, and ask the
// server for an idle heartbeat every pullHeartbeat meanwhile. nats.go pulls
// again when two heartbeats in a row are missing, so a pull that the server
// let pass (seen with a backlog and one message at a time: Ordered) costs
// about two seconds instead of leaving the consumer idle until the pull
// expires. nats.go wants the expiry at least twice the heartbeat.
const (
	pullExpiry    = 30 * time.Second
	pullHeartbeat = time.Second
)

// start creates or updates the durable consumer and starts consuming.
func (c *consumer) start(ctx context.Context) error {
	var cons jetstream.Consumer
	err := retry(ctx, fmt.Sprintf("consumer %q on stream %q", c.durable, c.stream), func(ctx context.Context) (err error) {
		cons, err = c.js.CreateOrUpdateConsumer(ctx, c.stream, c.config())
		return err
	})
	if na := (*noAnswerError)(nil); errors.As(err, &na) {
		return fmt.Errorf("natsbridge: Import(%q): %w", c.spec.subject, err) // it says what to check
	}
	if err != nil {
		return fmt.Errorf("natsbridge: Import(%q): consumer %q on stream %q: %w (a durable's start position and filter cannot change: delete the consumer, or choose another Durable)",
			c.spec.subject, c.durable, c.stream, err)
	}
	c.cons = cons
	c.msgs, c.quit = make(chan jetstream.Msg), make(chan struct{})
	c.run, c.cancel = context.WithCancel(context.Background())
	c.current = make([]slot, c.spec.workers)
	if c.spec.workers > 1 {
		for i := range c.current {
			c.workers.Go(func() { c.work(&c.current[i]) })
		}
	}
	c.workers.Go(c.keepAlive)
	cc, err := cons.Consume(c.receive,
		jetstream.PullMaxMessages(c.spec.prefetch),
		jetstream.PullExpiry(pullExpiry),
		jetstream.PullHeartbeat(pullHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			c.log.Warn("consuming", zap.Error(err))
		}))
	if err != nil {
		c.stopWorkers()
		return fmt.Errorf("natsbridge: Import(%q): consume: %w", c.spec.subject, err)
	}
	c.cc = cc
	return nil
}

// receive is nats.go's callback: it handles m (one worker: on nats.go's
// goroutine, which saves a hand-off per message) or hands it to a worker, or
// gives it back at once while stopping so that another instance gets it
// without waiting for the AckWait.
func (c *consumer) receive(m jetstream.Msg) {
	if c.closing.Load() {
		c.nak(m, 0)
		return
	}
	if c.spec.workers == 1 {
		c.current[0].set(m)
		c.process(m)
		c.current[0].set(nil)
		return
	}
	select {
	case c.msgs <- m:
	case <-c.quit:
		c.nak(m, 0)
	}
}

func (c *consumer) work(s *slot) {
	for {
		select {
		case m := <-c.msgs:
			s.set(m)
			c.process(m)
			s.set(nil)
		case <-c.quit:
			return
		}
	}
}

// keepAlive tells the server, every third of the AckWait, that the messages
// the workers are handling are in progress, so that it does not deliver
// them again meanwhile.
func (c *consumer) keepAlive() {
	t := time.NewTicker(c.spec.ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			for i := range c.current {
				if m := c.current[i].get(); m != nil {
					_ = m.InProgress()
				}
			}
		case <-c.quit:
			return
		}
	}
}

// process handles one message: publish, then ack; nak on a handler error,
// dead-letter after the last delivery, on an error marked
// handlers.Permanent, or when it does not decode.
func (c *consumer) process(m jetstream.Msg) {
	meta, err := m.Metadata()
	if err != nil {
		c.log.Error("not a JetStream message: terminated", zap.String("subject", m.Subject()), zap.Error(err))
		_ = m.Term()
		return
	}
	c.imported.Inc()
	if meta.NumDelivered > 1 {
		c.redelivered.Inc()
	}
	in, err := c.env.read(m.Headers())
	if err != nil {
		err = &decodeError{err}
	} else {
		err = c.sink.deliver(c.context(m.Subject(), in, meta, m.Headers()), m.Subject(), m.Data())
	}
	var de *decodeError
	switch {
	case err == nil:
		c.ack(m)
	case errors.As(err, &de):
		c.decodeFailures.Inc()
		c.deadLetter(m, meta, "decode", err)
	case errors.Is(err, bus.ErrClosed) || c.run.Err() != nil:
		c.nak(m, 0) // not the handlers' fault: the app is stopping
	case meta.NumDelivered >= uint64(c.spec.attempts) || handlers.IsPermanent(err):
		c.deadLetter(m, meta, "handler", err)
	default:
		c.nak(m, c.backoff(meta.NumDelivered))
	}
}

// context is the context of the publish of an imported message: marked as
// imported (not exported again), as a broker's delivery (the handlers leave
// retries to the broker), with the publisher's correlation ID and, with a
// HeaderPropagator, the trace its headers carry.
func (c *consumer) context(subject string, in incoming, meta *jetstream.MsgMetadata, h nats.Header) context.Context {
	ctx := markImported(c.run, subject)
	ctx = broker.WithDelivery(ctx, subject, int(meta.NumDelivered))
	if !in.corr.IsZero() {
		ctx = bus.WithCorrelationID(ctx, in.corr)
	}
	if c.headers != nil {
		ctx = c.headers.Extract(ctx, h)
	}
	return ctx
}

func (c *consumer) ack(m jetstream.Msg) {
	if err := m.Ack(); err != nil {
		c.log.Warn("ack", zap.Error(err))
		return
	}
	c.acked.Inc()
}

func (c *consumer) nak(m jetstream.Msg, delay time.Duration) {
	var err error
	if delay > 0 {
		err = m.NakWithDelay(delay)
	} else {
		err = m.Nak()
	}
	if err != nil {
		c.log.Warn("nak", zap.Error(err))
		return
	}
	c.naked.Inc()
}

// backoff is the wait before the delivery after the n-th: the import's
// Backoff, the last value repeating, less up to a fifth at random.
func (c *consumer) backoff(n uint64) time.Duration {
	d := c.spec.backoff[min(int(n), len(c.spec.backoff))-1]
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// stop stops consuming: messages pulled but not handed to a worker are given
// back, the workers finish the messages they hold (acking them), and no
// goroutine of the consumer is left. If ctx ends first, the handlers'
// publishes are abandoned and their messages given back.
func (c *consumer) stop(ctx context.Context) {
	c.closing.Store(true)
	if c.cc != nil {
		c.cc.Drain()
		select {
		case <-c.cc.Closed():
		case <-ctx.Done():
			c.cc.Stop()
		}
	}
	stopAbandon := context.AfterFunc(ctx, c.cancel)
	defer stopAbandon()
	c.stopWorkers()
}

func (c *consumer) stopWorkers() {
	close(c.quit)
	c.workers.Wait()
	c.cancel()
}
