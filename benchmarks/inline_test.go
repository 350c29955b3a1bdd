package benchmarks

import "testing"

// inline is the synchronous baseline: the publisher calls every subscriber's
// function itself, in turn. It has no queue and starts no goroutine, so it
// is the floor under every other row: the handlers' own cost.
func inline(_ *testing.B, hs []handler) func(event) error {
	return func(ev event) error {
		for _, h := range hs {
			h(ev)
		}
		return nil
	}
}
