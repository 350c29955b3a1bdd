// Package broker marks the publishes that deliver a message taken from a
// broker which owns the message's retries and dead letters (an import of
// package natsbridge), for package handlers, which then leaves both to the
// broker. Users never name it.
package broker

import (
	"context"

	"github.com/fxbus/fxbus/bus"
)

type key struct{}

// Delivery is one delivery of a broker's message.
type Delivery struct {
	Topic   string // the topic the message is published on
	Attempt int    // the broker's delivery count: 1 for the first delivery
}

// WithDelivery marks ctx as the context of a publish on topic that delivers
// a message taken from a broker that redelivers failed messages and
// dead-letters them itself; attempt is the broker's delivery count.
//
// The broker owns the retries of that message: its handlers make one call
// per delivery, whatever their Retry option, publish no DeadLetter, and
// return their error to the publisher, so that the broker's redeliveries
// and dead letters are not doubled by local ones; handlers.AttemptFrom
// returns attempt in those calls. The mark applies to the message
// published on topic only: the handlers of the events that such a handler
// publishes in turn (on other topics) retry and dead-letter as usual.
func WithDelivery(ctx context.Context, topic string, attempt int) context.Context {
	return context.WithValue(ctx, key{}, &Delivery{Topic: topic, Attempt: attempt})
}

// From returns the broker's delivery if ctx, a handler's context, is that
// of a message a broker delivered (see WithDelivery).
func From(ctx context.Context) (*Delivery, bool) {
	d, ok := ctx.Value(key{}).(*Delivery)
	if !ok {
		return nil, false
	}
	if topic, ok := bus.TopicFrom(ctx); !ok || topic != d.Topic {
		return nil, false // a later event of the chain, on another topic
	}
	return d, true
}
