package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"slices"
	"strings"
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
	// mu guards the registry below. It is taken to subscribe, to end a
	// subscription, to declare a topic and to read stats; never to publish.
	mu      sync.Mutex
	topics  map[string]topicImpl
	subs    []subscription                  // in subscription order
	ending  []subscription                  // ended, but a handler call may still run
	retired map[statsKey]*SubscriptionStats // counters of ended subscriptions

	state     atomic.Int32
	sync      bool
	killGrace time.Duration
	hooks     Hooks
	defaults  []SubscribeOption

	// killCtx is cancelled when Close gives up on draining: it wakes blocked
	// publishers and is the Done of every handler's context.
	killCtx context.Context
	kill    context.CancelFunc

	_    [64]byte // the workers write pool.idle: keep it off the lines Publish reads
	pool pool
	_    [64]byte

	closeOnce sync.Once
	closed    chan struct{} // closed when Close has finished
}

// New returns an open Bus.
func New(opts ...Option) *Bus {
	b := &Bus{
		topics:    make(map[string]topicImpl),
		retired:   make(map[statsKey]*SubscriptionStats),
		killGrace: time.Second,
		closed:    make(chan struct{}),
	}
	b.killCtx, b.kill = context.WithCancel(context.Background())
	b.pool.init()
	for _, o := range opts {
		o.applyBus(b)
	}
	return b
}

// Synchronous reports whether the bus was made with the Synchronous option.
func (b *Bus) Synchronous() bool { return b.sync }

// topicImpl is the type-erased side of a Topic[T] that the registry uses.
type topicImpl interface {
	base() *topicBase
	// attach adds s to the topic; false when s carries another type.
	attach(s subscription) bool
	detach(s subscription)
	has(c *core) bool
	remove()
}

// subscription is the type-erased side of a Subscription[T].
type subscription interface {
	info() *core
	queued() uint64
	held() uint64
	end(reason DropReason, err error)
}

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
		return fmt.Errorf("bus: DeleteTopic(%q): no such topic", name)
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

// subscribe registers a new subscription. The caller has validated cfg.
func subscribe[T any](ctx context.Context, b *Bus, pattern string, cfg *subConfig, fn func(context.Context, T) error, skip int) (*Subscription[T], error) {
	if ctx == nil {
		return nil, errors.New("bus: nil context: pass the context whose end should end the subscription")
	}
	if err := ValidatePattern(pattern); err != nil {
		return nil, err
	}
	if err := errors.Join(cfg.errs...); err != nil {
		return nil, err
	}
	key, onDrop, err := typedOptions[T](cfg)
	if err != nil {
		return nil, err
	}
	if fn == nil && cfg.concurrency > 0 {
		return nil, errors.New("bus: Concurrency only applies to handlers: use Handle, or read the channel from several goroutines")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: subscribe to %q with a context that has already ended: %w", pattern, err)
	}
	s := newSub(cfg, fn, key, onDrop)
	s.b = b
	s.pattern = pattern
	s.wildcard = isPattern(pattern)

	b.mu.Lock()
	if b.state.Load() != stateOpen {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	var handler any // stays a nil interface for channel subscriptions
	if fn != nil {
		handler = fn
	}
	if err := b.nameSub(&s.core, cfg.name, handler, skip+1); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	if s.wildcard {
		for _, t := range b.topics {
			if Match(pattern, t.base().name) && t.attach(s) {
				s.topics = append(s.topics, t)
			}
		}
	} else {
		t, err := topicFor[T](b, pattern)
		if err != nil {
			b.mu.Unlock()
			return nil, err
		}
		if s.q != nil && s.q.conc == 1 {
			// Before any publisher can see the queue.
			s.q.pmu = &t.qmu
		}
		t.attach(s)
		s.topics = append(s.topics, t)
	}
	b.subs = append(b.subs, s)
	// Under b.mu, so that an end racing with this registration finds it.
	s.stop = context.AfterFunc(ctx, func() { s.end(ReasonUnsubscribed, ctx.Err()) })
	b.mu.Unlock()
	return s, nil
}

// nameSub gives c its name: the requested one, which must be free on its
// pattern, or a default derived from the handler or the calling code.
func (b *Bus) nameSub(c *core, name string, fn any, skip int) error {
	taken := func(n string) bool {
		for _, s := range b.subs {
			if o := s.info(); o.pattern == c.pattern && o.name == n {
				return true
			}
		}
		return false
	}
	if name != "" {
		if taken(name) {
			return fmt.Errorf("bus: a subscription named %q already exists on %q: give each subscription of a topic its own name", name, c.pattern)
		}
		c.name = name
		return nil
	}
	base := ""
	if fn != nil {
		if f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer()); f != nil {
			base = f.Name()
		}
	} else if pc, _, _, ok := runtime.Caller(skip + 1); ok {
		if f := runtime.FuncForPC(pc); f != nil {
			base = f.Name()
		}
	}
	base = shortFuncName(base)
	if c.group != "" {
		base = c.group
	}
	name = base
	for i := 2; taken(name); i++ {
		name = fmt.Sprintf("%s#%d", base, i)
	}
	c.name = name
	return nil
}

// shortFuncName trims the import path: "github.com/x/app.(*T).Run-fm"
// becomes "app.(*T).Run".
func shortFuncName(n string) string {
	if i := strings.LastIndexByte(n, '/'); i >= 0 {
		n = n[i+1:]
	}
	n = strings.TrimSuffix(n, "-fm")
	if n == "" {
		n = "subscriber"
	}
	return n
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

// fromHandler reports whether ctx is (or derives from) the context of a
// handler of this bus: such publishes are accepted while the bus drains.
func (b *Bus) fromHandler(ctx context.Context) bool {
	hb, _ := ctx.Value(busKey{}).(*Bus)
	return hb == b
}

// WaitIdle waits until no queue holds a message and no handler runs, or ctx
// ends. It does not stop publishers; it is for tests and for shutdown.
func (b *Bus) WaitIdle(ctx context.Context) error {
	if ctx == nil {
		return errors.New("bus: WaitIdle: nil context")
	}
	wait := 20 * time.Microsecond
	var last idleScan
	for {
		sc := b.scan()
		if sc.idle && sc == last {
			return nil
		}
		last = sc
		if sc.idle {
			continue // confirm at once with another scan
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 2*time.Millisecond)
	}
}

type idleScan struct {
	idle  bool
	moved uint64
}

// scan sums the counters of every subscription. Two equal idle scans in a
// row mean nothing moved in between: a handler that ran between them would
// have changed its counters, and one still running makes its scan not idle.
func (b *Bus) scan() idleScan {
	b.mu.Lock()
	subs := slices.Concat(b.subs, b.ending)
	b.mu.Unlock()
	sc := idleScan{idle: true}
	for _, s := range subs {
		c := s.info()
		sc.moved += c.sent.Load() + c.handled.Load() + c.removed.Load()
		if s.queued() != 0 {
			sc.idle = false
		}
	}
	return sc
}

// Close shuts the bus down: it refuses new publishes except those made by
// handlers, waits until every queue is empty and no handler runs (handlers'
// own publishes are still delivered), then ends every subscription in reverse
// order of subscription, closing channels, and waits for the bus's
// goroutines.
//
// If ctx ends first, Close cancels the handlers' contexts, counts what is
// still queued as dropped with reason ReasonShutdown, closes everything anyway
// and returns a *ShutdownError that names each subscriber and its count.
// Calling Close again waits for the first call and returns nil.
func (b *Bus) Close(ctx context.Context) error {
	if ctx == nil {
		// Refused before anything starts: a panic half-way would leave the
		// bus draining for ever, and later Close calls returning nil.
		return errors.New("bus: Close: nil context: pass one whose deadline bounds the drain")
	}
	first := false
	b.closeOnce.Do(func() { first = true })
	if !first {
		<-b.closed
		return nil
	}
	defer close(b.closed)
	b.state.Store(stateDraining)
	drainErr := b.WaitIdle(ctx)
	b.mu.Lock()
	b.state.Store(stateClosed)
	subs := slices.Concat(b.ending, b.subs)
	b.mu.Unlock()
	before := make([]uint64, len(subs))
	busy := make([]bool, len(subs)) // still had work when the drain gave up
	for i, s := range subs {
		before[i] = s.info().dropped[ReasonShutdown].Load()
		busy[i] = drainErr != nil && s.queued() > 0
	}
	for i := len(subs) - 1; i >= 0; i-- {
		subs[i].end(ReasonShutdown, ErrClosed)
	}
	// Only now cancel the handlers' contexts: the subscriptions have ended,
	// so no queued message reaches a handler with a cancelled context; it is
	// counted as dropped instead.
	b.kill()
	t := time.NewTimer(b.killGrace)
	defer t.Stop()
	grace := t.C
	var leftovers []Leftover
	stuck, expired := false, false
	for i, s := range subs {
		c := s.info()
		running := false
		if expired {
			select {
			case <-c.finished:
			default:
				running = true
			}
		} else {
			select {
			case <-c.finished:
			case <-grace:
				expired = true
				select {
				case <-c.finished:
				default:
					running = true
				}
			}
		}
		n := c.dropped[ReasonShutdown].Load() - before[i]
		if running {
			stuck = true
			// What the stuck activations took but have not started: it is
			// dropped with ReasonShutdown once their handlers return.
			n += s.held()
		}
		if n > 0 || running || busy[i] {
			leftovers = append(leftovers, Leftover{Topic: c.pattern, Subscriber: c.name, Count: n, Running: running})
		}
	}
	b.pool.stop(!stuck)
	if drainErr == nil && len(leftovers) == 0 {
		return nil
	}
	return &ShutdownError{Cause: drainErr, Leftovers: leftovers}
}
