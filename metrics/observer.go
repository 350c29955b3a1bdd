package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fxbus/fxbus/handlers"
)

// observer is the handlers.Observer of a Metrics.
type observer struct{ m *Metrics }

// Bind resolves the subscription's series once, so that Observe does no
// label lookup. For a pattern subscription, topic is its pattern.
func (o observer) Bind(topic, subscriber string) handlers.CallObserver {
	m := o.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nopObserver{}
	}
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	p := labelPair{topic, subscriber}
	if _, ok := m.bound[p]; !ok {
		m.bound[p] = struct{}{}
		c.refs[p]++
	}
	co := &callObserver{
		duration: c.duration.WithLabelValues(topic, subscriber),
		calls:    make([]prometheus.Counter, len(outcomeLabels)),
	}
	for i, o := range outcomeLabels {
		co.calls[i] = c.calls.WithLabelValues(topic, subscriber, o)
	}
	return co
}

// callObserver feeds one subscription's series.
type callObserver struct {
	duration prometheus.Observer
	calls    []prometheus.Counter // by handlers.Outcome
}

// Observe records one call: its duration and its outcome. It does not
// allocate.
func (o *callObserver) Observe(c handlers.Call) {
	o.duration.Observe(c.Duration.Seconds())
	if int(c.Outcome) < len(o.calls) {
		o.calls[c.Outcome].Inc()
	}
}

type nopObserver struct{}

func (nopObserver) Observe(handlers.Call) {}
