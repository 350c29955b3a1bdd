// Package bus is fxbus's engine: an in-process, typed publish/subscribe bus.
//
// A Bus holds named topics, each of one message type T (Topic[T]). Publishers
// call Publish or PublishSync; subscribers either read a channel (Subscribe)
// or have the bus call a function (Handle). Every subscription is tied to a
// context.Context and ends when it ends, when the bus closes, or when its
// slow-subscriber policy disconnects it; its channel is then closed exactly
// once, by the bus.
//
// # Names
//
// Topic names are NATS subjects: tokens of ASCII letters, digits, '-' and
// '_' separated by '.', like "orders.created". Subscriptions may use '*' for
// one token and '>' for the rest; which subscriptions match a topic is
// decided when either is created, never on each publish.
//
// # Slow subscribers
//
// Each subscription has a bounded queue (Buffer) and a Policy for when it is
// full: Block (the publisher waits, up to its context or a BlockFor bound),
// DropNewest, DropOldest, or DisconnectAfter(n) consecutive drops. Every
// dropped message is counted with a DropReason and can be seen by OnDrop and
// by the bus's Hooks: per subscription, Published == Delivered + Dropped +
// Queued once publishing stops (see Stats).
//
// # Fan-out
//
// Every subscription receives every message of its topics (broadcast),
// except that subscriptions sharing a QueueGroup split the messages between
// them, each message going to one member; an OrderingKey sends messages with
// the same key to the same member, in order.
//
// # Handlers
//
// Handle runs a function per message on the bus's workers: each handler
// subscription is a bounded ring that a worker drains in batches while it
// holds messages, so a handler costs no goroutine while idle and one slow
// handler never delays another. The handler subscriptions of one topic (with
// concurrency 1, outside queue groups) share the topic's log while they keep
// up, so that a publish writes the message once for all of them; one that
// falls behind by its buffer goes back to its own ring and policy. Handlers
// run under no bus lock and may publish, also to their own topic. Their
// context carries the message's CorrelationID, which their own publishes
// carry on.
//
// # Shutdown
//
// Close refuses new publishes (except from handlers), drains every queue,
// ends every subscription in reverse order of subscription and waits for the
// bus's goroutines; if its context ends first it reports, per subscriber,
// what was left undelivered (a *ShutdownError).
//
// Package bus uses only the standard library. The packages next to it adapt
// it to fx, zap and Prometheus.
package bus
