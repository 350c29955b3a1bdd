package otelfxbus

import (
	"context"
)

// Headers carries the trace over natsbridge: it is a
// natsbridge.HeaderPropagator (Module provides it; the app hands it to the
// bridge). On export it writes the propagator's headers (W3C traceparent
// and tracestate with propagation.TraceContext) of the exporting handler's
// span; on import it reads them, and the imported message's handler spans
// are children of that remote span: the importing side's spans belong to
// the exporting side's trace. The header names are the propagator's, as
// they are (NATS headers are case-sensitive).
type Headers struct{ t *Tracing }

// Inject writes the trace of ctx into h.
func (p *Headers) Inject(ctx context.Context, h map[string][]string) {
	p.t.propagator().Inject(ctx, carrier(h))
}

// Extract returns ctx with the remote trace that h carries, if any.
func (p *Headers) Extract(ctx context.Context, h map[string][]string) context.Context {
	return p.t.propagator().Extract(ctx, carrier(h))
}

// carrier is a propagation.TextMapCarrier over NATS headers, with exact
// (case-sensitive) names.
type carrier map[string][]string

// Get returns the first value of key.
func (c carrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set sets key to value.
func (c carrier) Set(key, value string) { c[key] = []string{value} }

// Keys returns the header names.
func (c carrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
