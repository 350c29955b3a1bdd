package bus

import (
	"cmp"
	"slices"
)

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

// stats reads one subscription's counters (see counters for the rule).
func (c *core) stats(queued func() uint64) SubscriptionStats {
	ss := SubscriptionStats{
		Name: c.name, Pattern: c.pattern, Group: c.group, Handler: c.conc > 0,
		Policy: c.policy, Buffer: c.buffer, Concurrency: c.conc, Dropped: DropCounts{},
	}
	// Read what left the sink before what entered it, so that a racing
	// publish shows as queued rather than as a negative.
	handled, removed := c.handled.Load(), c.removed.Load()
	var dropped uint64
	for r := ReasonFull; r < numDropReasons; r++ {
		if v := c.dropped[r].Load(); v > 0 {
			ss.Dropped[r] = v
			dropped += v
		}
	}
	ss.Queued = queued()
	accepted := c.accepted.Load()
	ss.Failed = c.failed.Load()
	if c.conc > 0 {
		ss.Delivered = handled
	} else {
		ss.Delivered = sat(accepted, removed+ss.Queued)
	}
	ss.Published = accepted + sat(dropped, removed)
	return ss
}

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

// retire folds the final counters of an ended subscription into the bus's
// retired stats, so that Stats keeps counting what it did.
func (b *Bus) retire(c *core) {
	ss := c.stats(func() uint64 { return 0 })
	if c.err == ErrDisconnected {
		ss.Disconnects = 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ending = slices.DeleteFunc(b.ending, func(s subscription) bool { return s.info() == c })
	k := statsKey{c.pattern, c.name}
	if r, ok := b.retired[k]; ok {
		r.add(&ss)
		r.Group, r.Handler, r.Policy, r.Buffer, r.Concurrency = ss.Group, ss.Handler, ss.Policy, ss.Buffer, ss.Concurrency
		return
	}
	b.retired[k] = &ss
}

// Stats returns the bus's current stats.
func (b *Bus) Stats() Stats {
	b.mu.Lock()
	var st Stats
	for _, t := range b.topics {
		tb := t.base()
		routed, unrouted := tb.published.Load(), tb.unrouted.Load()
		n := 0
		for _, s := range b.subs {
			if slices.Contains(s.info().topics, t) {
				n++
			}
		}
		st.Topics = append(st.Topics, TopicStats{
			Name: tb.name, Type: tb.typ.String(),
			Published: routed + unrouted, Unrouted: unrouted, Subscribers: n,
		})
	}
	live := len(b.subs)
	subs := slices.Concat(b.subs, b.ending)
	topics := make([][]string, len(subs))
	for i, s := range subs {
		for _, t := range s.info().topics {
			topics[i] = append(topics[i], t.base().name)
		}
		slices.Sort(topics[i])
	}
	retired := make(map[statsKey]SubscriptionStats, len(b.retired))
	for k, r := range b.retired {
		cp := *r
		cp.Dropped = DropCounts{}
		for rk, v := range r.Dropped {
			cp.Dropped[rk] = v
		}
		retired[k] = cp
	}
	b.mu.Unlock()

	// One entry per pattern and name: the live subscription (its settings
	// win), ended ones whose last handler call still runs, and the retired.
	merged := retired
	for i := len(subs) - 1; i >= 0; i-- { // ending first, so live settings win
		s := subs[i]
		c := s.info()
		ss := c.stats(s.queued)
		ss.Topics, ss.Active = topics[i], i < live
		k := statsKey{c.pattern, c.name}
		if r, ok := merged[k]; ok {
			ss.add(&r)
			ss.Active = ss.Active || r.Active
			if !ss.Active || len(ss.Topics) == 0 {
				ss.Topics = r.Topics
			}
		}
		merged[k] = ss
	}
	for _, r := range merged {
		st.Subscriptions = append(st.Subscriptions, r)
	}
	slices.SortFunc(st.Topics, func(a, b TopicStats) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(st.Subscriptions, func(a, b SubscriptionStats) int {
		return cmp.Or(cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Name, b.Name))
	})
	return st
}

// sat returns a-b, or 0 when b > a (counters read at slightly different
// moments).
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
