package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fxbus/fxbus/bus"
)

// progressStats is a snapshot as Stats may read it while orders come in:
// the topic's counter was read before audit's, so audit is one ahead.
func progressStats(n uint64) bus.Stats {
	sub := func(name, group string, published, delivered uint64, dropped bus.DropCounts, queued uint64) bus.SubscriptionStats {
		return bus.SubscriptionStats{Name: name, Pattern: TopicOrders, Group: group, Handler: true,
			Published: published, Delivered: delivered, Dropped: dropped, Queued: queued}
	}
	return bus.Stats{
		Topics: []bus.TopicStats{
			{Name: TopicOrders, Published: n - 1, Subscribers: 8},
			{Name: TopicReserved, Published: n, Subscribers: 1},
			{Name: TopicOrders + ".dead-letter", Published: n / 40, Subscribers: 1},
		},
		Subscriptions: []bus.SubscriptionStats{
			sub("analytics", "", n-1, n/2, bus.DropCounts{bus.ReasonEvicted: n/2 - 9}, 8),
			sub("audit", "", n, n, nil, 0),
			sub("email", "", n-1, n-1, nil, 0),
			sub("inventory-1", "inventory", n/2, n/2, nil, 0),
			sub("inventory-2", "inventory", n/2-1, n/2-1, nil, 0),
			{Name: "confirm", Pattern: TopicReserved, Handler: true, Published: n, Delivered: n},
			{Name: "email-dead-letters", Pattern: TopicOrders + ".dead-letter", Handler: true, Published: n / 40, Delivered: n / 40},
		},
	}
}

// TestProgressLines: a snapshot fits in 120 columns, however large the
// counts, and no subscriber shows more than its topic published.
func TestProgressLines(t *testing.T) {
	for _, n := range []uint64{196, 12_345_678_901} {
		lines := progressLines(3*time.Second, progressStats(n), int64(n), 7)
		text := strings.Join(lines, "\n")
		for _, l := range lines {
			if w := utf8.RuneCountInString(l); w > progressWidth {
				t.Errorf("n=%d: a line of %d columns:\n%s", n, w, l)
			}
		}
		if !strings.HasPrefix(lines[0], "   3s  http ") {
			t.Errorf("n=%d: the first line is %q", n, lines[0])
		}
		for i, l := range lines[1:] {
			if !strings.HasPrefix(l, progressIndent) {
				t.Errorf("n=%d: line %d does not continue the snapshot: %q", n, i+2, l)
			}
		}
		// audit was offered n: the topic shows n, not the n-1 it read first.
		if want := fmt.Sprintf("%s %d: analytics %d (%d dropped, 8 queued), audit %d,", TopicOrders, n, n/2, n/2-9, n); !strings.Contains(strings.ReplaceAll(text, "\n"+progressIndent, " "), want) {
			t.Errorf("n=%d: the snapshot\n%s\ndoes not read %q", n, text, want)
		}
		if want := fmt.Sprintf("inventory×2 %d", n/2+n/2-1); !strings.Contains(text, want) {
			t.Errorf("n=%d: the snapshot\n%s\nlacks the queue group as %q", n, text, want)
		}
	}
}

// TestPolicyDropsAreNotWarnings: analytics loses orders to its drop-oldest
// policy on every run, which is the policy working: no warning says so, and
// the final table still shows them.
func TestPolicyDropsAreNotWarnings(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	if err := run(ctx, []string{"-duration", "1200ms", "-rate", "200", "-log", "warn"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), " evicted ") {
		t.Fatalf("analytics evicted nothing, so this run tests nothing:\n%s", stdout.String())
	}
	if strings.Contains(stderr.String(), "dropped") {
		t.Errorf("drops logged at warn:\n%s", stderr.String())
	}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.HasPrefix(l, "stopping") {
			break
		}
		if w := utf8.RuneCountInString(l); w > progressWidth {
			t.Errorf("a line of %d columns before the stop:\n%s", w, l)
		}
	}
}
