package bus

// Message is what a subscriber receives: the published value, the correlation
// ID that travelled with it, and the name of the topic it was published on
// (useful with wildcard subscriptions).
type Message[T any] struct {
	Value         T
	CorrelationID CorrelationID
	Topic         string
}
