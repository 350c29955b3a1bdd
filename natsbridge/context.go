package natsbridge

import (
	"context"

	"github.com/fxbus/fxbus/bus"
)

// importedKey marks the context of an import's publish with the subject of
// the imported message.
type importedKey struct{}

func markImported(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, importedKey{}, subject)
}

// isImported reports whether a handler's context is that of an imported
// message on topic: an export skips it, so that an event never goes back to
// the stream it came from. The events that the handlers of an imported
// message publish on other topics carry the mark too, but not for their own
// topic, and are exported as usual.
func isImported(ctx context.Context, topic string) bool {
	s, ok := ctx.Value(importedKey{}).(string)
	return ok && s == topic
}

// Imported reports whether ctx, a handler's context, is that of an event
// that an Import took from the stream, rather than one published in this
// process.
func Imported(ctx context.Context) bool {
	topic, ok := bus.TopicFrom(ctx)
	return ok && isImported(ctx, topic)
}
