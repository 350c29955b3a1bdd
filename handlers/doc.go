// Package handlers runs typed message handlers on a bus.Bus so that they
// survive failure, and carries them, typed, through one fx value group.
//
// A handler handles one message type T: a function func(ctx, T) error
// (RegisterFunc), or any value with a method Handle(ctx, T) error
// (Register), typically a struct whose fields are its dependencies.
//
//	reg := handlers.Register[Order]("orders.created", &Audit{db: db},
//		handlers.Retry(5), handlers.Timeout(2*time.Second), handlers.Concurrency(4))
//
// A Registration is a plain, non-generic value: handlers of many message types
// travel through the one fx value group named Group. Provide, Supply and
// ProvideHandler put them there; the app's start subscribes each with
// Registration.Subscribe, after sorting them with Sort.
//
// # Running a handler
//
// The bus runs handler subscriptions on its worker pool (see bus.Handle): one
// call at a time in publish order by default, or up to Concurrency at once.
// The context a call gets carries the message's correlation ID
// (bus.CorrelationIDFrom), its topic (bus.TopicFrom) and the attempt number
// (AttemptFrom); the handler's own publishes with that context carry the
// same correlation ID. Handlers may publish, also to their own topic.
//
// Each call goes through these layers, outermost first:
//
//  1. attempts: observes each call (Env.Observer), retries failed calls with
//     an exponential backoff with jitter (Retry), and publishes the message
//     as a DeadLetter when it gives up;
//  2. recover: turns a panic into a *bus.PanicError that holds the stack;
//  3. timeout: gives the call a deadline (Timeout);
//  4. the user's middleware (WithMiddleware), the first given outermost;
//  5. the handler.
//
// Layers 2 to 5 run again for each attempt, so a retry gets a fresh timeout
// and a panic can be retried like any error. All of them are Middleware on
// the same mechanism.
//
// # Failure
//
// A call fails when it returns an error, panics or times out. With Retry(n)
// the message is tried up to n times in all; RetryIf chooses which errors
// are worth a retry, and an error wrapped with Permanent stops at once. The
// wait between attempts honours the handler's context, which ends only when
// the bus gives up draining at shutdown, so retries never outlive the bus.
// After the last attempt the message is published, with the handler's
// context, as a DeadLetter[T] to its topic name plus DeadLetterSuffix (or to
// DeadLetterTopic); when nothing subscribes there, the bus counts it as
// Unrouted on that topic. The handler's final error still goes back to the
// bus: it counts it as Failed, and PublishSync returns it.
//
// # Observation
//
// With Env.Observer set, Observer.Bind is called once per subscription and
// CallObserver.Observe once per call, with the call's duration, outcome,
// error and attempt number: OutcomeRetried for a failed call that will be
// tried again, OutcomeDeadLettered for the last call of a message that went
// to the dead-letter topic, and otherwise OutcomeOK, OutcomeError,
// OutcomePanic or OutcomeTimeout; OutcomeOf tells a panic or a timeout from
// Call.Err whatever the outcome. Without an observer a call reads no clock.
//
// # Cost
//
// A call that returns nil, with no Timeout, allocates nothing in this
// package: the layers are built once per subscription, and the bus shares
// one context per published message between its handler subscriptions.
//
// # Type safety
//
// A topic has one message type. Subscribing a Registration to a topic name
// declared with another type fails at start with an error that names the
// topic, both types and where the registration was made; so does a second
// handler with the same name on one topic.
package handlers
