package metrics

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/observe"
)

const (
	labelTopic      = "topic"
	labelSubscriber = "subscriber"
	labelReason     = "reason"
	labelOutcome    = "outcome"
)

// reasonDeadLetterUnhandled ("dead-letter-unhandled") is the reason label of the drops counted for a
// dead-letter topic that had no subscriber when a dead letter was published
// on it. Its subscriber label is empty: nobody was there.
const reasonDeadLetterUnhandled = "dead-letter-unhandled"

// labelThen is the label of fxbus_handler_failures_total: what became of the
// message after the failed call (observe.Fate).
const labelThen = "then"

// outcomeLabels are the values of the outcome label, indexed by
// observe.Outcome.
var outcomeLabels = func() []string {
	var l []string
	for o := observe.Outcome(0); o.String() != "unknown"; o++ {
		l = append(l, o.String())
	}
	return l
}()

// thenLabels are the values of the then label, indexed by observe.Fate:
// "" for FateHandled, which is no failure.
var thenLabels = func() []string {
	l := []string{""}
	for f := observe.FateRetried; f.String() != "unknown"; f++ {
		l = append(l, f.String())
	}
	return l
}()

// collector is the one prometheus.Collector of the fxbus metrics on a
// registry. It serves every bus exported there (its members): the counters
// and gauges are read from each bus's Stats at scrape time and summed per
// label set; the handler histogram and call counters are shared vectors fed
// by the members' observers.
type collector struct {
	reg     prometheus.Registerer // the one it was registered on; nil while it is not
	buckets []float64
	factor  float64

	published   *prometheus.Desc
	unrouted    *prometheus.Desc
	delivered   *prometheus.Desc
	dropped     *prometheus.Desc
	disconnects *prometheus.Desc
	subscribers *prometheus.Desc
	depth       *prometheus.Desc
	capacity    *prometheus.Desc
	duration    *prometheus.HistogramVec
	calls       *prometheus.CounterVec
	failures    *prometheus.CounterVec
	descs       map[string]*prometheus.Desc // every metric's, by name

	reasons     []string               // label values, by index
	reasonIndex map[bus.DropReason]int // index into reasons

	mu      sync.Mutex
	members []*Metrics
	refs    map[labelPair]int // members that bound an observer with these labels
}

type labelPair struct{ topic, subscriber string }

func newCollector(cfg *config) *collector {
	cl := cfg.constLabels
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, cl)
	}
	c := &collector{
		buckets: cfg.buckets,
		factor:  cfg.factor,
		published: desc("fxbus_events_published_total",
			"Events accepted by Publish on a topic, routed to a subscriber or not.", labelTopic),
		unrouted: desc("fxbus_events_unrouted_total",
			"Events published on a topic that no subscription matched.", labelTopic),
		delivered: desc("fxbus_events_delivered_total",
			"Events a subscriber took: received from its channel, or handled by its handler whatever the outcome.",
			labelTopic, labelSubscriber),
		dropped: desc("fxbus_events_dropped_total",
			"Events not delivered to a subscriber, by reason.", labelTopic, labelSubscriber, labelReason),
		disconnects: desc("fxbus_subscriber_disconnects_total",
			"Subscriptions ended by their DisconnectAfter policy.", labelTopic, labelSubscriber),
		subscribers: desc("fxbus_subscribers",
			"Live subscriptions attached to a topic, wildcard ones included.", labelTopic),
		depth: desc("fxbus_queue_depth",
			"Events waiting in a subscriber's queue, or being handled: the in-process form of consumer lag.",
			labelTopic, labelSubscriber),
		capacity: desc("fxbus_queue_capacity",
			"Size of a subscriber's queue: when fxbus_queue_depth reaches it, the subscriber's policy blocks or drops.",
			labelTopic, labelSubscriber),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            "fxbus_handler_duration_seconds",
			Help:                            "Duration of handler calls (each attempt), in seconds.",
			ConstLabels:                     cl,
			Buckets:                         cfg.buckets,
			NativeHistogramBucketFactor:     cfg.factor,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{labelTopic, labelSubscriber}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "fxbus_handler_calls_total",
			Help:        "Handler calls (each attempt), by what the call did: ok, error, panic or timeout.",
			ConstLabels: cl,
		}, []string{labelTopic, labelSubscriber, labelOutcome}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "fxbus_handler_failures_total",
			Help:        "Failed handler calls (each attempt), by what became of the message then: retried, or where it went after its last attempt.",
			ConstLabels: cl,
		}, []string{labelTopic, labelSubscriber, labelThen}),
		reasonIndex: make(map[bus.DropReason]int),
		refs:        make(map[labelPair]int),
	}
	c.descs = describe(c)
	for i, r := range bus.DropReasons() {
		c.reasons = append(c.reasons, r.String())
		c.reasonIndex[r] = i
	}
	c.reasons = append(c.reasons, reasonDeadLetterUnhandled)
	return c
}

// Describe implements prometheus.Collector. It takes no lock: the registry
// calls it from Register and Unregister, which Close calls under c.mu.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.published, c.unrouted, c.delivered, c.dropped,
		c.disconnects, c.subscribers, c.depth, c.capacity,
	} {
		ch <- d
	}
	c.duration.Describe(ch)
	c.calls.Describe(ch)
	c.failures.Describe(ch)
}

// describe returns the descriptions of c's metrics by name.
func describe(c *collector) map[string]*prometheus.Desc {
	ch := make(chan *prometheus.Desc, 16)
	c.Describe(ch)
	close(ch)
	names := []string{
		"fxbus_events_published_total", "fxbus_events_unrouted_total", "fxbus_events_delivered_total",
		"fxbus_events_dropped_total", "fxbus_subscriber_disconnects_total", "fxbus_subscribers",
		"fxbus_queue_depth", "fxbus_queue_capacity", "fxbus_handler_duration_seconds",
		"fxbus_handler_calls_total", "fxbus_handler_failures_total",
	}
	descs := make(map[string]*prometheus.Desc, len(names))
	for _, n := range names { // Describe sends them in this order
		descs[n] = <-ch
	}
	return descs
}

type topicAgg struct {
	published, unrouted uint64
	subscribers         int
	deadLetter          bool
	unhandled           uint64 // unrouted, on buses that see the topic as a dead-letter topic
}

type subAgg struct {
	delivered, queued, disconnects uint64
	capacity                       int
	dropped                        []uint64 // by reason index
}

// Collect implements prometheus.Collector: it reads every member's Stats.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	members := slices.Clone(c.members)
	c.mu.Unlock()

	topics, subs := c.aggregate(members)
	for name, t := range topics {
		ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(t.published), name)
		ch <- prometheus.MustNewConstMetric(c.unrouted, prometheus.CounterValue, float64(t.unrouted), name)
		ch <- prometheus.MustNewConstMetric(c.subscribers, prometheus.GaugeValue, float64(t.subscribers), name)
		if t.deadLetter {
			ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(t.unhandled),
				name, "", reasonDeadLetterUnhandled)
		}
	}
	for k, s := range subs {
		ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(s.delivered), k.topic, k.subscriber)
		for i, n := range s.dropped {
			ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(n), k.topic, k.subscriber, c.reasons[i])
		}
		ch <- prometheus.MustNewConstMetric(c.disconnects, prometheus.CounterValue, float64(s.disconnects), k.topic, k.subscriber)
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(s.queued), k.topic, k.subscriber)
		ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, float64(s.capacity), k.topic, k.subscriber)
	}
	c.duration.Collect(ch)
	c.calls.Collect(ch)
	c.failures.Collect(ch)
}

// aggregate sums the members' Stats per topic and per subscriber.
func (c *collector) aggregate(members []*Metrics) (map[string]*topicAgg, map[labelPair]*subAgg) {
	topics := make(map[string]*topicAgg)
	subs := make(map[labelPair]*subAgg)
	nReasons := len(c.reasons) - 1 // the bus's own; dead-letter-unhandled is per topic
	for _, m := range members {
		st := m.b.Stats()
		for _, t := range st.Topics {
			a := topics[t.Name]
			if a == nil {
				a = &topicAgg{}
				topics[t.Name] = a
			}
			a.published += t.Published
			a.unrouted += t.Unrouted
			a.subscribers += t.Subscribers
			if m.deadLetter(t.Name) {
				a.deadLetter = true
				a.unhandled += t.Unrouted
			}
		}
		for _, s := range st.Subscriptions {
			k := labelPair{s.Pattern, s.Name}
			a := subs[k]
			if a == nil {
				a = &subAgg{dropped: make([]uint64, nReasons)}
				subs[k] = a
			}
			a.delivered += s.Delivered
			a.queued += s.Queued
			a.disconnects += s.Disconnects
			a.capacity += s.Buffer
			for r, n := range s.Dropped {
				if i, ok := c.reasonIndex[r]; ok {
					a.dropped[i] += n
				}
			}
		}
	}
	return topics, subs
}

// unbind forgets the labels p of a member that closes; the handler series
// go when no member uses them any more. The caller holds c.mu.
func (c *collector) unbind(p labelPair) {
	c.refs[p]--
	if c.refs[p] > 0 {
		return
	}
	delete(c.refs, p)
	c.duration.DeleteLabelValues(p.topic, p.subscriber)
	for _, o := range outcomeLabels {
		c.calls.DeleteLabelValues(p.topic, p.subscriber, o)
	}
	for _, t := range thenLabels[1:] {
		c.failures.DeleteLabelValues(p.topic, p.subscriber, t)
	}
}
