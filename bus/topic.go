package bus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
)

// topicBase is the type-independent state of a topic.
type topicBase struct {
	name      string
	typ       reflect.Type
	b         *Bus
	seed      uint64        // random half of the correlation IDs made here
	published atomic.Uint64 // publishes that matched at least one subscription
	unrouted  atomic.Uint64 // publishes that matched none
}

func (t *topicBase) typeName() string { return t.typ.String() }

// counts returns the publishes that matched a subscription, and those that
// matched none.
func (t *topicBase) counts() (published, unrouted uint64) {
	return t.published.Load(), t.unrouted.Load()
}

// Name returns the topic's name.
func (t *topicBase) Name() string { return t.name }

// countUnrouted counts a publish that matched no subscription and tells
// the bus's Unrouted hook.
func (t *topicBase) countUnrouted() {
	t.unrouted.Add(1)
	if h := t.b.cfg.hooks.Unrouted; h != nil {
		h(t.name)
	}
}

// Topic is a named stream of messages of type T on a Bus. Get one with
// NewTopic; it is safe for concurrent use and lives as long as its bus.
type Topic[T any] struct {
	topicBase
	subs []*Subscription[T] // guarded by b.mu, in subscription order
	snap atomic.Pointer[snapshot[T]]
}

func (t *Topic[T]) deletedErr() error {
	return fmt.Errorf("bus: topic %q was deleted: %w", t.name, ErrTopicDeleted)
}

// remove marks the topic deleted. The caller holds b.mu and has detached
// every subscription.
func (t *Topic[T]) remove() { t.snap.Store(&snapshot[T]{deleted: true}) }

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

// receives reports whether the subscription marked m receives this topic's
// messages now.
func (t *Topic[T]) receives(m *mark) bool {
	s := t.snap.Load()
	for _, x := range s.single {
		if &x.mark == m {
			return true
		}
	}
	for _, g := range s.groups {
		for _, x := range g.members {
			if &x.mark == m {
				return true
			}
		}
	}
	return false
}

func (t *Topic[T]) rebuild() {
	ns := &snapshot[T]{}
	for _, s := range t.subs {
		ns.handlers = ns.handlers || s.conc > 0
		if s.group == "" {
			ns.single = append(ns.single, s)
			continue
		}
		i := slices.IndexFunc(ns.groups, func(g *queueGroup[T]) bool { return g.name == s.group })
		if i < 0 {
			ns.groups = append(ns.groups, &queueGroup[T]{name: s.group, key: s.key})
			i = len(ns.groups) - 1
		}
		ns.groups[i].members = append(ns.groups[i].members, s)
	}
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
// A handler's publish never waits for room in a handler subscription that
// receives the message being handled, since that subscription's handler may
// be the publisher: the message is queued past that subscription's Buffer.
//
// The message carries ctx's correlation ID, or a new one.
func (t *Topic[T]) Publish(ctx context.Context, v T) error {
	return t.publish(ctx, v, t.b.cfg.sync)
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
	return t.publish(ctx, v, true)
}

// publish is the one path of a message: admit it, load the snapshot, make
// the delivery, route it.
func (t *Topic[T]) publish(ctx context.Context, v T, sync bool) error {
	if err := t.b.admit(ctx); err != nil {
		return err
	}
	s := t.snap.Load()
	if len(s.single) == 0 && len(s.groups) == 0 {
		if s.deleted {
			return t.deletedErr()
		}
		t.countUnrouted()
		return nil
	}
	d := delivery[T]{msg: Message[T]{Value: v, Topic: t.name}}
	d.msg.CorrelationID = newID(ctx, t.seed, t.published.Add(1))
	if s.handlers {
		d.hc = t.handlerCtx(ctx, d.msg.CorrelationID)
	}
	if !sync {
		return t.b.ended(route(ctx, s, &d, nil))
	}
	w := newWaiter()
	errs := []error{route(ctx, s, &d, w)}
	onlyEnded := errs[0] == errEnded
	if onlyEnded {
		errs[0] = nil
	}
	handlerErrs, gaveUp := w.wait(ctx)
	if gaveUp {
		errs = append(errs, fmt.Errorf("bus: PublishSync to %q gave up waiting for its handlers: %w", t.name, ctx.Err()))
	}
	errs = append(errs, handlerErrs...)
	if err := errors.Join(errs...); err != nil || !onlyEnded {
		return err
	}
	return t.b.ended(errEnded)
}

// handlerCtx makes the context the handlers of a message published with
// ctx receive. A handler's own publish refers to its publisher's context
// rather than to its own, so that a long chain of handlers does not keep
// every context of the chain alive.
func (t *Topic[T]) handlerCtx(ctx context.Context, id CorrelationID) *handlerCtx {
	parent := ctx
	if hc, ok := ctx.(*handlerCtx); ok {
		parent = hc.parent
	}
	return &handlerCtx{parent: parent, topic: t, id: id}
}

func (t *topicBase) nameRef() *string    { return &t.name }
func (t *topicBase) lifeline() *lifeline { return &t.b.life }
