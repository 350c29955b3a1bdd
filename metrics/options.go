package metrics

import (
	"fmt"
	"maps"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBuckets are the classic buckets of fxbus_handler_duration_seconds,
// in seconds: from 100µs, where an in-memory handler lands, to 10s, beyond
// which a handler should have a timeout.
var DefaultBuckets = []float64{
	0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05,
	0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// defaultNativeHistogramBucketFactor is the growth factor between two
// buckets of the native histogram that fxbus_handler_duration_seconds also
// carries (at most 10% error on a quantile).
const defaultNativeHistogramBucketFactor = 1.1

// Option configures New.
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	buckets     []float64
	factor      float64
	constLabels prometheus.Labels
	errs        []string
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		buckets: DefaultBuckets,
		factor:  defaultNativeHistogramBucketFactor,
	}
	for _, o := range opts {
		if o == nil {
			c.errs = append(c.errs, "nil Option")
			continue
		}
		o.apply(c)
	}
	if len(c.errs) > 0 {
		return nil, fmt.Errorf("metrics: %s", strings.Join(c.errs, "; "))
	}
	return c, nil
}

// Buckets sets the classic buckets of the handler duration histogram, in
// seconds, in increasing order. The default is DefaultBuckets.
func Buckets(b ...float64) Option {
	return optionFunc(func(c *config) {
		if len(b) == 0 {
			c.errs = append(c.errs, "Buckets: no buckets")
			return
		}
		for i := 1; i < len(b); i++ {
			if b[i] <= b[i-1] {
				c.errs = append(c.errs, fmt.Sprintf("Buckets %v: not in increasing order", b))
				return
			}
		}
		c.buckets = append([]float64(nil), b...)
	})
}

// NativeHistogram sets the bucket factor of the native histogram that the
// handler duration histogram carries beside its classic buckets (see
// prometheus.HistogramOpts.NativeHistogramBucketFactor). A factor of 1 or
// less turns native histograms off. The default is 1.1 (at most 10% error
// on a quantile).
func NativeHistogram(factor float64) Option {
	return optionFunc(func(c *config) {
		if factor <= 1 {
			factor = 0
		}
		c.factor = factor
	})
}

// ConstLabels adds labels with fixed values to every fxbus metric. Buses
// registered on one registry with different values are exported side by
// side; buses with the same values (or none) are summed.
func ConstLabels(l prometheus.Labels) Option {
	return optionFunc(func(c *config) {
		for k := range l {
			switch k {
			case labelTopic, labelSubscriber, labelReason, labelOutcome, labelThen:
				c.errs = append(c.errs, fmt.Sprintf("ConstLabels: %q is a label of the fxbus metrics", k))
				return
			}
		}
		c.constLabels = maps.Clone(l)
	})
}
