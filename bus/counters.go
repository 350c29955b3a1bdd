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

// sat returns a-b, or 0 when b > a (counters read at slightly different
// moments).
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// Stats is a point-in-time view of a bus, read from atomic counters without
// stopping publishers. Once publishing stops, for every subscription
// Published == Delivered + Dropped.Total() + Queued exactly.
type Stats struct {
	Topics        []TopicStats        // sorted by name
	Subscriptions []SubscriptionStats // sorted by pattern, then name
}

// TopicStats describes one topic.
type TopicStats struct {
	Name        string
	Type        string // the message type, as reflect prints it
	Published   uint64 // every accepted publish, routed or not
	Unrouted    uint64 // of which matched no subscription
	Subscribers int    // live subscriptions attached now, wildcard ones included
}

// SubscriptionStats describes one subscriber: a topic name or pattern and a
// subscription name. Counters add up over every subscription that has had
// that name on that pattern (one that disconnects and subscribes again keeps
// counting), so they only grow; Active says whether one is live now.
type SubscriptionStats struct {
	Name        string
	Pattern     string   // the topic name or pattern subscribed to
	Topics      []string // the topics it is attached to now
	Group       string   // queue group, or ""
	Handler     bool     // a handler subscription (Handle), not a channel
	Policy      Policy
	Buffer      int
	Concurrency int  // handler calls at once; 0 for channel subscriptions
	Active      bool // a subscription with this name is live

	Published   uint64 // messages offered to this subscriber
	Delivered   uint64 // received from the channel, or handled by the handler
	Queued      uint64 // waiting in the queue, or being handled
	Dropped     DropCounts
	Failed      uint64 // handler calls that returned an error or panicked
	Disconnects uint64 // subscriptions ended by their DisconnectAfter policy
}

// DropCounts counts drops by reason.
type DropCounts map[DropReason]uint64

// Total returns the sum over every reason.
func (d DropCounts) Total() uint64 {
	var n uint64
	for _, v := range d {
		n += v
	}
	return n
}

type statsKey struct{ pattern, name string }

func (a *SubscriptionStats) add(r *SubscriptionStats) {
	a.Published += r.Published
	a.Delivered += r.Delivered
	a.Queued += r.Queued
	a.Failed += r.Failed
	a.Disconnects += r.Disconnects
	for k, v := range r.Dropped {
		a.Dropped[k] += v
	}
}
