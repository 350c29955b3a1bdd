package bus

import (
	"cmp"
	"maps"
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
	st := Stats{Topics: b.topicStats()}
	live := len(b.subs)
	subs := slices.Concat(b.subs, b.ending)
	topics := make([][]string, len(subs))
	for i, s := range subs {
		for _, t := range s.info().topics {
			topics[i] = append(topics[i], *t.nameRef())
		}
		slices.Sort(topics[i])
	}
	merged := make(map[statsKey]SubscriptionStats, len(b.retired))
	for k, r := range b.retired {
		cp := *r
		cp.Dropped = maps.Clone(r.Dropped)
		merged[k] = cp
	}
	b.mu.Unlock()

	// One entry per pattern and name: the live subscription (its settings
	// win), ended ones whose last handler call still runs, and the retired.
	for i := len(subs) - 1; i >= 0; i-- { // ending first, so live settings win
		c := subs[i].info()
		ss := c.stats(subs[i].queued)
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
	st.Subscriptions = slices.SortedFunc(maps.Values(merged), func(a, b SubscriptionStats) int {
		return cmp.Or(cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Name, b.Name))
	})
	return st
}

// topicStats reads every topic's counters, sorted by name. The caller holds
// b.mu.
func (b *Bus) topicStats() []TopicStats {
	var ts []TopicStats
	for _, t := range b.topics {
		routed, unrouted := t.counts()
		n := 0
		for _, s := range b.subs {
			if slices.Contains(s.info().topics, t) {
				n++
			}
		}
		ts = append(ts, TopicStats{
			Name: *t.nameRef(), Type: t.typeName(),
			Published: routed + unrouted, Unrouted: unrouted, Subscribers: n,
		})
	}
	slices.SortFunc(ts, func(a, b TopicStats) int { return cmp.Compare(a.Name, b.Name) })
	return ts
}
