package benchmarks

import (
	"sync"
	"testing"
)

// rawChannels is what a careful hand-written fan-out does: one buffered
// channel per subscriber, each drained by a goroutine of its own that calls
// the subscriber's function, the publisher sending to each in turn. The
// handler rows use it too: that goroutine is how a handler is run without a
// bus.
func rawChannels(b *testing.B, hs []handler) func(event) error {
	chs := make([]chan event, len(hs))
	var readers sync.WaitGroup
	for i, h := range hs {
		ch := make(chan event, buffer)
		chs[i] = ch
		readers.Go(func() {
			for ev := range ch {
				h(ev)
			}
		})
	}
	b.Cleanup(func() {
		for _, ch := range chs {
			close(ch)
		}
		readers.Wait()
	})
	return func(ev event) error {
		for _, ch := range chs {
			ch <- ev
		}
		return nil
	}
}
