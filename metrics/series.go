package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fxbus/fxbus/internal/quote"
)

// series is the collector that Metrics.Series returns: the metrics of one
// name, narrowed to the series whose labels have the values asked for.
type series struct {
	m      *Metrics
	name   string
	labels prometheus.Labels
}

// Describe implements prometheus.Collector.
func (s *series) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(s, ch) }

// Collect implements prometheus.Collector.
func (s *series) Collect(ch chan<- prometheus.Metric) {
	c := s.m.Collector().(*collector)
	want, ok := c.descs[s.name]
	if !ok {
		err := fmt.Errorf("metrics: no fxbus metric is called %s (see METRICS.md)", quote.String(s.name))
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(err), err)
		return
	}
	all := make(chan prometheus.Metric)
	go func() {
		defer close(all)
		c.Collect(all)
	}()
	for m := range all { // drained to the end, so that the goroutine ends
		if m.Desc() == want && s.match(m) {
			ch <- m
		}
	}
}

// match reports whether m has every label value asked for.
func (s *series) match(m prometheus.Metric) bool {
	var pb dto.Metric
	if m.Write(&pb) != nil {
		return false
	}
	found := 0
	for _, lp := range pb.GetLabel() {
		if v, ok := s.labels[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(s.labels)
}
