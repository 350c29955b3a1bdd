package bus

import "sync/atomic"

// counters are a subscription's tallies, the one place where its
// accounting is kept. Every message offered to a subscription is either
// accepted by its sink or dropped at the offer (refused); an accepted one
// later leaves the sink handled (or received from the channel) or removed
// (evicted, or left when the subscription ended), and a removed one is
// also counted as dropped. So, per subscription, at any moment
//
//	published = accepted + dropped - removed
//	queued    = accepted - delivered - removed
//
// and Stats reads them so (see stats).
type counters struct {
	accepted atomic.Uint64
	handled  atomic.Uint64 // handler calls that returned
	failed   atomic.Uint64 // of which returned an error or panicked
	removed  atomic.Uint64
	consec   atomic.Int64 // consecutive drops, for DisconnectAfter
	dropped  [numDropReasons]atomic.Uint64
}

// accept counts a message the sink took.
func (c *counters) accept() { c.accepted.Add(1) }

// refuse counts a message dropped at the offer, never in the sink.
func (c *counters) refuse(r DropReason) { c.dropped[r].Add(1) }

// discard counts n accepted messages taken out of the sink undelivered.
func (c *counters) discard(r DropReason, n int) {
	c.dropped[r].Add(uint64(n))
	c.removed.Add(uint64(n))
}

// settle counts a handler call that returned.
func (c *counters) settle(err error) {
	if err != nil {
		c.failed.Add(1)
	}
	c.handled.Add(1)
}
