package benchmarks

import (
	"context"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	mbus "github.com/mustafaturan/bus/v3"
)

// newMustafaturan makes a github.com/mustafaturan/bus/v3 bus with the
// benchmarks' topic registered. Emit calls every matching handler
// synchronously, on the publisher's goroutine, with the message boxed in an
// Event. The bus needs an ID generator (its README uses
// mustafaturan/monoton, and says any will do): a counter formatted in
// decimal costs about the same, a string per ID, without the extra module.
func newMustafaturan(b *testing.B) *mbus.Bus {
	var seq atomic.Uint64
	next := mbus.Next(func() string { return strconv.FormatUint(seq.Add(1), 10) })
	bs, err := mbus.NewBus(next)
	if err != nil {
		b.Fatal(err)
	}
	bs.RegisterTopics(topic)
	return bs
}

// matcher is the handlers' topic pattern (a regular expression): the
// benchmarks' topic alone.
var matcher = "^" + regexp.QuoteMeta(topic) + "$"

// mustafaturanHandlers registers each handler with the bus: Emit runs them
// all before it returns.
func mustafaturanHandlers(b *testing.B, hs []handler) func(event) error {
	bs := newMustafaturan(b)
	for i, h := range hs {
		bs.RegisterHandler(subName(i), mbus.Handler{
			Matcher: matcher,
			Handle:  func(_ context.Context, e mbus.Event) { h(e.Data.(event)) },
		})
	}
	return mustafaturanEmit(bs)
}

// mustafaturanChannels is the way the bus's README recommends for handlers
// that should not hold up the publisher ("process the event in an async
// way", with the concurrency left to the user): each handler only forwards
// the message to a buffered channel of its own, which a goroutine reads.
func mustafaturanChannels(b *testing.B, hs []handler) func(event) error {
	bs := newMustafaturan(b)
	var readers sync.WaitGroup
	var chs []chan event
	b.Cleanup(func() {
		for _, ch := range chs {
			close(ch)
		}
		readers.Wait()
	})
	for i, h := range hs {
		ch := make(chan event, buffer)
		chs = append(chs, ch)
		readers.Go(func() {
			for ev := range ch {
				h(ev)
			}
		})
		bs.RegisterHandler(subName(i), mbus.Handler{
			Matcher: matcher,
			Handle:  func(_ context.Context, e mbus.Event) { ch <- e.Data.(event) },
		})
	}
	return mustafaturanEmit(bs)
}

// mustafaturanEmit publishes with Emit and a context that carries no
// transaction ID, so that Emit makes one, as fxbus makes a correlation ID.
func mustafaturanEmit(bs *mbus.Bus) func(event) error {
	ctx := context.Background()
	return func(ev event) error { return bs.Emit(ctx, topic, ev) }
}
