package metrics

// This file's exported signatures are the contract that fxbus.Module wires.

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/observe"
)

// Metrics exports one bus's stats and handler durations to Prometheus.
type Metrics struct {
	b   *bus.Bus
	cfg *config
	// deadLetters are the topics its observed handlers sent dead letters
	// to, as observe.Call.DeadLetterTopic reports them.
	deadLetters sync.Map // topic name -> struct{}

	mu         sync.Mutex
	c          *collector // its own, or the one it joined on a registry
	registered bool
	closed     bool
	bound      map[labelPair]struct{} // labels of the observers bound so far
}

// New exports b's metrics on reg and returns the handle that stops it.
//
// A second bus on the same registry (two apps in one test binary) shares
// the collector registered by the first: series with the same labels are
// summed, unless ConstLabels gives each bus its own values. The histogram
// settings (Buckets, NativeHistogram) must then match.
//
// With a nil reg nothing is registered: Collector still serves the metrics
// (for prometheus/testutil), and Register registers them later.
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
	m := &Metrics{b: b, cfg: cfg, bound: make(map[labelPair]struct{})}
	m.c = newCollector(cfg)
	m.c.members = []*Metrics{m}
	if reg == nil {
		return m, nil
	}
	if err := m.Register(reg); err != nil {
		return nil, err
	}
	return m, nil
}

// Register registers the metrics of a Metrics made by New with a nil
// Registerer on reg, as New does. Call it once, before Observer's
// observers are bound: they feed the collector that Register may swap for
// the one already on reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	if reg == nil {
		return errors.New("metrics: Register(nil): pass the registry to export on")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.closed:
		return errors.New("metrics: Register after Close: make a new Metrics")
	case m.registered:
		return errors.New("metrics: Register called twice: a Metrics is exported on one registry")
	case len(m.bound) > 0:
		return errors.New("metrics: Register after an observer was bound: register first")
	}
	// New, Register and Close take regMu, so that a collector found
	// registered is never one that Close is unregistering.
	regMu.Lock()
	defer regMu.Unlock()
	m.c.reg = reg
	err := reg.Register(m.c)
	if err == nil {
		m.registered = true
		return nil
	}
	m.c.reg = nil
	var are prometheus.AlreadyRegisteredError
	if !errors.As(err, &are) {
		return fmt.Errorf("metrics: register the fxbus collector: %w", err)
	}
	ec, ok := are.ExistingCollector.(*collector)
	if !ok {
		return fmt.Errorf("metrics: another collector (%T) already exports the fxbus metrics on this registry", are.ExistingCollector)
	}
	if err := ec.join(m, m.cfg); err != nil {
		return err
	}
	m.c, m.registered = ec, true
	return nil
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
// and the handler counters (outcomes and failures). Without fx, pass it as
// lifecycle.Options.Observer; fxbus.Module does that itself.
func (m *Metrics) Observer() observe.Observer {
	return observer{m}
}

// Collector returns the fxbus metrics as a prometheus.Collector, for
// prometheus/testutil's CollectAndCount, CollectAndLint and
// CollectAndCompare: the collector registered on the Metrics' registry
// (shared with the other buses exported there), or its own one when it is
// not registered. For testutil.ToFloat64, which wants one series, use
// Series.
func (m *Metrics) Collector() prometheus.Collector {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.c
}

// Series returns a collector of the series of the fxbus metric called name
// whose labels have the values in labels, for testutil.ToFloat64:
//
//	testutil.ToFloat64(m.Series("fxbus_handler_calls_total",
//		prometheus.Labels{"topic": "orders", "subscriber": "billing", "outcome": "panic"}))
//
// Labels left out match any value (ToFloat64 then panics if that leaves
// more than one series). An unknown name yields one invalid metric whose
// error says so.
func (m *Metrics) Series(name string, labels prometheus.Labels) prometheus.Collector {
	return &series{m: m, name: name, labels: labels}
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
	if m.registered {
		regMu.Lock()
		defer regMu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.members, m); i >= 0 {
		c.members = slices.Delete(c.members, i, i+1)
	}
	for p := range bound {
		c.unbind(p)
	}
	if m.registered && len(c.members) == 0 {
		// Under c.mu: the registry calls Describe, which takes no lock. A
		// collector the registry does not give back stays usable, empty.
		c.reg.Unregister(c)
	}
}

// deadLetter reports whether a handler observed by m sent a dead letter to
// topic.
func (m *Metrics) deadLetter(topic string) bool {
	_, ok := m.deadLetters.Load(topic)
	return ok
}
