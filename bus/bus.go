package bus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

const (
	stateOpen int32 = iota
	stateDraining
	stateClosed
)

// Bus holds named topics of any message types and their subscriptions. A Bus
// is safe for concurrent use. Create one with New and end it with Close.
type Bus struct {
	cfg config

	// mu guards the registry below. It is taken to subscribe, to end a
	// subscription, to declare a topic and to read stats; never to publish.
	mu      sync.Mutex
	topics  map[string]topicImpl
	subs    []subscription                  // in subscription order
	ending  []subscription                  // ended, but a handler call may still run
	retired map[statsKey]*SubscriptionStats // counters of ended subscriptions

	state atomic.Int32
	life  lifeline // cancelled when Close gives up draining
	pool  *pool    // runs the handler queues
	work  activity // handler activations in flight, for WaitIdle

	closeOnce sync.Once
	closed    chan struct{} // closed when Close has finished
}

// New returns an open Bus.
func New(opts ...Option) *Bus {
	b := &Bus{
		cfg:     defaultConfig(),
		topics:  make(map[string]topicImpl),
		retired: make(map[statsKey]*SubscriptionStats),
		closed:  make(chan struct{}),
	}
	for _, o := range opts {
		o.applyBus(&b.cfg)
	}
	b.life.ctx, b.life.cancel = context.WithCancel(context.Background())
	b.pool = newPool(b.cfg.workers, b.cfg.workerIdle)
	return b
}

// Synchronous reports whether the bus was made with the Synchronous option.
func (b *Bus) Synchronous() bool { return b.cfg.sync }

// KillGrace returns the bus's KillGrace (see the option), so that code that
// plans a shutdown around Close reads it here instead of being told twice.
func (b *Bus) KillGrace() time.Duration { return b.cfg.killGrace }

// admit says whether a publish with ctx is accepted: not after Close, and,
// while Close drains, only from handlers, so that chains of events
// complete.
func (b *Bus) admit(ctx context.Context) error {
	if ctx == nil {
		return errors.New("bus: nil context: pass the publisher's context, or context.Background()")
	}
	switch b.state.Load() {
	case stateClosed:
		return ErrClosed
	case stateDraining:
		if ctx.Value(ownerKey{}) != &b.life {
			return ErrClosed
		}
	}
	return nil
}

// ended says what a publish whose targets all ended (err is errEnded)
// returns: ErrClosed if the bus closed meanwhile (the publish raced with
// Close and nothing took the message), else nil (some subscriptions just
// left). Other errors pass through.
func (b *Bus) ended(err error) error {
	if err != errEnded {
		return err
	}
	if b.state.Load() == stateClosed {
		return ErrClosed
	}
	return nil
}
