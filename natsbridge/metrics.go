package natsbridge

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The connection states of fxbus_bridge_connection_state.
const (
	StateConnected    = "connected"
	StateReconnecting = "reconnecting"
	StateDisconnected = "disconnected"
	StateClosed       = "closed"
)

var connStates = []string{StateConnected, StateReconnecting, StateDisconnected, StateClosed}

// metrics are the bridge's Prometheus series. They count whether or not a
// registry was given; the consumer gauges are read from the server at scrape
// time only.
type metrics struct {
	exported, exportErrors, exportFailures, exportDuplicates *prometheus.CounterVec
	exportSkipped                                            *prometheus.CounterVec
	inFlight                                                 *prometheus.GaugeVec

	imported, acked, naked, redelivered, decodeFailures *prometheus.CounterVec
	deadLettered                                        *prometheus.CounterVec

	state      *prometheus.GaugeVec
	reconnects prometheus.Counter

	pendingDesc, ackPendingDesc *prometheus.Desc

	mu        sync.Mutex
	consumers []*consumer // for the scrape-time gauges
}

func newMetrics() *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "fxbus_bridge_" + name, Help: help}, labels)
	}
	m := &metrics{
		exported:         counter("exported_total", "Events the stream acked, by export pattern.", "export"),
		exportErrors:     counter("export_errors_total", "Publish attempts that failed (each retry counts), by export pattern.", "export"),
		exportFailures:   counter("export_failures_total", "Events that could not be exported after every retry: lost to the stream, and logged with their ID.", "export"),
		exportDuplicates: counter("export_duplicates_total", "Publishes the stream dropped as duplicates of an event it holds (a retry whose first ack was lost).", "export"),
		exportSkipped:    counter("export_skipped_total", "Imported events not exported again (no echo).", "export"),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fxbus_bridge_export_in_flight", Help: "Publishes waiting for the stream's ack, by export pattern.",
		}, []string{"export"}),
		imported:       counter("imported_total", "Messages the consumer delivered, redeliveries included.", "consumer"),
		acked:          counter("acked_total", "Messages acked: every local handler returned nil, or the message was dead-lettered.", "consumer"),
		naked:          counter("naked_total", "Messages given back to the server for a later delivery.", "consumer"),
		redelivered:    counter("redelivered_total", "Deliveries of a message delivered before.", "consumer"),
		decodeFailures: counter("decode_failures_total", "Messages that did not decode into the import's type.", "consumer"),
		deadLettered:   counter("dead_lettered_total", "Messages published to the dead-letter subject, by reason (handler, decode).", "consumer", "reason"),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fxbus_bridge_connection_state", Help: "1 for the connection's current state, 0 for the others.",
		}, []string{"state"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fxbus_bridge_reconnects_total", Help: "Times the connection to NATS was re-established.",
		}),
		pendingDesc: prometheus.NewDesc("fxbus_bridge_consumer_pending",
			"Messages in the stream that the consumer has not delivered yet: its lag, read from the server at scrape time.",
			[]string{"consumer", "stream"}, nil),
		ackPendingDesc: prometheus.NewDesc("fxbus_bridge_consumer_ack_pending",
			"Messages delivered and not acked yet, read from the server at scrape time.",
			[]string{"consumer", "stream"}, nil),
	}
	m.setState(StateDisconnected)
	return m
}

func (m *metrics) setState(state string) {
	for _, s := range connStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(s).Set(v)
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.exported, m.exportErrors, m.exportFailures, m.exportDuplicates, m.exportSkipped, m.inFlight,
		m.imported, m.acked, m.naked, m.redelivered, m.decodeFailures, m.deadLettered,
		m.state, m.reconnects,
	}
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
	ch <- m.pendingDesc
	ch <- m.ackPendingDesc
}

// Collect implements prometheus.Collector: the counters, and each consumer's
// pending counts asked of the server (a consumer that does not answer within
// a second is left out of this scrape).
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
	m.mu.Lock()
	consumers := m.consumers
	m.mu.Unlock()
	for _, c := range consumers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := c.cons.Info(ctx)
		cancel()
		if err != nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.pendingDesc, prometheus.GaugeValue, float64(info.NumPending), info.Name, info.Stream)
		ch <- prometheus.MustNewConstMetric(m.ackPendingDesc, prometheus.GaugeValue, float64(info.NumAckPending), info.Name, info.Stream)
	}
}

func (m *metrics) watch(cs []*consumer) {
	m.mu.Lock()
	m.consumers = cs
	m.mu.Unlock()
}

// register puts m on reg; nil reg registers nothing.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	if err := reg.Register(m); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return errors.New("natsbridge: the bridge's metrics are already registered: two running apps with natsbridge.Module need a prometheus.Registerer each")
		}
		return err
	}
	return nil
}
