package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// Bridge carries an app's exported topics to NATS JetStream and its imported
// subjects back to the bus. Module provides it; its methods give access to
// the connection and the embedded server, for tools and tests.
type Bridge struct {
	cfg     Config
	bus     *bus.Bus
	log     *zap.Logger
	m       *metrics
	reg     prometheus.Registerer
	ids     *ids
	headers HeaderPropagator // nil: no trace headers
	exports []export
	imports []*consumer

	emb     *embedded
	nc      *nats.Conn
	closed  chan struct{} // closed with the connection
	js      jetstream.JetStream
	streams *streams
}

// export is an exporter of any type.
type export interface {
	pattern() string
	budget() time.Duration
	registration() handlers.Registration
	start(nc *nats.Conn) error
	stopper() *publisher
}

// Conn returns the bridge's connection once the app has started.
func (b *Bridge) Conn() *nats.Conn { return b.nc }

// JetStream returns the bridge's JetStream API once the app has started.
func (b *Bridge) JetStream() jetstream.JetStream { return b.js }

// Server returns the embedded server once the app has started, or nil when
// the bridge connects to Config.URLs.
func (b *Bridge) Server() *server.Server {
	if b.emb == nil {
		return nil
	}
	return b.emb.srv
}

// ClientURL returns the URL where other processes reach the embedded server
// (Config.Embedded.Listen), or "" when it listens on no port.
func (b *Bridge) ClientURL() string {
	if b.emb == nil || b.cfg.Embedded.Listen == "" {
		return ""
	}
	return b.emb.srv.ClientURL()
}

// subjects returns the exported patterns and imported subjects.
func (b *Bridge) subjects() []string {
	var out []string
	for _, e := range b.exports {
		out = append(out, e.pattern())
	}
	for _, c := range b.imports {
		out = append(out, c.spec.subject)
	}
	return out
}

// start is the first of the bridge's start hooks, before the bus subscribes
// its handlers: the server, the connection, the streams and the exports'
// publishers. It undoes its own work when it fails.
func (b *Bridge) start(ctx context.Context) (err error) {
	if err := b.m.register(b.reg); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = b.stop(context.Background()) // undo what started; the start error says why
		}
	}()
	if len(b.cfg.URLs) == 0 {
		if b.emb, err = startEmbedded(ctx, b.cfg.Embedded, b.log); err != nil {
			return err
		}
	}
	b.closed = make(chan struct{})
	if b.nc, err = connect(ctx, b.cfg, b.emb, b.log, b.m, func() { close(b.closed) }); err != nil {
		return err
	}
	if b.js, err = jetstream.New(b.nc); err != nil {
		return err
	}
	if err := retry(ctx, "JetStream account info", func(ctx context.Context) error {
		_, err := b.js.AccountInfo(ctx)
		return err
	}); err != nil {
		if na := (*noAnswerError)(nil); errors.As(err, &na) {
			return err // it says what to check
		}
		return fmt.Errorf("natsbridge: JetStream does not answer on the server: %w (enable JetStream there, or leave Config.URLs empty for the embedded server)", err)
	}
	if b.streams, err = ensureStreams(ctx, b.js, b.cfg, b.subjects(), b.log); err != nil {
		return err
	}
	return b.startExports()
}

func (b *Bridge) startExports() error {
	for _, e := range b.exports {
		stream, err := b.streams.streamFor("", e.pattern())
		if err != nil {
			return fmt.Errorf("natsbridge: Export(%q): %w", e.pattern(), err)
		}
		if w := b.streams.window[stream]; e.budget() > w {
			return fmt.Errorf("natsbridge: Export(%q): its retries may last %v, longer than the %v duplicate window of stream %q, so a retried publish could be stored twice: raise the stream's Duplicates, or lower PublishRetry",
				e.pattern(), e.budget(), w, stream)
		}
		if err := e.start(b.nc); err != nil {
			return fmt.Errorf("natsbridge: Export(%q): %w", e.pattern(), err)
		}
	}
	return nil
}

// stop is the last of the bridge's stop hooks, after the bus has drained:
// it waits for the exports' acks, drains the connection, and stops the
// embedded server. At most a fifth of the time left is kept for the server.
func (b *Bridge) stop(ctx context.Context) error {
	var errs []string
	flush, cancel := reserve(ctx, 5)
	defer cancel()
	for _, e := range b.exports {
		if p := e.stopper(); p != nil {
			if lost := p.flush(flush); lost > 0 {
				errs = append(errs, fmt.Sprintf("export %q: %d events without the stream's ack", e.pattern(), lost))
			}
		}
	}
	if b.nc != nil {
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		}
		select {
		case <-b.closed:
		case <-flush.Done():
			b.nc.Close()
			errs = append(errs, "the connection did not drain in time")
		}
	}
	if b.emb != nil {
		b.emb.stop()
	}
	if b.reg != nil {
		b.reg.Unregister(b.m)
	}
	if len(errs) > 0 {
		return fmt.Errorf("natsbridge: stop: %s", strings.Join(errs, "; "))
	}
	return nil
}

// reserve returns a context that ends a part of the time before ctx's
// deadline (1/part of what is left), so that what comes after it still has
// time.
func reserve(ctx context.Context, part int) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	left := time.Until(d)
	return context.WithDeadline(ctx, d.Add(-left/time.Duration(part)))
}

// startImports is the bridge's start hook that runs after the bus has
// subscribed its handlers: it checks each import's stream, dead-letter
// subject and subscribers, then starts consuming.
func (b *Bridge) startImports(ctx context.Context) error {
	if err := b.checkSubscribers(); err != nil {
		return err
	}
	for i, c := range b.imports {
		if err := b.bindImport(c); err != nil {
			b.stopImports(context.Background(), i)
			return err
		}
		if err := c.start(ctx); err != nil {
			b.stopImports(context.Background(), i)
			return err
		}
	}
	b.m.watch(b.imports)
	return nil
}

// bindImport finds the import's stream and checks its dead-letter subject.
func (b *Bridge) bindImport(c *consumer) error {
	stream, err := b.streams.streamFor(c.spec.stream, c.spec.subject)
	if err != nil {
		return fmt.Errorf("natsbridge: Import(%q): %w", c.spec.subject, err)
	}
	dlq := deadLetterSubject(c.dlq, c.spec.subject)
	if _, err := b.streams.streamFor("", dlq); err != nil {
		return fmt.Errorf("natsbridge: Import(%q): dead letters to %q: %w", c.spec.subject, dlq, err)
	}
	c.stream, c.js = stream, b.js
	return nil
}

// checkSubscribers fails when an import's subject has no subscription on the
// bus but the bridge's own exports: its messages would be acked unhandled.
func (b *Bridge) checkSubscribers() error {
	own := make(map[string]bool)
	for _, e := range b.exports {
		own[e.registration().Name()+"\x00"+e.pattern()] = true
	}
	subs := b.bus.Stats().Subscriptions
	for _, c := range b.imports {
		found := slices.ContainsFunc(subs, func(s bus.SubscriptionStats) bool {
			return s.Active && !own[s.Name+"\x00"+s.Pattern] && overlap(s.Pattern, c.spec.subject)
		})
		if !found {
			return fmt.Errorf("%w: Import(%q): register a handler for it (handlers.Provide), and list natsbridge.Module after fxbus.Module so that the bus subscribes its handlers before the bridge starts consuming",
				ErrNoSubscriber, c.spec.subject)
		}
	}
	return nil
}

// stopImports stops the first n imports (all with n < 0) concurrently.
func (b *Bridge) stopImports(ctx context.Context, n int) {
	cs := b.imports
	if n >= 0 {
		cs = cs[:n]
	}
	for _, c := range cs {
		c.closing.Store(true)
	}
	done := make(chan struct{}, len(cs))
	for _, c := range cs {
		go func() { c.stop(ctx); done <- struct{}{} }()
	}
	for range cs {
		<-done
	}
}
