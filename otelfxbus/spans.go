package otelfxbus

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/internal/observe"
)

// AttemptKey is the attribute of a handler span that numbers its attempt:
// 1 for the first call, 2 for the first retry. Each attempt is a span of
// its own. Over natsbridge, where the broker redelivers, it is the
// delivery's number.
const AttemptKey = attribute.Key("messaging.fxbus.attempt")

// publishTracer makes the producer span of each publish.
type publishTracer struct{ t *Tracing }

// Bind returns the interceptor of the Publisher of topic.
func (p publishTracer) Bind(topic string) observe.CallInterceptor {
	return &publishSpan{t: p.t, name: "send " + topic, opts: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String(System),
			semconv.MessagingDestinationName(topic),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("send"),
		),
	}}
}

type publishSpan struct {
	t    *Tracing
	name string
	opts []trace.SpanStartOption // made once: kind and attributes
}

// Begin starts the publish's span, a child of ctx's span (or the root of a
// new trace), and gives the publish the trace ID as its correlation ID when
// ctx carries none.
func (p *publishSpan) Begin(ctx context.Context) (context.Context, bool) {
	if !p.t.on() {
		return ctx, false
	}
	ctx, span := p.t.tracer.Start(ctx, p.name, p.opts...)
	id, ok := bus.CorrelationIDFrom(ctx)
	if !ok {
		if sc := span.SpanContext(); sc.HasTraceID() {
			id = bus.CorrelationID(sc.TraceID())
			ctx = bus.WithCorrelationID(ctx, id)
		}
	}
	if !id.IsZero() && span.IsRecording() {
		span.SetAttributes(semconv.MessagingMessageConversationID(id.String()))
	}
	return ctx, true
}

// End ends the publish's span with its error.
func (p *publishSpan) End(ctx context.Context, err error) { end(trace.SpanFromContext(ctx), err) }

// handlerTracer makes the consumer span of each handler attempt.
type handlerTracer struct{ t *Tracing }

// Bind returns the interceptor of the subscriber's calls on topic (a name or
// a pattern).
func (h handlerTracer) Bind(topic, subscriber string) observe.CallInterceptor {
	return &handlerSpan{t: h.t, name: "process " + topic, pattern: topic, opts: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String(System),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingDestinationSubscriptionName(subscriber),
		),
	}}
}

type handlerSpan struct {
	t       *Tracing
	name    string
	pattern string
	opts    []trace.SpanStartOption // made once: kind and attributes
}

// Begin starts the attempt's span, a child of the span the message was
// published in (the publish's producer span, or the publisher's own span,
// or the remote span a bridge's import extracted).
func (h *handlerSpan) Begin(ctx context.Context) (context.Context, bool) {
	if !h.t.on() {
		return ctx, false
	}
	ctx, span := h.t.tracer.Start(ctx, h.name, h.opts...)
	if !span.IsRecording() {
		return ctx, true
	}
	topic, _ := bus.TopicFrom(ctx)
	attrs := make([]attribute.KeyValue, 0, 4)
	attrs = append(attrs, semconv.MessagingDestinationName(topic), AttemptKey.Int(max(1, handlers.AttemptFrom(ctx))))
	if topic != h.pattern {
		attrs = append(attrs, semconv.MessagingDestinationTemplate(h.pattern))
	}
	if id, ok := bus.CorrelationIDFrom(ctx); ok {
		attrs = append(attrs, semconv.MessagingMessageConversationID(id.String()))
	}
	span.SetAttributes(attrs...)
	return ctx, true
}

// End ends the attempt's span with its error.
func (h *handlerSpan) End(ctx context.Context, err error) { end(trace.SpanFromContext(ctx), err) }

// end records err, if any, on span (a panic with its stack) and ends it.
func end(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		var pe *bus.PanicError
		if errors.As(err, &pe) {
			span.RecordError(err, trace.WithAttributes(semconv.ExceptionStacktrace(string(pe.Stack))))
			span.SetAttributes(semconv.ErrorTypeKey.String("panic"))
		} else {
			span.RecordError(err)
			span.SetAttributes(semconv.ErrorType(err))
		}
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
