package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// topicOrder lists the app's topics in the order of an order's path; other
// topics follow by name.
var topicOrder = []string{TopicOrders, TopicReserved, TopicOrders + handlers.DeadLetterSuffix}

func topicRank(name string) int {
	if i := slices.Index(topicOrder, name); i >= 0 {
		return i
	}
	return len(topicOrder)
}

// sortedStats returns st with topics and subscriptions in topicOrder.
func sortedStats(st bus.Stats) bus.Stats {
	slices.SortStableFunc(st.Topics, func(a, b bus.TopicStats) int { return topicRank(a.Name) - topicRank(b.Name) })
	slices.SortStableFunc(st.Subscriptions, func(a, b bus.SubscriptionStats) int {
		return topicRank(a.Pattern) - topicRank(b.Pattern)
	})
	return st
}

// progressWidth is the most columns a progress line takes.
const progressWidth = 120

// progressIndent starts the lines that continue a snapshot.
const progressIndent = "       "

// newProgress prints a snapshot of the bus a second while the app runs, in
// lines of at most progressWidth columns:
//
//	2s  http 196 placed, 4 rejected | orders.placed 196: analytics 96 (90 dropped, 10 queued), audit 196,
//	    email 196, inventory×4 196 | inventory.reserved 196: confirm 196 | ...
//
// with, per topic, what was published and, per subscriber, what it took,
// and what it dropped and holds when not 0. It is invoked after the traffic
// generator, so it stops first.
func newProgress(lc fx.Lifecycle, out output, b *bus.Bus, api *orderAPI) {
	var (
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			start := time.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case now := <-tick.C:
						lines := progressLines(now.Sub(start), b.Stats(), api.accepted.Load(), api.rejected.Load())
						fmt.Fprintln(out, strings.Join(lines, "\n"))
					}
				}
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			cancel()
			wg.Wait()
			return nil
		},
	})
}

// progressLines renders one snapshot of the bus.
func progressLines(elapsed time.Duration, st bus.Stats, placed, rejected int64) []string {
	segs := [][]string{{fmt.Sprintf("%4.0fs  http %d placed, %d rejected", elapsed.Seconds(), placed, rejected)}}
	st = sortedStats(st)
	for _, t := range st.Topics {
		if t.Subscribers > 0 || t.Published > 0 {
			segs = append(segs, topicProgress(t, st.Subscriptions))
		}
	}
	return pack(segs, progressWidth)
}

// topicProgress renders a topic and its subscribers, as the pieces of a
// segment: "orders.placed 196: audit 196", "email 196", .... Stats reads the
// topic's counter before its subscribers', so a publish in between would
// show a subscriber ahead of its topic: the topic's count shown is the
// larger of its own and what its subscribers were offered, each of which
// is read together with that subscriber's other counters.
func topicProgress(t bus.TopicStats, subs []bus.SubscriptionStats) []string {
	published := t.Published
	var parts []string
	var g struct {
		name                                 string
		members                              int
		published, delivered, dropped, queue uint64
	}
	flush := func() {
		if g.members > 0 {
			published = max(published, g.published)
			parts = append(parts, subscriberProgress(fmt.Sprintf("%s×%d", g.name, g.members), g.delivered, g.dropped, g.queue))
		}
		g.name, g.members, g.published, g.delivered, g.dropped, g.queue = "", 0, 0, 0, 0, 0
	}
	for _, s := range subs {
		if s.Pattern != t.Name {
			continue
		}
		if s.Group == "" {
			flush()
			published = max(published, s.Published)
			parts = append(parts, subscriberProgress(s.Name, s.Delivered, s.Dropped.Total(), s.Queued))
			continue
		}
		if s.Group != g.name {
			flush()
			g.name = s.Group
		}
		g.members++
		g.published += s.Published
		g.delivered += s.Delivered
		g.dropped += s.Dropped.Total()
		g.queue += s.Queued
	}
	flush()
	head := fmt.Sprintf("%s %d", t.Name, published)
	if len(parts) == 0 {
		return []string{head}
	}
	parts[0] = head + ": " + parts[0]
	return parts
}

func subscriberProgress(name string, delivered, dropped, queued uint64) string {
	var extra []string
	if dropped > 0 {
		extra = append(extra, fmt.Sprintf("%d dropped", dropped))
	}
	if queued > 0 {
		extra = append(extra, fmt.Sprintf("%d queued", queued))
	}
	if len(extra) == 0 {
		return fmt.Sprintf("%s %d", name, delivered)
	}
	return fmt.Sprintf("%s %d (%s)", name, delivered, strings.Join(extra, ", "))
}

// pack joins segments with " | ", and the pieces of a segment with ", ",
// into lines of at most width columns, breaking only between pieces (a line
// broken inside a segment ends with its comma). Lines after the first
// start with progressIndent.
func pack(segs [][]string, width int) []string {
	var (
		lines []string
		cur   string
	)
	cols := utf8.RuneCountInString
	for _, seg := range segs {
		for i, piece := range seg {
			sep := ", "
			if i == 0 {
				sep = " | "
			}
			switch {
			case cur == "":
				cur = piece
			case cols(cur)+len(sep)+cols(piece) < width: // < keeps room for a comma
				cur += sep + piece
			default:
				if sep == ", " {
					cur += ","
				}
				lines = append(lines, cur)
				cur = progressIndent + piece
			}
		}
	}
	return append(lines, cur)
}

// allowedDrops says which drop reasons a policy allows: the drops it exists
// to make. A publisher that gives up (canceled) is told so by Publish's
// error, so it is no silent loss under any policy; a shutdown or
// unsubscribed drop is a loss under every policy.
func allowedDrops(p bus.Policy) []bus.DropReason {
	allowed := []bus.DropReason{bus.ReasonCanceled}
	switch s := p.String(); {
	case s == "drop-oldest":
		allowed = append(allowed, bus.ReasonEvicted)
	case s == "drop-newest":
		allowed = append(allowed, bus.ReasonFull)
	case strings.HasPrefix(s, "block:"):
		allowed = append(allowed, bus.ReasonTimeout)
	case strings.HasPrefix(s, "disconnect:"):
		allowed = append(allowed, bus.ReasonFull, bus.ReasonDisconnect)
	}
	return allowed
}

// checkSubscriber returns what is wrong with one subscriber's accounting
// once the bus has stopped, or "".
func checkSubscriber(s bus.SubscriptionStats) string {
	var bad []string
	if sum := s.Delivered + s.Dropped.Total() + s.Queued; sum != s.Published {
		bad = append(bad, fmt.Sprintf("published %d != delivered+dropped+queued %d", s.Published, sum))
	}
	if s.Queued != 0 {
		bad = append(bad, fmt.Sprintf("%d still queued", s.Queued))
	}
	allowed := allowedDrops(s.Policy)
	for _, r := range bus.DropReasons() {
		if n := s.Dropped[r]; n > 0 && !slices.Contains(allowed, r) {
			bad = append(bad, fmt.Sprintf("%d dropped (%s) under %s", n, r, s.Policy))
		}
	}
	return strings.Join(bad, "; ")
}

func formatDrops(d bus.DropCounts) string {
	if d.Total() == 0 {
		return "0"
	}
	var parts []string
	for _, r := range bus.DropReasons() {
		if n := d[r]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, r))
		}
	}
	return strings.Join(parts, ", ")
}

// finalReport is what run prints after the app has stopped.
type finalReport struct {
	Stats    bus.Stats
	Store    StoreSnapshot
	API      apiCounts // what the HTTP API answered
	Traffic  *trafficCounts
	StopTook time.Duration
	StopErr  error
}

// problems lists every message lost or unaccounted for; none means nothing
// was lost.
func (r finalReport) problems() []string {
	var out []string
	for _, s := range r.Stats.Subscriptions {
		if p := checkSubscriber(s); p != "" {
			out = append(out, fmt.Sprintf("%s on %s: %s", s.Name, s.Pattern, p))
		}
	}
	var orders, dead uint64
	for _, t := range r.Stats.Topics {
		switch t.Name {
		case TopicOrders:
			orders = t.Published
		case TopicOrders + handlers.DeadLetterSuffix:
			dead = t.Published
		}
	}
	want := func(what string, got int, want uint64) {
		if uint64(got) != want {
			out = append(out, fmt.Sprintf("%s: %d, want %d", what, got, want))
		}
	}
	want("orders audited", r.Store.Audited, orders)
	want("orders reserved", r.Store.Reserved, orders)
	want("orders confirmed", r.Store.Confirmed, orders)
	want("emails sent + dead-lettered", r.Store.Emails+r.Store.DeadLetters, orders)
	want("dead letters recorded", r.Store.DeadLetters, dead)
	if r.Store.SplitSKUs > 0 {
		out = append(out, fmt.Sprintf("%d SKUs reserved by two inventory workers", r.Store.SplitSKUs))
	}
	return out
}

func (r finalReport) print(w io.Writer) {
	st := sortedStats(r.Stats)
	fmt.Fprintf(w, "\nstopped in %v: traffic first, then the HTTP server, then the bus drained and closed.\n\n", r.StopTook.Round(time.Millisecond))

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tTYPE\tPUBLISHED\tUNROUTED")
	for _, t := range st.Topics {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", t.Name, t.Type, t.Published, t.Unrouted)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBSCRIBER\tTOPIC\tPOLICY\tPUBLISHED\t= DELIVERED\t+ DROPPED\t+ QUEUED\tFAILED\tCHECK")
	for _, s := range st.Subscriptions {
		name := s.Name
		if s.Group != "" {
			name += " [" + s.Group + "]"
		}
		check := "ok"
		if p := checkSubscriber(s); p != "" {
			check = "LOST: " + p
		} else if s.Dropped.Total() > 0 {
			check = "ok: dropped by its policy"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\n", name, s.Pattern, s.Policy,
			s.Published, s.Delivered, formatDrops(s.Dropped), s.Queued, s.Failed, check)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)

	sn := r.Store
	if t := r.Traffic; t != nil {
		fmt.Fprintf(w, "traffic:    %d orders sent, %d placed, %d rejected (400, on purpose), %d failed\n",
			t.Sent, t.Accepted, t.Rejected, t.Failed)
	}
	fmt.Fprintf(w, "http:       %d placed (202), %d rejected (4xx), %d refused (503)\n", r.API.Accepted, r.API.Rejected, r.API.Refused)
	fmt.Fprintf(w, "audit:      %d orders audited\n", sn.Audited)
	workers := make([]string, 0, len(sn.Workers))
	for w, n := range sn.Workers {
		workers = append(workers, fmt.Sprintf("%s %d", w, n))
	}
	slices.Sort(workers)
	fmt.Fprintf(w, "inventory:  %d reserved, %d confirmed; %d SKUs, each on one worker (%s); %d split\n",
		sn.Reserved, sn.Confirmed, sn.SKUs, strings.Join(workers, ", "), sn.SplitSKUs)
	fmt.Fprintf(w, "email:      %d sent (%d on a retry), %d dead-lettered\n", sn.Emails, sn.EmailRetry, sn.DeadLetters)
	fmt.Fprintf(w, "analytics:  %d tracked; the rest evicted by drop-oldest, as that feed allows\n", sn.Tracked)
	if r.StopErr != nil {
		fmt.Fprintf(w, "stop:       %v\n", r.StopErr)
	}
	if p := r.problems(); len(p) > 0 {
		fmt.Fprintf(w, "\nLOST OR UNACCOUNTED FOR:\n  %s\n", strings.Join(p, "\n  "))
		return
	}
	fmt.Fprintln(w, "\nnothing lost: for every subscriber published = delivered + dropped + queued, 0 queued after the drain,")
	fmt.Fprintln(w, "and drops only where the policy allows them; every order was audited, reserved, confirmed, and emailed or dead-lettered.")
}
