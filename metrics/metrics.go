package metrics

// This file's exported signatures are the contract that fxbus.Module wires.
// The bodies are placeholders until the metrics package lands.

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// Metrics exports one bus's stats and handler durations to Prometheus.
type Metrics struct {
	b *bus.Bus
}

// New registers the collector for b on reg. A second bus on the same
// registry (two apps in one test binary) shares the collector.
func New(reg prometheus.Registerer, b *bus.Bus) (*Metrics, error) {
	return &Metrics{b: b}, nil
}

// Observer returns the handler observer that feeds the duration histogram
// and the outcome counters.
func (m *Metrics) Observer() handlers.Observer { return nil }

// Close stops exporting the bus's metrics.
func (m *Metrics) Close() {}
