package bus

import (
	"errors"
	"fmt"
	"reflect"
	"time"
)

// Option configures a Bus.
type Option interface{ applyBus(*config) }

type busOption func(*config)

func (f busOption) applyBus(c *config) { f(c) }

// config is what the options of New set.
type config struct {
	sync       bool
	killGrace  time.Duration
	hooks      Hooks
	defaults   []SubscribeOption
	workers    int
	workerIdle time.Duration // how long an idle worker waits before it exits
}

func defaultConfig() config {
	return config{killGrace: time.Second, workers: 1024, workerIdle: 2 * time.Second}
}

// Synchronous makes Publish behave like PublishSync: it returns once every
// subscriber has taken the message and every handler has returned, with the
// handlers' joined errors. Meant for tests.
func Synchronous() Option { return busOption(func(c *config) { c.sync = true }) }

// KillGrace sets how long Close waits for handlers that are still running
// after its context ended and their contexts were cancelled. The default is
// one second; a handler that ignores its context longer is reported in the
// ShutdownError and left running.
func KillGrace(d time.Duration) Option { return busOption(func(c *config) { c.killGrace = d }) }

// Workers bounds the bus's worker goroutines, and so how many handler calls
// run at once across all handler subscriptions (default 1024).
// The bus starts a worker when a handler subscription has messages and no
// worker is free, and a worker exits after a while with nothing to do. At
// the bound, a subscription with messages waits for a worker, in the order
// they asked; meanwhile its queue fills and its policy applies. A worker
// whose subscription has more messages lets a waiting subscription go first
// after each batch, so a busy subscription cannot keep the others waiting,
// but handlers that block for ever can: n of them stop every handler of the
// bus. Values below 1 are taken as 1.
func Workers(n int) Option { return busOption(func(c *config) { c.workers = max(n, 1) }) }

// Hooks observe what a bus does to its subscriptions, for logs. Each hook
// runs on the goroutine where the event happened (often a publisher's), so
// it must be quick and must not block; nil hooks cost nothing.
type Hooks struct {
	// Dropped is called for each message dropped for any subscription.
	Dropped func(DropEvent)
	// Ended is called when a subscription ends, for whatever reason.
	Ended func(EndEvent)
	// Unrouted is called with the topic's name for each accepted publish
	// that matched no subscription (counted as Unrouted in TopicStats).
	Unrouted func(topic string)
}

// DropEvent describes one dropped message.
type DropEvent struct {
	Topic         string // the topic the message was published on
	Subscriber    string // the subscription's name
	Pattern       string // the subscription's topic name or pattern
	Reason        DropReason
	CorrelationID CorrelationID
}

// EndEvent describes the end of a subscription.
type EndEvent struct {
	Pattern    string // the subscription's topic name or pattern
	Subscriber string // the subscription's name
	Err        error  // why it ended, as Subscription.Err returns it
}

// WithHooks installs hooks on the bus.
func WithHooks(h Hooks) Option { return busOption(func(c *config) { c.hooks = h }) }

// Defaults sets subscribe options that every subscription of the bus starts
// from, such as a Buffer or a WithPolicy; a subscription's own options
// override them. Only options that make sense for every subscription belong
// here (not Name, QueueGroup or OrderingKey).
func Defaults(opts ...SubscribeOption) Option {
	return busOption(func(c *config) { c.defaults = append(c.defaults, opts...) })
}

// DefaultBuffer is the queue size of a subscription that sets none.
const DefaultBuffer = 128

// SubscribeOption configures one subscription.
type SubscribeOption interface{ applySub(*subConfig) }

type subOption func(*subConfig)

// Extension lets another package define subscribe options of its own, so
// that one option list carries both kinds (handlers.Retry beside
// bus.QueueGroup): that package embeds Extension in its option type and
// takes its options out of the list before passing the rest to the bus. An
// Extension that reaches the bus is an error naming Owner, the package whose
// function takes it.
type Extension struct {
	Owner string // the package whose functions take the option, like "handlers"
}

func (e Extension) applySub(c *subConfig) {
	c.errs = append(c.errs, fmt.Errorf("bus: an option of package %s was passed to the bus: pass it to %[1]s's functions", e.Owner))
}

// CheckSubscribeOptions reads opts as Subscribe would, without a bus: it
// returns the name they give a subscription (the last Name among them, or ""
// when none does) and the errors Subscribe would report for them. A package
// that subscribes on a user's behalf, like handlers, uses it to know the
// subscription's name and to report bad options where they are given rather
// than at the start.
func CheckSubscribeOptions(opts ...SubscribeOption) (name string, err error) {
	var c subConfig
	for _, o := range opts {
		if o == nil {
			c.errs = append(c.errs, errors.New("bus: nil SubscribeOption"))
			continue
		}
		o.applySub(&c)
	}
	return c.name, errors.Join(c.errs...)
}

func (f subOption) applySub(c *subConfig) { f(c) }

type subConfig struct {
	buffer      int
	name        string
	policy      Policy
	group       string
	concurrency int
	keyFn       any // func(T) string
	onDrop      any // func(Message[T], DropReason)
	errs        []error
}

// MaxBuffer bounds Buffer: a queue is allocated whole when the subscription
// is made, so a larger one is almost always a mistake (and may not fit in
// memory).
const MaxBuffer = 1 << 24

// MaxConcurrency bounds Concurrency.
const MaxConcurrency = 1 << 16

// Buffer sets the queue size: how many messages may wait for the subscriber.
// It must be between 1 and MaxBuffer; the default is DefaultBuffer. The
// queue is allocated when the subscription is made, rounded up to a power
// of 2 for handler subscriptions.
func Buffer(n int) SubscribeOption {
	return subOption(func(c *subConfig) {
		switch {
		case n < 1:
			c.errs = append(c.errs, fmt.Errorf("bus: buffer %d: must be at least 1", n))
		case n > MaxBuffer:
			c.errs = append(c.errs, fmt.Errorf("bus: buffer %d: must be at most %d (the queue is allocated up front)", n, MaxBuffer))
		}
		c.buffer = n
	})
}

// Name names the subscription in stats, metrics and errors. Names are unique
// per topic (or pattern); the default is derived from the code that
// subscribed, so it is stable from one run to the next.
func Name(name string) SubscribeOption {
	return subOption(func(c *subConfig) {
		if name == "" {
			c.errs = append(c.errs, fmt.Errorf("bus: empty subscription name: leave the Name option out for a default"))
		}
		c.name = name
	})
}

// WithPolicy sets what happens when the subscriber's queue is full. The
// default is Block.
func WithPolicy(p Policy) SubscribeOption {
	return subOption(func(c *subConfig) {
		if err := p.validate(); err != nil {
			c.errs = append(c.errs, err)
		}
		c.policy = p
	})
}

// QueueGroup puts the subscription in a queue group: the subscriptions
// attached to a topic that share a group name split its messages, each
// message going to exactly one member, while every group and every
// subscription outside a group still receives every message. As in NATS, a
// group is named per topic, not per pattern: a wildcard subscription and an
// exact one in group "g" split the messages of a topic both match.
func QueueGroup(group string) SubscribeOption {
	return subOption(func(c *subConfig) {
		if err := validate(group, false); err != nil {
			c.errs = append(c.errs, fmt.Errorf("bus: queue group: %w", err))
		}
		c.group = group
	})
}

// Concurrency sets how many calls of a handler may run at once. The default,
// 1, handles messages one at a time in publish order. Only Handle takes it.
func Concurrency(n int) SubscribeOption {
	return subOption(func(c *subConfig) {
		switch {
		case n < 1:
			c.errs = append(c.errs, fmt.Errorf("bus: concurrency %d: must be at least 1", n))
		case n > MaxConcurrency:
			c.errs = append(c.errs, fmt.Errorf("bus: concurrency %d: must be at most %d", n, MaxConcurrency))
		}
		c.concurrency = n
	})
}

// OrderingKey makes a queue group route messages by key: messages with the
// same key go to the same member, in publish order (while the group's
// membership does not change). Every member of a group should pass the same
// function; the group uses the one of its first member. T must be the
// subscription's message type.
func OrderingKey[T any](key func(T) string) SubscribeOption {
	return subOption(func(c *subConfig) {
		if key == nil {
			c.errs = append(c.errs, fmt.Errorf("bus: OrderingKey: nil function"))
		}
		c.keyFn = key
	})
}

// OnDrop registers a function called with each message dropped for this
// subscription and the reason. It runs on the goroutine that dropped the
// message (often a publisher's), so it must be quick and must not block.
// T must be the subscription's message type.
func OnDrop[T any](fn func(Message[T], DropReason)) SubscribeOption {
	return subOption(func(c *subConfig) {
		if fn == nil {
			c.errs = append(c.errs, fmt.Errorf("bus: OnDrop: nil function"))
		}
		c.onDrop = fn
	})
}

// typedOptions checks the generic options against the subscription's type.
func typedOptions[T any](c *subConfig) (key func(T) string, onDrop func(Message[T], DropReason), err error) {
	if c.keyFn != nil {
		var ok bool
		if key, ok = c.keyFn.(func(T) string); !ok {
			return nil, nil, fmt.Errorf("bus: OrderingKey takes a %s, but the subscription carries %s",
				reflect.TypeOf(c.keyFn), typeName[T]())
		}
		if c.group == "" {
			return nil, nil, fmt.Errorf("bus: OrderingKey only applies to a queue group: add the QueueGroup option")
		}
	}
	if c.onDrop != nil {
		var ok bool
		if onDrop, ok = c.onDrop.(func(Message[T], DropReason)); !ok {
			return nil, nil, fmt.Errorf("bus: OnDrop takes a %s, but the subscription carries %s",
				reflect.TypeOf(c.onDrop), typeName[T]())
		}
	}
	return key, onDrop, nil
}

func typeName[T any]() string { return reflect.TypeFor[T]().String() }

// workerIdle sets how long an idle worker waits before it exits; for tests.
func workerIdle(d time.Duration) Option { return busOption(func(c *config) { c.workerIdle = d }) }
