package handlers

import (
	"context"
	"sync"

	"github.com/fxbus/fxbus/bus"
)

// DeadLetter is what a handler publishes when it gives up on a message: after
// its last attempt, or at once on an error marked Permanent. It goes to the
// message's topic name plus DeadLetterSuffix, or to the DeadLetterTopic
// option's topic, which carries DeadLetter[T] for handlers of T. Subscribe
// to it like to any topic. When nothing does, nobody will read the dead
// letter: the handler's error then says so (it matches
// ErrDeadLetterUnread), an observer sees FateDeadLetterUnread (fxbus.Module
// logs it at error level and counts it in its metrics), and the bus counts
// the publish as Unrouted on that topic (see bus.TopicStats).
//
// It is a plain value: its fields other than Cause survive encoding, so dead
// letters can be bridged or stored.
type DeadLetter[T any] struct {
	Message       T                 // the message as published
	Err           string            // the last error's message
	Attempts      int               // how many calls were made, 1 or more
	CorrelationID bus.CorrelationID // the message's correlation ID
	Topic         string            // the topic the message was published on
	Subscriber    string            // the name of the handler that gave up
	// Cause is the last error itself, for errors.Is and errors.As in the
	// same process. It is not encoded.
	Cause error `json:"-"`
}

// isDeadLetter marks DeadLetter types; it is how the project tells a
// dead-letter topic's handler from others.
func (DeadLetter[T]) isDeadLetter() {}

type deadLetterValue interface{ isDeadLetter() }

// deadLetters publishes one subscription's dead letters.
type deadLetters[T any] struct {
	b     *bus.Bus
	fixed string // the DeadLetterTopic option, or ""

	mu     sync.Mutex
	topics map[string]*bus.Topic[DeadLetter[T]] // by dead-letter topic name
}

func newDeadLetters[T any](b *bus.Bus, fixed string) *deadLetters[T] {
	return &deadLetters[T]{b: b, fixed: fixed, topics: make(map[string]*bus.Topic[DeadLetter[T]])}
}

// name returns the dead-letter topic for messages of topic.
func (d *deadLetters[T]) name(topic string) string {
	if d.fixed != "" {
		return d.fixed
	}
	return topic + DeadLetterSuffix
}

// topic returns the dead-letter topic for messages of topic, declaring it.
func (d *deadLetters[T]) topic(topic string) (*bus.Topic[DeadLetter[T]], error) {
	name := d.name(topic)
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.topics[name]; ok {
		return t, nil
	}
	t, err := bus.NewTopic[DeadLetter[T]](d.b, name)
	if err != nil {
		return nil, err
	}
	d.topics[name] = t
	return t, nil
}

// publish sends v's dead letter with ctx, the handler's context, so that the
// correlation ID carries on and the bus accepts it while draining. It
// returns the dead-letter topic's name and whether anything subscribes to
// it (read just before publishing: a subscription made or ended at that
// very moment may be missed).
func (d *deadLetters[T]) publish(ctx context.Context, v T, err error, attempts int, subscriber, fallback string) (name string, read bool, _ error) {
	topic, ok := bus.TopicFrom(ctx)
	if !ok {
		topic = fallback
	}
	id, _ := bus.CorrelationIDFrom(ctx)
	t, terr := d.topic(topic)
	if terr != nil {
		return d.name(topic), false, terr
	}
	read = subscribed(d.b, t.Name())
	return t.Name(), read, t.Publish(ctx, DeadLetter[T]{
		Message:       v,
		Err:           err.Error(),
		Attempts:      attempts,
		CorrelationID: id,
		Topic:         topic,
		Subscriber:    subscriber,
		Cause:         err,
	})
}

// subscribed reports whether a live subscription is attached to the topic
// called name. It reads the bus's Stats: dead letters are rare, and the bus
// has no cheaper question for it.
func subscribed(b *bus.Bus, name string) bool {
	for _, t := range b.Stats().Topics {
		if t.Name == name {
			return t.Subscribers > 0
		}
	}
	return false
}
