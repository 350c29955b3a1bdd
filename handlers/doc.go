// Package handlers runs typed message handlers on a bus.Bus so that they
// survive failure (retries, timeouts, dead letters, middleware), and carries
// them, typed, through one fx value group. For a plain function per message
// without those layers, reach for bus.Handle; what runs the registrations is
// fxbus.Module (or, without fx, a lifecycle.Runner).
//
// A handler handles one message type T: a function func(ctx, T) error
// (RegisterFunc), or any value with a method Handle(ctx, T) error
// (Register), typically a struct whose fields are its dependencies.
//
//	reg := handlers.Register[Order]("orders.created", &Audit{db: db},
//		handlers.Retry(5), handlers.Timeout(2*time.Second), bus.Concurrency(4))
//
// A Registration is a plain, non-generic value: handlers of many message types
// travel through one fx value group. Provide, Supply and
// ProvideHandler put them there; the app's start subscribes each with
// Registration.Subscribe, in order of topic and name.
//
// # Running a handler
//
// The bus runs handler subscriptions on its worker pool (see bus.Handle): one
// call at a time in publish order by default, or up to bus.Concurrency at once.
// The context a call gets carries the message's correlation ID
// (bus.CorrelationIDFrom), its topic (bus.TopicFrom) and the attempt number
// (AttemptFrom); the handler's own publishes with that context carry the
// same correlation ID. Handlers may publish, also to their own topic.
//
// Each call goes through these layers, outermost first:
//
//  1. attempts: reports each call to the app's observers (logs and
//     metrics), retries failed calls with an exponential backoff with
//     jitter (Retry), and publishes the message as a DeadLetter when it
//     gives up;
//     (between 1 and 2, with package otelfxbus, a trace span per attempt)
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
// DeadLetterTopic). The handler's final error still goes back to the bus:
// it counts it as Failed, and PublishSync returns it.
//
// # Dead letters nobody reads
//
// Dead letters are on by default, and a dead letter is only kept if
// something subscribes to its topic: subscribe a handler there (for
// example to store it for a person to follow up), or use NoDeadLetters to
// drop such messages on purpose. When nothing subscribes, the message is
// lost, and said so three times: the handler's error says that nobody
// will read it (and matches ErrDeadLetterUnread), fxbus.Module logs it at error level with the
// topic, handler, correlation ID and error, rate-limited, and counts it in
// fxbus_handler_failures_total{then="dead-letter-unread"}, and the bus
// counts the publish as Unrouted on the dead-letter topic.
//
// # Observation
//
// The app that subscribes a Registration (a lifecycle.Runner, which
// fxbus.Module runs) observes every call: its duration, what the call did
// (ok, error, panic or timeout: a panic is a panic whatever happens next),
// its attempt number, and what became of the message (handled, retried, or
// where it went after its last attempt). lifecycle's Log logs the failures,
// package metrics counts them, package otelfxbus traces each attempt.
// Without an observer a call reads no clock.
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
