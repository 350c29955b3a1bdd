package bus

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrClosed is returned by Publish, PublishSync, Subscribe and Handle once
	// the bus is closing or closed. While the bus drains, publishes made from
	// inside a handler are still accepted, so that chains of events complete.
	ErrClosed = errors.New("bus: closed")

	// ErrDisconnected is the Err of a subscription that the bus ended because
	// it dropped more consecutive messages than its DisconnectAfter policy
	// allows. Subscribe again once the consumer has caught up.
	ErrDisconnected = errors.New("bus: subscription disconnected: too many consecutive drops")

	// ErrTopicDeleted is wrapped by the error of a publish on a topic that
	// DeleteTopic removed.
	ErrTopicDeleted = errors.New("bus: topic deleted")

	// ErrUnsubscribed is the Err of a subscription ended by its Close method.
	ErrUnsubscribed = errors.New("bus: unsubscribed")
)

// TypeError reports a topic name asked for with another message type than the
// one it was declared with.
type TypeError struct {
	Topic string // the topic name
	Have  string // the topic's message type
	Want  string // the type that was asked for
}

// Error says which topic and which two types clash.
func (e *TypeError) Error() string {
	return fmt.Sprintf("bus: topic %q carries %s, not %s: use one message type per topic name, or another name", e.Topic, e.Have, e.Want)
}

// Leftover is what a shutdown left undelivered for one subscription.
type Leftover struct {
	Topic      string // topic name or pattern of the subscription
	Subscriber string // subscription name
	Count      uint64 // messages counted as dropped with reason ReasonShutdown
	Running    bool   // a handler was still running when Close gave up waiting
}

// ShutdownError is returned by Close when its context ended before every
// queue was drained. Each entry names a subscriber that still had work when
// the drain gave up and says how many messages it lost (possibly 0, if it
// caught up while the bus closed); they are counted as dropped with reason
// ReasonShutdown.
type ShutdownError struct {
	Cause     error // the context's error; nil when only publishes racing with Close were lost
	Leftovers []Leftover
}

// Error lists each subscriber and what it lost.
func (e *ShutdownError) Error() string {
	var b strings.Builder
	if e.Cause != nil {
		fmt.Fprintf(&b, "bus: shutdown deadline hit (%v) before the bus drained:", e.Cause)
	} else {
		b.WriteString("bus: publishes that raced with shutdown were not delivered:")
	}
	if len(e.Leftovers) == 0 {
		b.WriteString(" every subscriber caught up as it closed")
	}
	for _, l := range e.Leftovers {
		fmt.Fprintf(&b, " %s/%s lost %d", l.Topic, l.Subscriber, l.Count)
		if l.Running {
			b.WriteString(" (handler still running)")
		}
		b.WriteByte(';')
	}
	s := b.String()
	return strings.TrimSuffix(s, ";")
}

// Unwrap returns the context's error.
func (e *ShutdownError) Unwrap() error { return e.Cause }

// PanicError is the error of a handler call that panicked. The bus recovers
// the panic so that the worker goes on with the next message.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the goroutine's stack at the panic
}

// Error gives the panic value; Stack holds the stack.
func (e *PanicError) Error() string { return fmt.Sprintf("bus: handler panicked: %v", e.Value) }
