package metrics

// This file's exported signatures are the contract that fxbus.Module wires.

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// Metrics exports one bus's stats and handler durations to Prometheus.
type Metrics struct {
	b          *bus.Bus
	c          *collector // nil when New had no Registerer
	deadLetter func(topic string) bool

	mu     sync.Mutex
	closed bool
	bound  map[labelPair]struct{} // labels of the observers bound so far
}

// New exports b's metrics on reg and returns the handle that stops it.
//
// A second bus on the same registry (two apps in one test binary) shares
// the collector registered by the first: series with the same labels are
// summed, unless ConstLabels gives each bus its own values. The histogram
// settings (Buckets, NativeHistogram) must then match. With a nil reg,
// nothing is exported: Observer returns nil and Close does nothing.
//
// New never uses prometheus.DefaultRegisterer unless it is passed as reg.
func New(reg prometheus.Registerer, b *bus.Bus, opts ...Option) (*Metrics, error) {
	if b == nil {
		return nil, errors.New("metrics: nil *bus.Bus")
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	m := &Metrics{b: b, deadLetter: cfg.deadLetter, bound: make(map[labelPair]struct{})}
	if reg == nil {
		return m, nil
	}
	// New and Close take regMu, so that a collector found registered is
	// never one that Close is unregistering.
	regMu.Lock()
	defer regMu.Unlock()
	c := newCollector(reg, cfg)
	c.members = []*Metrics{m}
	err = reg.Register(c)
	if err == nil {
		m.c = c
		return m, nil
	}
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		return nil, fmt.Errorf("metrics: register the fxbus collector: %w", err)
	}
	ec, ok := are.ExistingCollector.(*collector)
	if !ok {
		return nil, fmt.Errorf("metrics: another collector (%T) already exports the fxbus metrics on this registry", are.ExistingCollector)
	}
	if err := ec.join(m, cfg); err != nil {
		return nil, err
	}
	m.c = ec
	return m, nil
}

// regMu serialises registering and unregistering collectors, which happen
// once per bus.
var regMu sync.Mutex

// join adds m to an existing collector, if its settings match.
func (c *collector) join(m *Metrics, cfg *config) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Equal(c.buckets, cfg.buckets) || c.factor != cfg.factor {
		return fmt.Errorf("metrics: the fxbus metrics on this registry have histogram buckets %v and native factor %v, not %v and %v: give both buses the same Buckets and NativeHistogram options, or different ConstLabels",
			c.buckets, c.factor, cfg.buckets, cfg.factor)
	}
	for _, o := range c.members {
		if o.b == m.b {
			return errors.New("metrics: this bus is already exported on this registry: call New once per bus")
		}
	}
	c.members = append(c.members, m)
	return nil
}

// Observer returns the handler observer that feeds the duration histogram
// and the outcome counters. It is nil when New had no Registerer.
func (m *Metrics) Observer() handlers.Observer {
	if m.c == nil {
		return nil
	}
	return observer{m}
}

// Close stops exporting the bus's metrics: its counters and gauges leave
// the registry's output (sums over several buses drop by its share, which
// Prometheus's rate() reads as a counter reset), and so do the handler
// series that no other bus on the registry shares. When the last bus of a
// registry closes, the collector is unregistered. Observers bound after
// Close do nothing. Close is idempotent.
func (m *Metrics) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	bound := m.bound
	m.bound = nil
	m.mu.Unlock()

	c := m.c
	if c == nil {
		return
	}
	regMu.Lock()
	defer regMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.members, m); i >= 0 {
		c.members = slices.Delete(c.members, i, i+1)
	}
	for p := range bound {
		c.unbind(p)
	}
	if len(c.members) == 0 {
		// Under c.mu: the registry calls Describe, which takes no lock. A
		// collector the registry does not give back stays usable, empty.
		c.reg.Unregister(c)
	}
}
