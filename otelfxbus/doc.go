// Package otelfxbus carries OpenTelemetry traces through the fxbus bus and
// across natsbridge: each publish through a fxbus.Publisher is a producer
// span, each handler attempt a consumer span that is its child, and a
// handler's own publishes continue the trace, so a chain of events is one
// trace. Reach for it when the app already exports traces; for counts,
// rates, drops and queue depths use the bus's Prometheus metrics (package
// metrics) instead, and to follow one message through the logs without a
// tracing backend, the correlation ID (bus.CorrelationIDFrom) is enough.
//
// Add Module beside fxbus.Module:
//
//	fx.New(
//		fxbus.Module,
//		otelfxbus.Module,
//		// The app's TracerProvider, an SDK one with an exporter (optional:
//		// the global one otherwise).
//		fx.Supply(fx.Annotate(tp, fx.As(new(trace.TracerProvider)))),
//		// The propagator of the trace over natsbridge (optional: the global
//		// one otherwise).
//		fx.Supply(fx.Annotate(propagation.TraceContext{}, fx.As(new(propagation.TextMapPropagator)))),
//		fxbus.Topic[Order]("orders.placed"),
//		handlers.Provide(NewBilling),
//	)
//
// No other package of fxbus imports this one: an app without it compiles
// no OpenTelemetry code, and its publish and handler paths are the plain
// bus's.
//
// # Provider and propagator
//
// Module takes a trace.TracerProvider and a propagation.TextMapPropagator
// from the fx graph when the app provides them, and uses the global ones
// (otel.GetTracerProvider, otel.GetTextMapPropagator) for the one it does
// not. The global ones are looked up as messages pass, so a provider or
// propagator that the program sets with otel.SetTracerProvider or
// otel.SetTextMapPropagator after the app was built is used from then on.
// Until the program sets them, the global provider makes no spans (the
// hooks then do nothing and allocate nothing) and the global propagator
// writes no header: an app that carries traces over natsbridge sets one or
// provides one, such as propagation.TraceContext. With a trace/noop
// TracerProvider the hooks are not installed at all.
//
// # Spans
//
// Names and attributes follow the OpenTelemetry messaging semantic
// conventions, with "fxbus" as messaging.system:
//
//   - A Publish or PublishSync through a fxbus.Publisher (fxbus.Topic,
//     fxbus.NamedTopic) is a span "send <topic>" of kind producer, a child
//     of the span in the publish's context or the root of a new trace, with
//     messaging.destination.name (the topic), messaging.operation.type and
//     messaging.operation.name "send", and
//     messaging.message.conversation_id (the correlation ID). It ends when
//     Publish returns, with the publish's error, if any. A publish straight
//     through a *bus.Bus or a bus.Topic makes no send span.
//   - Each attempt of each handler that fxbus.Module subscribes is a span
//     "process <topic or pattern>" (the subscription's, so a wildcard
//     subscription has one span name) of kind consumer, a child of the span
//     the message was published in: the send span, or the span in the
//     context of a publish without one. It carries
//     messaging.operation.type and messaging.operation.name "process",
//     messaging.destination.subscription.name (the subscriber's name),
//     messaging.destination.name (the message's topic),
//     messaging.destination.template (the pattern, for a wildcard
//     subscription), messaging.message.conversation_id and
//     messaging.fxbus.attempt (AttemptKey: 1 for the first call, 2 for the
//     first retry; over natsbridge the broker's delivery count). A retry is
//     a span of its own, not an event. A failed attempt has status Error,
//     its error as an exception event and error.type (the error's Go type,
//     as semconv.ErrorType names it); a panic has error.type "panic" and
//     its stack in the event's exception.stacktrace. A message that a
//     subscriber's policy dropped reaches no handler and has no process
//     span; channel subscriptions are not traced.
//
// A handler publishes with its own context, which holds its process span,
// so the next send span is that span's child: A -> B -> C is one trace.
//
// # Correlation ID and trace ID
//
// When a publish through a fxbus.Publisher has no correlation ID in its
// context, it takes the trace ID of its send span as correlation ID: the
// trace of the span it was published in, or, published outside any span,
// the new trace its send span starts. Sampled or not, the ID is the trace
// ID. Both are 16 bytes printed as 32 lowercase hexadecimal digits, so the
// correlation_id of a log line is the ID to look the trace up by, and the
// message's handlers and everything they publish carry it on. A publish
// whose context has a correlation ID (bus.WithCorrelationID, or a
// handler's context) keeps it, and its spans carry it as
// messaging.message.conversation_id; a publish straight through the bus
// gets the bus's own ID, unrelated to the trace.
//
// # Across natsbridge
//
// Module provides a *Headers, the natsbridge.HeaderPropagator that carries
// the trace in the NATS headers of each exported message; give it to the
// bridge on both sides:
//
//	fx.Provide(func(h *otelfxbus.Headers) natsbridge.HeaderPropagator { return h }),
//
// An export is a handler subscription, so it runs in a process span, child
// of the send span; the propagator writes that span's context into the
// message: with propagation.TraceContext, the W3C traceparent header, and
// tracestate when the trace has one. The header names are the
// propagator's, lowercase, as NATS headers are case-sensitive. The import
// extracts that remote span and publishes the message on the local bus
// inside it (a publish straight through the bus: no send span), so the
// importing app's handler spans are children of the exporting app's export
// span, the span in which the message was published to NATS: the same
// trace, one tree across the processes.
//
// Parent rather than link: the messaging conventions use links for the
// general case, where one span may handle a batch of messages and so have
// several creation contexts, and let a span that processes a single message
// take the message's creation context as its parent. Every handler call
// processes one message, so the import makes the remote span the parent,
// and adds no link besides. As a child, the remote handling shows in the
// trace of the request that caused it, where a reader looks for it, not as
// a separate trace to reach by a link; and the correlation ID that the
// bridge carries in Fxbus-Correlation-Id, the trace ID when it was derived
// from it, names the same trace on both sides. The price: a redelivery (one
// more span, messaging.fxbus.attempt the delivery count) or a replay hours
// later adds spans to the old trace.
//
// # Cost
//
// Off is free: without this package, with a no-op provider, or with the
// global provider while it is unset, a publish allocates what it does on
// the plain bus (TestOffIsFree). On, each message costs two spans, a send
// and a process per handler; BenchmarkPublish measures plain, off, no-op,
// unsampled and recording in one run, and BENCHMARKS.md ("Tracing") has
// the figures.
//
// # Without fx
//
// New makes the hooks from a provider and a propagator. Give the Handlers
// of its Instrumentation to lifecycle.Options.Interceptor for the handler
// spans; send spans are made by the Publishers of fxbus.Topic, in fx apps
// only.
package otelfxbus
