package metrics

import (
	"github.com/fxbus/fxbus/internal/observe"
	"github.com/prometheus/client_golang/prometheus"
)

// observer is the observe.Observer of a Metrics.
type observer struct{ m *Metrics }

// Bind resolves the subscription's series once, so that Observe does no
// label lookup. For a pattern subscription, topic is its pattern.
func (o observer) Bind(topic, subscriber string) observe.CallObserver {
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
		m:        m,
		duration: c.duration.WithLabelValues(topic, subscriber),
		calls:    make([]prometheus.Counter, len(outcomeLabels)),
		failures: make([]prometheus.Counter, len(thenLabels)),
	}
	for i, o := range outcomeLabels {
		co.calls[i] = c.calls.WithLabelValues(topic, subscriber, o)
	}
	for i, t := range thenLabels[1:] {
		co.failures[i+1] = c.failures.WithLabelValues(topic, subscriber, t)
	}
	return co
}

// callObserver feeds one subscription's series.
type callObserver struct {
	m        *Metrics
	duration prometheus.Observer
	calls    []prometheus.Counter // by observe.Outcome
	failures []prometheus.Counter // by observe.Fate; nil for FateHandled
}

// Observe records one call: its duration, what it did (a panic counts as a
// panic whatever the message's fate) and, for a failed call, what became of
// the message. It does not allocate.
func (o *callObserver) Observe(c observe.Call) {
	o.duration.Observe(c.Duration.Seconds())
	if int(c.Outcome) < len(o.calls) {
		o.calls[c.Outcome].Inc()
	}
	if int(c.Fate) < len(o.failures) && o.failures[c.Fate] != nil {
		o.failures[c.Fate].Inc()
	}
	if c.DeadLetterTopic != "" && !o.m.deadLetter(c.DeadLetterTopic) {
		o.m.deadLetters.Store(c.DeadLetterTopic, struct{}{})
	}
}

type nopObserver struct{}

func (nopObserver) Observe(observe.Call) {}
