// Package bus is fxbus's engine: an in-process, typed publish/subscribe bus
// that uses only the standard library. An fx app reaches it through package
// fxbus, and handlers that retry, time out and dead-letter come from package
// handlers; use bus directly for channels, or without fx.
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
// Queued once publishing stops (see Stats). One exception to waiting: a
// handler's publish does not wait for room in a handler subscription that
// receives the message being handled (its handler may be the publisher, the
// only one who could make room); the message is queued past the Buffer.
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
// Handle runs a function per message on the bus's worker goroutines, at
// most Workers of them (see the option), never under a bus lock. Handlers
// may publish, also to their own topic. Their context carries the message's
// CorrelationID, which their own publishes carry on, and the publisher's
// context values.
//
// # Shutdown
//
// Close refuses new publishes (except from handlers), drains every queue,
// ends every subscription in reverse order of subscription and waits for the
// bus's goroutines; if its context ends first it reports, per subscriber,
// what was left undelivered (a *ShutdownError).
//
// # Inside
//
// One message's path: Topic.publish admits it and loads the topic's
// snapshot (topic.go); route offers it to each subscription and to one
// member of each queue group (route.go); offer puts it in the subscription's
// sink or applies the policy, the one place where policies are decided
// (offer.go); the sink is a channel (chansink.go) or a handler queue
// (queue.go) that the worker pool drains (pool.go). The counters and their
// rule are in counters.go. The invariants, and the tests that pin them:
//
//  1. Publish takes no lock shared across topics, holds none while a handler
//     runs, and does not allocate for channel subscriptions (one handler
//     context per message for handler subscriptions):
//     TestInvariantPublishDoesNotAllocate, TestHandlersRunOutsideBusLocks.
//  2. A channel is closed once, by the bus, after its last send; a publish
//     racing with an end never panics: TestInvariantChannelClosedOnce.
//  3. Per subscriber every published message is delivered, dropped with a
//     reason, or queued: TestInvariantAccounting.
//  4. Nothing blocks for ever: a waiting publish honours its context and the
//     subscription's end: TestInvariantBlockedPublishHonoursClose,
//     TestHandlerChainsOnOwnTopic.
//  5. Every goroutine the bus starts is waited for: TestInvariantGoroutines,
//     goleak in every test.
//  6. Close drains, then ends subscriptions in reverse order of subscription:
//     TestCloseDrainsHandlerChain, TestCloseReverseOrder.
//
// Package bus uses only the standard library. The packages next to it adapt
// it to fx, zap and Prometheus.
package bus
