package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
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

// topicFor returns the topic called name, declaring it with type T if it is
// new. The caller holds b.mu.
func topicFor[T any](b *Bus, name string) (*Topic[T], error) {
	if t, ok := b.topics[name]; ok {
		tt, ok := t.(*Topic[T])
		if !ok {
			return nil, &TypeError{Topic: name, Have: t.base().typ.String(), Want: typeName[T]()}
		}
		return tt, nil
	}
	t := &Topic[T]{topicBase: topicBase{name: name, typ: reflect.TypeFor[T](), b: b, seed: rand.Uint64()}}
	t.snap.Store(&snapshot[T]{})
	b.topics[name] = t
	for _, s := range b.subs {
		c := s.info()
		if c.wildcard && Match(c.pattern, name) && t.attach(s) {
			c.topics = append(c.topics, t)
		}
	}
	return t, nil
}

// NewTopic returns the topic called name, declaring it if it is new. Asking
// again for the same name with the same type returns the same topic; with
// another type it is a *TypeError. Topics live as long as the bus.
func NewTopic[T any](b *Bus, name string) (*Topic[T], error) {
	if b == nil {
		return nil, errors.New("bus: nil *Bus: make one with bus.New")
	}
	if err := ValidateTopic(name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state.Load() == stateClosed {
		return nil, ErrClosed
	}
	return topicFor[T](b, name)
}

// DeleteTopic removes the topic called name, so that a bus whose topics come
// and go (one per chat room, say) does not grow. It fails while a
// subscription made for exactly that name is live; wildcard subscriptions
// are detached from it. Publishing through a *Topic of a deleted topic
// returns an error wrapping ErrTopicDeleted; NewTopic with the same name
// declares a new topic. The topic's stats are forgotten, and so are those of
// ended subscriptions made for exactly that name.
func (b *Bus) DeleteTopic(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.topics[name]
	if !ok {
		return fmt.Errorf("bus: DeleteTopic(%s): no such topic", quote(name))
	}
	for _, s := range b.subs {
		if c := s.info(); !c.wildcard && c.pattern == name {
			return fmt.Errorf("bus: DeleteTopic(%q): subscription %q still uses it: end it first", name, c.name)
		}
	}
	for _, s := range b.subs {
		c := s.info()
		if i := slices.Index(c.topics, t); i >= 0 {
			t.detach(s)
			c.topics = slices.Delete(c.topics, i, i+1)
		}
	}
	t.remove()
	delete(b.topics, name)
	for k := range b.retired {
		if k.pattern == name {
			delete(b.retired, k)
		}
	}
	return nil
}

// remove takes s out of the registry and of every topic it is attached to.
func (b *Bus) remove(s subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := s.info()
	if c.stop != nil {
		c.stop()
	}
	for _, t := range c.topics {
		t.detach(s)
	}
	if i := slices.Index(b.subs, s); i >= 0 {
		b.subs = slices.Delete(b.subs, i, i+1)
		b.ending = append(b.ending, s)
	}
}

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
