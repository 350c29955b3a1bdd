package handlers

import (
	"context"

	"github.com/fxbus/fxbus/bus"
)

// brokerKey marks the context of a publish that delivers a message taken
// from a broker which owns the message's retries.
type brokerKey struct{}

type brokerDelivery struct {
	topic   string
	attempt int
}

// WithBrokerDelivery marks ctx as the context of a publish on topic that
// delivers a message taken from a broker that redelivers failed messages and
// dead-letters them itself, such as an import of package natsbridge; attempt
// is the broker's delivery count (1 for the first delivery).
//
// The broker owns the retries of that message: its handlers make one call per
// delivery, whatever their Retry option, publish no DeadLetter, and return
// their error to the publisher, so that the broker's redeliveries and dead
// letters are not doubled by local ones. Observers see such a failed call
// with FateRetried: the broker delivers the message again, or dead-letters
// it itself. AttemptFrom returns attempt in those calls. The mark applies to the message published on topic only: the
// handlers of the events that such a handler publishes in turn (on other
// topics) retry and dead-letter as usual.
func WithBrokerDelivery(ctx context.Context, topic string, attempt int) context.Context {
	return context.WithValue(ctx, brokerKey{}, &brokerDelivery{topic: topic, attempt: attempt})
}

// brokerFrom returns the broker's delivery if ctx, a handler's context, is
// that of a message a broker delivered (see WithBrokerDelivery).
func brokerFrom(ctx context.Context) (*brokerDelivery, bool) {
	d, ok := ctx.Value(brokerKey{}).(*brokerDelivery)
	if !ok {
		return nil, false
	}
	if topic, ok := bus.TopicFrom(ctx); !ok || topic != d.topic {
		return nil, false // a later event of the chain, on another topic
	}
	return d, true
}
