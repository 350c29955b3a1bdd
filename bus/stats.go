package bus

import (
	"cmp"
	"slices"
)

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
		routed, unrouted := t.counts()
		n := 0
		for _, s := range b.subs {
			if slices.Contains(s.info().topics, t) {
				n++
			}
		}
		st.Topics = append(st.Topics, TopicStats{
			Name: *t.nameRef(), Type: t.typeName(),
			Published: routed + unrouted, Unrouted: unrouted, Subscribers: n,
		})
	}
	live := len(b.subs)
	subs := slices.Concat(b.subs, b.ending)
	topics := make([][]string, len(subs))
	for i, s := range subs {
		for _, t := range s.info().topics {
			topics[i] = append(topics[i], *t.nameRef())
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
