package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/fxbus/fxbus/bus"
)

// sample is one scraped series.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

func (s sample) String() string {
	keys := slices.Sorted(maps.Keys(s.labels))
	var l []string
	for _, k := range keys {
		l = append(l, fmt.Sprintf("%s=%q", k, s.labels[k]))
	}
	return fmt.Sprintf("%s{%s} %v", s.name, strings.Join(l, ","), s.value)
}

// scrape gathers g's counters and gauges.
func scrape(t *testing.T, g prometheus.Gatherer) []sample {
	t.Helper()
	families, err := g.Gather()
	check(t, err)
	var out []sample
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			s := sample{name: mf.GetName(), labels: map[string]string{}}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			default:
				continue
			}
			out = append(out, s)
		}
	}
	return out
}

// sum adds the values of the series called name whose labels include match.
func sum(samples []sample, name string, match map[string]string) float64 {
	var v float64
	for _, s := range samples {
		if s.name != name {
			continue
		}
		ok := true
		for k, want := range match {
			if s.labels[k] != want {
				ok = false
			}
		}
		if ok {
			v += s.value
		}
	}
	return v
}

// checkInvariant checks, from scraped values only, that every subscriber
// of topic accounts for every message: published = delivered + dropped +
// queued, and so published x subscribers = the sums over subscribers.
func checkInvariant(t *testing.T, samples []sample, topic string, subscribers int) {
	t.Helper()
	published := sum(samples, "fxbus_events_published_total", map[string]string{"topic": topic})
	if published == 0 {
		t.Fatalf("nothing published on %s", topic)
	}
	var names []string
	for _, s := range samples {
		if s.name == "fxbus_events_delivered_total" && s.labels["topic"] == topic {
			names = append(names, s.labels["subscriber"])
		}
	}
	if len(names) != subscribers {
		t.Fatalf("subscribers of %s: %v, want %d", topic, names, subscribers)
	}
	var total float64
	for _, name := range names {
		l := map[string]string{"topic": topic, "subscriber": name}
		d := sum(samples, "fxbus_events_delivered_total", l)
		x := sum(samples, "fxbus_events_dropped_total", l)
		q := sum(samples, "fxbus_queue_depth", l)
		if d+x+q != published {
			t.Errorf("%s/%s: delivered %v + dropped %v + queued %v = %v, want published %v", topic, name, d, x, q, d+x+q, published)
		}
		total += d + x + q
	}
	if want := published * float64(subscribers); total != want {
		t.Errorf("%s: delivered + dropped + queued over %d subscribers = %v, want published x subscribers = %v", topic, subscribers, total, want)
	}
}

// TestInvariantUnderLoad publishes from several goroutines to subscribers
// of every policy, then checks the accounting from the scraped values: once
// with messages still queued (readers stopped, handlers held), and again
// after a shutdown that drops them.
func TestInvariantUnderLoad(t *testing.T) {
	const publishers, perPublisher = 4, 2000
	ctx := testCtx(t)
	b := bus.New()
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, b)
	check(t, err)
	defer m.Close()
	top := newTopic[int](t, b, "load")

	stop := make(chan struct{})
	var readers sync.WaitGroup
	read := func(s *bus.Subscription[int]) {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case _, ok := <-s.C:
					if !ok {
						return
					}
				case <-stop:
					return
				}
			}
		}()
	}
	read(subscribe[int](t, b, "load", bus.Name("block"), bus.Buffer(64)))
	read(subscribe[int](t, b, "load", bus.Name("drop-newest"), bus.Buffer(8), bus.WithPolicy(bus.DropNewest())))
	read(subscribe[int](t, b, "load", bus.Name("drop-oldest"), bus.Buffer(8), bus.WithPolicy(bus.DropOldest())))
	read(subscribe[int](t, b, "load", bus.Name("block-for"), bus.Buffer(4), bus.WithPolicy(bus.BlockFor(20*time.Microsecond))))
	subscribe[int](t, b, "load", bus.Name("unread"), bus.Buffer(16), bus.WithPolicy(bus.DropNewest()))

	// A handler that takes everything, and stops at the first negative
	// value (the end marker); one stuck on its first message from the start.
	gate := make(chan struct{})
	reached := make(chan struct{})
	_, err = bus.Handle(t.Context(), b, "load", func(_ context.Context, v int) error {
		if v < 0 {
			close(reached)
			<-gate
		}
		return nil
	}, bus.Name("handler"), bus.Buffer(publishers*perPublisher+1))
	check(t, err)
	_, err = bus.Handle(t.Context(), b, "load", func(context.Context, int) error {
		<-gate
		return nil
	}, bus.Name("stuck-handler"), bus.Buffer(4), bus.WithPolicy(bus.DropNewest()))
	check(t, err)
	const subscribers = 7

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	var pubs sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for i := range perPublisher {
				pctx := ctx
				if i%7 == 0 {
					pctx = canceled // a Block subscriber with a full queue drops it: canceled
				}
				if err := top.Publish(pctx, p*perPublisher+i); err != nil && !errors.Is(err, context.Canceled) {
					errs <- err
					return
				}
			}
		}()
	}
	pubs.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Stop the readers, and hold the handler at the end marker: nothing
	// moves any more, and some messages stay queued.
	close(stop)
	readers.Wait()
	_ = top.Publish(canceled, -1) // never waits: a full Block queue drops it
	select {
	case <-reached:
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the handler to reach the end marker")
	}
	live := scrape(t, reg)
	checkInvariant(t, live, "load", subscribers)
	for _, r := range bus.DropReasons() {
		t.Logf("dropped, %s: %v", r, sum(live, "fxbus_events_dropped_total", map[string]string{"reason": r.String()}))
	}
	if v := sum(live, "fxbus_subscribers", map[string]string{"topic": "load"}); v != subscribers {
		t.Errorf("fxbus_subscribers = %v, want %d", v, subscribers)
	}
	for _, name := range []string{"unread", "stuck-handler"} {
		l := map[string]string{"topic": "load", "subscriber": name}
		if sum(live, "fxbus_queue_depth", l) == 0 || sum(live, "fxbus_events_dropped_total", l) == 0 {
			t.Errorf("%s: want messages both queued and dropped", name)
		}
	}

	close(gate)
	var se *bus.ShutdownError
	if err := b.Close(canceled); err != nil && !errors.As(err, &se) {
		t.Fatal(err)
	}
	closed := scrape(t, reg)
	checkInvariant(t, closed, "load", subscribers)
	if v := sum(closed, "fxbus_queue_depth", nil); v != 0 {
		t.Errorf("after Close, fxbus_queue_depth sums to %v", v)
	}
	if t.Failed() {
		for _, s := range closed {
			t.Log(s)
		}
	}
}

// TestInvariantHandlerBatch holds a handler on the last of three messages
// that its worker took in one batch: the scrape must count the two handled
// ones as delivered only, and the held one as queued.
func TestInvariantHandlerBatch(t *testing.T) {
	ctx := testCtx(t)
	b := bus.New()
	defer closeBus(t, b)
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg, b)
	check(t, err)
	defer m.Close()
	top := newTopic[int](t, b, "t")
	first, last, reached := make(chan struct{}), make(chan struct{}), make(chan struct{})
	defer close(last)
	_, err = top.Handle(t.Context(), func(_ context.Context, v int) error {
		switch v {
		case 0:
			<-first // hold the worker until all three are queued
		case 2:
			close(reached)
			<-last
		}
		return nil
	}, bus.Name("h"))
	check(t, err)
	for i := range 3 {
		check(t, top.Publish(ctx, i))
	}
	close(first)
	select {
	case <-reached:
	case <-time.After(testTimeout):
		t.Fatal("timed out waiting for the handler")
	}
	samples := scrape(t, reg)
	checkInvariant(t, samples, "t", 1)
	l := map[string]string{"topic": "t", "subscriber": "h"}
	if d, q := sum(samples, "fxbus_events_delivered_total", l), sum(samples, "fxbus_queue_depth", l); d != 2 || q != 1 {
		t.Errorf("delivered %v and queued %v, want 2 and 1", d, q)
	}
}
