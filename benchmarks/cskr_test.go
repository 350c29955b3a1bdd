package benchmarks

import (
	"sync"
	"testing"

	"github.com/cskr/pubsub/v2"
)

// cskrChannels uses github.com/cskr/pubsub/v2, the generic version: Sub
// returns a channel of the given capacity, read here by a goroutine per
// subscription. Every Pub and Sub goes through one goroutine of the
// PubSub's, which sends to each subscriber's channel in turn.
//
// cskr/pubsub has no callback API, so its handler rows are these same
// channel readers calling the handler.
func cskrChannels(b *testing.B, hs []handler) func(event) error {
	ps := pubsub.New[string, event](buffer)
	var readers sync.WaitGroup
	b.Cleanup(func() {
		ps.Shutdown() // closes every subscriber's channel
		readers.Wait()
	})
	for _, h := range hs {
		ch := ps.Sub(topic)
		readers.Go(func() {
			for ev := range ch {
				h(ev)
			}
		})
	}
	// Pub takes its topics as a variadic slice, which escapes into the
	// command it sends to the PubSub's goroutine: passing one slice made
	// here saves the allocation that Pub(ev, topic) makes per call.
	topics := []string{topic}
	return func(ev event) error {
		ps.Pub(ev, topics...)
		return nil
	}
}
