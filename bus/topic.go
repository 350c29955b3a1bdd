package bus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
)

// Message is what a subscriber receives: the published value, the correlation
// ID that travelled with it, and the name of the topic it was published on
// (useful with wildcard subscriptions).
type Message[T any] struct {
	Value         T
	CorrelationID CorrelationID
	Topic         string
}

type topicBase struct {
	name      string
	typ       reflect.Type
	b         *Bus
	seed      uint64                   // random half of the correlation IDs made here
	published atomic.Uint64            // publishes that matched at least one subscription
	unrouted  atomic.Uint64            // publishes that matched none
	ctxs      atomic.Pointer[ctxBlock] // handler contexts being handed out

	// qmu is the publishers' lock of the queues of the handler
	// subscriptions with concurrency 1 made for exactly this topic: a
	// publish takes it once for all of them rather than once each.
	qmu sync.Mutex
}

func (t *topicBase) base() *topicBase { return t }

// nextID counts a routed publish and writes the correlation ID its message
// carries to id: ctx's own, or a new one. bg says that ctx is
// context.Background, which carries none, so that the check is not made
// twice. It writes in place rather than return the ID: a 16-byte array
// returned and copied on costs a publish several nanoseconds. It returns the
// publish's sequence number on the topic, which a handler context keeps.
func (t *topicBase) nextID(ctx context.Context, bg bool, id *CorrelationID) (seq uint64) {
	seq = t.published.Add(1)
	if bg {
		putCorrelationID(id, t.seed, seq)
		return seq
	}
	*id = correlationFor(ctx, t.seed, seq)
	return seq
}

// countUnrouted counts a publish that matched no subscription and tells
// the bus's Unrouted hook.
func (t *topicBase) countUnrouted() {
	t.unrouted.Add(1)
	if h := t.b.hooks.Unrouted; h != nil {
		h(t.name)
	}
}

// Name returns the topic's name.
func (t *topicBase) Name() string { return t.name }

// Topic is a named stream of messages of type T on a Bus. Get one with
// NewTopic; it is safe for concurrent use and lives as long as its bus.
type Topic[T any] struct {
	topicBase
	subs []*Subscription[T] // guarded by b.mu, in subscription order
	snap atomic.Pointer[snapshot[T]]
	lg   *tlog[T] // under qmu; made by the first queue that joins it
}

// snapshot is the immutable set of a topic's subscriptions that Publish
// reads with one atomic load. It is rebuilt when a subscription comes or goes.
type snapshot[T any] struct {
	single   []*Subscription[T] // subscriptions outside queue groups
	groups   []*group[T]
	handlers bool // some target is a handler: publishes build a handler context
	routed   bool // there is a target (the zero snapshot has none)
	plain    bool // every target is a channel subscription that waits without limit
	queues   bool // every target is a handler subscription outside a queue group
	ownLocks bool // some target is a handler subscription with a lock of its own
	shared   bool // two targets or more share the topic's publishers' lock: the log pays
	logSize  int  // the largest ring of those: the size of a new log
	deleted  bool // the topic was deleted: publishes fail
}

func (t *Topic[T]) deletedErr() error {
	return fmt.Errorf("bus: topic %q was deleted: %w", t.name, ErrTopicDeleted)
}

// remove marks the topic deleted. The caller holds b.mu and has detached
// every subscription.
func (t *Topic[T]) remove() { t.snap.Store(&snapshot[T]{deleted: true}) }

type group[T any] struct {
	name    string
	members []*Subscription[T]
	key     func(T) string
	next    atomic.Uint32
}

func (t *Topic[T]) attach(s subscription) bool {
	ts, ok := s.(*Subscription[T])
	if !ok {
		return false
	}
	t.subs = append(t.subs, ts)
	t.rebuild()
	return true
}

func (t *Topic[T]) detach(s subscription) {
	ts, ok := s.(*Subscription[T])
	if !ok {
		return
	}
	if i := slices.Index(t.subs, ts); i >= 0 {
		t.subs = slices.Delete(t.subs, i, i+1)
		t.rebuild()
	}
}

// has reports whether the subscription with core c is attached to t now.
func (t *Topic[T]) has(c *core) bool {
	s := t.snap.Load()
	for _, x := range s.single {
		if &x.core == c {
			return true
		}
	}
	for _, g := range s.groups {
		for _, x := range g.members {
			if &x.core == c {
				return true
			}
		}
	}
	return false
}

func (t *Topic[T]) rebuild() {
	ns := &snapshot[T]{}
	for _, s := range t.subs {
		if s.q != nil {
			ns.handlers = true
		}
		if s.group == "" {
			ns.single = append(ns.single, s)
			continue
		}
		i := slices.IndexFunc(ns.groups, func(g *group[T]) bool { return g.name == s.group })
		if i < 0 {
			ns.groups = append(ns.groups, &group[T]{name: s.group, key: s.key})
			i = len(ns.groups) - 1
		}
		ns.groups[i].members = append(ns.groups[i].members, s)
	}
	ns.routed = len(ns.single) > 0 || len(ns.groups) > 0
	ns.plain = len(ns.single) > 0 && len(ns.groups) == 0 &&
		!slices.ContainsFunc(ns.single, func(s *Subscription[T]) bool { return !s.waits })
	ns.queues = len(ns.single) > 0 && len(ns.groups) == 0 &&
		!slices.ContainsFunc(ns.single, func(s *Subscription[T]) bool { return s.q == nil })
	shared := 0
	for _, s := range ns.single {
		switch {
		case s.q == nil:
		case s.q.pmu != &t.qmu:
			ns.ownLocks = true
		default:
			shared++
			ns.logSize = max(ns.logSize, len(s.q.slots))
		}
	}
	ns.shared = shared >= 2
	t.snap.Store(ns)
}

// Publish sends v to every subscription of the topic, applying each one's
// policy, and returns once each has queued or dropped it. Drops are counted,
// not returned; Publish returns an error only when it could not offer the
// message: ErrClosed after Close, or the context's error when ctx ended while
// a Block subscriber had no room (the message is then dropped for that
// subscriber with reason ReasonCanceled, unless the subscription ended
// meanwhile: see DropReason). With the Synchronous option it behaves like
// PublishSync.
//
// The message carries ctx's correlation ID, or a new one.
func (t *Topic[T]) Publish(ctx context.Context, v T) error {
	b := t.b
	if ctx == nil || b.state.Load() != stateOpen || b.sync {
		return t.publishSlow(ctx, v, b.sync)
	}
	s := t.snap.Load()
	if !s.routed {
		if s.deleted {
			return t.deletedErr()
		}
		t.countUnrouted()
		return nil
	}
	bg := isBackground(ctx)
	if s.plain && (bg || ctx.Done() == nil) {
		// Every subscription is a channel subscription that waits without
		// limit, and ctx cannot end: a plain send to each. Waiting cannot
		// hang the end of a subscription: end empties the channel until
		// every sender inside the guard has left. Inline, because it is the
		// common case and every nanosecond of it counts.
		m := Message[T]{Value: v, Topic: t.name}
		t.nextID(ctx, bg, &m.CorrelationID)
		ended := false
		for _, x := range s.single {
			if !x.enter() {
				ended = true // it ended after s was loaded: not offered
				continue
			}
			x.ch <- m
			x.sent.Add(1)
			x.exit()
		}
		if ended {
			return b.endedErr()
		}
		return nil
	}
	if s.queues {
		return t.publishQueues(ctx, s, v, bg)
	}
	return t.publish(ctx, v, false)
}

// publishQueues is publish when every subscription of s is a handler
// subscription outside a queue group: one handler context for the message,
// one write to the topic's log for the queues in it, a put to each other
// queue with the topic's lock and room, and push for the rest.
func (t *Topic[T]) publishQueues(ctx context.Context, s *snapshot[T], v T, bg bool) error {
	parent := ctx
	if bg {
		parent = nil // the same, without comparing it again
	}
	// The handler context makes the message's correlation ID when it is
	// read (see msgCtx): here only the publish is counted.
	hc := t.newMsgCtx(parent, t, t.published.Add(1), nil)
	var (
		err     error
		slowBuf [4]*Subscription[T]
		slow    = slowBuf[:0]
	)
	mu := &t.qmu
	mu.Lock()
	for _, x := range s.single {
		q := x.q
		if q.pmu != mu || q.inLog {
			continue // a lock of its own: below; in the log: appendLog
		}
		if s.shared && t.join(q, s.logSize) {
			q.s.kept()
			continue // it gets v from the log
		}
		if !q.closed && !q.full() {
			// q.tryPut, written out: the compiler does not inline it,
			// and the call is on every delivery here.
			q.put(v, hc, nil)
			q.added()
			continue
		}
		// Full or ended: push, after the lock is released, since it may
		// wait, or call OnDrop, and the handler waited for, or OnDrop, may
		// publish to this topic.
		slow = append(slow, x)
	}
	if t.lg != nil && len(t.lg.subs) > 0 {
		slow = t.appendLog(v, hc, slow)
	}
	mu.Unlock()
	for _, x := range slow {
		if e := x.push(ctx, v, hc, nil, false); e != nil {
			err = keep(err, e)
		}
	}
	if s.ownLocks {
		// Wildcard subscriptions, and those with concurrency above 1.
		for _, x := range s.single {
			if x.q.pmu == mu {
				continue
			}
			if e := x.push(ctx, v, hc, nil, false); e != nil {
				err = keep(err, e)
			}
		}
	}
	if err == errEnded {
		return t.b.endedErr()
	}
	return err
}

// PublishSync sends v to every subscription of the topic and returns when
// each has taken it: channel subscriptions when the message is in their
// channel, handler subscriptions when the handler has returned. It waits for
// room whatever a subscription's policy, until ctx ends. It returns the
// joined errors of the handlers, and ctx's error if it gave up waiting.
//
// Called from a handler, PublishSync does not wait for a handler that may be
// the caller or waiting on the caller (that could deadlock): subscriptions
// that receive a message of the chain being handled get the message as with
// Publish.
func (t *Topic[T]) PublishSync(ctx context.Context, v T) error {
	return t.publishSlow(ctx, v, true)
}

func (t *Topic[T]) publishSlow(ctx context.Context, v T, sync bool) error {
	b := t.b
	if ctx == nil {
		return errors.New("bus: nil context: pass the publisher's context, or context.Background()")
	}
	switch b.state.Load() {
	case stateClosed:
		return ErrClosed
	case stateDraining:
		if !b.fromHandler(ctx) {
			return ErrClosed
		}
	}
	return t.publish(ctx, v, sync)
}

func (t *Topic[T]) publish(ctx context.Context, v T, sync bool) error {
	s := t.snap.Load()
	if len(s.single) == 0 && len(s.groups) == 0 {
		if s.deleted {
			return t.deletedErr()
		}
		t.countUnrouted()
		return nil
	}
	m := Message[T]{Value: v, Topic: t.name}
	seq := t.nextID(ctx, false, &m.CorrelationID)
	var hc *msgCtx
	if s.handlers {
		hc = t.newMsgCtx(ctx, t, seq, &m.CorrelationID)
	}
	if sync {
		return t.deliverSync(ctx, s, &m, hc)
	}
	var err error
	done := ctx.Done()
	for _, x := range s.single {
		if x.waits && done == nil {
			// A channel subscription that blocks without limit, and a
			// publisher that cannot give up: a plain send.
			if !x.enter() {
				err = keep(err, errEnded)
				continue
			}
			x.sendWait(&m)
			continue
		}
		if e := x.deliver(ctx, &m, hc, nil, false); e != nil {
			err = keep(err, e)
		}
	}
	for _, g := range s.groups {
		if e := g.deliver(ctx, &m, hc, nil, false); e != nil {
			err = keep(err, e)
		}
	}
	if err == errEnded {
		return t.b.endedErr()
	}
	return err
}

// errEnded is what delivering to a subscription that ended after the
// publish loaded its snapshot returns: the message was not offered to it.
var errEnded = errors.New("bus: subscription ended")

// keep returns the error worth reporting of old and next: errEnded only
// when there is no other.
func keep(old, next error) error {
	if old == nil || old == errEnded {
		return next
	}
	return old
}

// endedErr says what a publish that reached only ended subscriptions
// returns: ErrClosed if the bus closed meanwhile (the publish raced with
// Close and nothing took the message), else nil (some subscriptions just
// left).
func (b *Bus) endedErr() error {
	if b.state.Load() == stateClosed {
		return ErrClosed
	}
	return nil
}

func (g *group[T]) deliver(ctx context.Context, m *Message[T], hc *msgCtx, w *waiter, block bool) error {
	n := uint32(len(g.members))
	if g.key != nil {
		err := g.members[fnv32(g.key(m.Value))%n].deliver(ctx, m, hc, w, block)
		if err != errEnded {
			return err
		}
		// The key's member left after this publish loaded the snapshot:
		// the group has a new membership, so any live member will do.
	}
	start := g.next.Add(1)
	for i := range n {
		if g.members[(start+i)%n].try(m, hc, w) {
			return nil
		}
	}
	// Every member is full (or has left): the first live one applies its
	// policy.
	for i := range n {
		if err := g.members[(start+i)%n].deliver(ctx, m, hc, w, block); err != errEnded {
			return err
		}
	}
	return errEnded
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// waiter collects the outcome of one PublishSync. pending starts at 1, the
// publisher's own hold, so that ch closes only after every delivery began.
type waiter struct {
	pending atomic.Int32
	ch      chan struct{}
	mu      sync.Mutex
	errs    []error
}

func newWaiter() *waiter {
	w := &waiter{ch: make(chan struct{})}
	w.pending.Store(1)
	return w
}

func (w *waiter) add() { w.pending.Add(1) }

func (w *waiter) done(err error) {
	if err != nil {
		w.mu.Lock()
		w.errs = append(w.errs, err)
		w.mu.Unlock()
	}
	if w.pending.Add(-1) == 0 {
		close(w.ch)
	}
}

// deliverSync delivers m to every subscription of s and waits until each
// has taken it (see PublishSync).
func (t *Topic[T]) deliverSync(ctx context.Context, s *snapshot[T], m *Message[T], hc *msgCtx) error {
	w := newWaiter()
	var errs []error
	ended := false
	deliver := func(x *Subscription[T]) error {
		var err error
		if x.q != nil && isAncestor(ctx, &x.core) {
			// x may be the caller, or waiting on it: do not wait for it.
			err = x.deliver(ctx, m, hc, nil, false)
		} else {
			err = x.deliver(ctx, m, hc, w, true)
		}
		if err != nil && err != errEnded {
			errs = append(errs, err)
		}
		return err
	}
	for _, x := range s.single {
		if deliver(x) == errEnded {
			ended = true
		}
	}
	for _, g := range s.groups {
		n := uint32(len(g.members))
		var first uint32
		if g.key != nil {
			first = fnv32(g.key(m.Value)) % n
		} else {
			first = g.next.Add(1) % n
		}
		// The chosen member, or the next live one if it left meanwhile.
		gone := true
		for i := range n {
			if deliver(g.members[(first+i)%n]) != errEnded {
				gone = false
				break
			}
		}
		ended = ended || gone
	}
	w.done(nil)
	select {
	case <-w.ch:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("bus: PublishSync to %q gave up waiting for its handlers: %w", t.name, ctx.Err()))
	}
	w.mu.Lock()
	errs = append(errs, w.errs...)
	w.mu.Unlock()
	if ended && len(errs) == 0 {
		return t.b.endedErr()
	}
	return errors.Join(errs...)
}

// Subscribe subscribes to this topic and returns the subscription, whose
// channel C receives the messages. See the package function Subscribe.
func (t *Topic[T]) Subscribe(ctx context.Context, opts ...SubscribeOption) (*Subscription[T], error) {
	return subscribe[T](ctx, t.b, t.name, t.b.configure(opts), nil, 1)
}

// Handle subscribes fn to this topic. See the package function Handle.
func (t *Topic[T]) Handle(ctx context.Context, fn func(context.Context, T) error, opts ...SubscribeOption) (*Subscription[T], error) {
	if fn == nil {
		return nil, errors.New("bus: Handle: nil handler function")
	}
	return subscribe(ctx, t.b, t.name, t.b.configure(opts), fn, 1)
}

// Subscribe subscribes to every topic of type T whose name matches pattern
// (a topic name, or one with '*' and '>' wildcards; topics declared later
// are matched when they are declared; topics of another type are skipped).
// Messages arrive on the subscription's channel C. The subscription ends,
// and C is closed, when ctx ends, when Close is called on it, when its policy
// disconnects it, or when the bus closes.
//
// A pattern without wildcards declares the topic with type T if it does not
// exist, and is a *TypeError if it exists with another type.
func Subscribe[T any](ctx context.Context, b *Bus, pattern string, opts ...SubscribeOption) (*Subscription[T], error) {
	return subscribe[T](ctx, b, pattern, b.configure(opts), nil, 1)
}

// Handle subscribes fn to every topic of type T whose name matches pattern,
// like Subscribe. The bus calls fn for each message on its own worker
// goroutines, at most Concurrency calls at once (default 1, in publish
// order), never under a bus lock; fn may publish, also to its own topic.
// The context fn receives carries the message's correlation ID and topic,
// and is cancelled only when Close gives up waiting for handlers. A panic
// in fn is recovered and returned as a *PanicError.
//
// Handler contexts are allocated in blocks of 128 messages: fn may
// keep its context after it returns (in a goroutine, say), but that keeps
// the block, and the publishers' contexts it refers to, in memory as well.
//
// The handler subscriptions of one topic with concurrency 1, outside queue
// groups, share the topic's log while they keep up: a publish writes the
// message there once for all of them. One that falls behind by its Buffer,
// or that gets a message by PublishSync or with channel subscribers on the
// topic, takes what it has not handled into its own queue, where its policy
// applies as usual, and rejoins the log once it has caught up. What a
// subscriber receives, drops and counts does not depend on it.
func Handle[T any](ctx context.Context, b *Bus, pattern string, fn func(context.Context, T) error, opts ...SubscribeOption) (*Subscription[T], error) {
	if fn == nil {
		return nil, errors.New("bus: Handle: nil handler function")
	}
	return subscribe(ctx, b, pattern, b.configure(opts), fn, 1)
}

// configure applies the bus's default options, then opts.
func (b *Bus) configure(opts []SubscribeOption) *subConfig {
	c := &subConfig{}
	if b == nil {
		c.errs = append(c.errs, errors.New("bus: nil *Bus: make one with bus.New"))
		return c
	}
	for _, o := range slices.Concat(b.defaults, opts) {
		if o == nil {
			c.errs = append(c.errs, errors.New("bus: nil SubscribeOption"))
			continue
		}
		o.applySub(c)
	}
	return c
}
