package torture

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// TestHandlerDropRacesEnd: a handler subscription whose queue is full drops
// messages (DropNewest, DisconnectAfter) on the publishers' goroutines while
// it ends. Every message OnDrop reports must be in the subscription's final
// Stats: a drop counted after the end folded the counters into the retired
// stats is a message that Stats never shows, neither published nor dropped.
//
// The window is a few instructions wide, so the test hammers it: each round
// fills a handler's queue, lets publishers drop on it, and ends it under
// their feet. It found the race in TestLoad at GOMAXPROCS 8 first.
func TestHandlerDropRacesEnd(t *testing.T) {
	for _, policy := range []bus.Policy{bus.DropNewest(), bus.DisconnectAfter(1 << 30)} {
		t.Run(policy.String(), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(4, runtime.GOMAXPROCS(0))))
			ctx := deadline(t, testTimeout)
			end := time.Now().Add(2 * time.Second)
			rounds := 0
			for ; time.Now().Before(end) && !t.Failed(); rounds++ {
				dropRacesEndRound(t, ctx, policy, rounds)
			}
			t.Logf("%d rounds", rounds)
		})
	}
}

func dropRacesEndRound(t *testing.T, ctx context.Context, policy bus.Policy, round int) {
	b := bus.New()
	defer func() {
		if err := closeBus(t, b, testTimeout); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	top, err := bus.NewTopic[int](b, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	var onDrop atomic.Uint64
	enough := make(chan struct{})
	release := make(chan struct{})
	name := fmt.Sprint("h", round)
	s, err := top.Handle(ctx, func(context.Context, int) error {
		<-release // keeps the queue full
		return nil
	}, bus.Name(name), bus.Buffer(1), bus.WithPolicy(policy), bus.OnDrop(func(bus.Message[int], bus.DropReason) {
		if onDrop.Add(1) == 64 {
			close(enough)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var pubs sync.WaitGroup
	for range 4 {
		pubs.Go(func() {
			for !stop.Load() {
				if err := top.Publish(ctx, 1); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	waitClosed(t, ctx, enough, "64 drops")
	s.Close()
	close(release)
	waitClosed(t, ctx, s.Done(), "the subscription's end")
	stop.Store(true)
	waitGroup(t, ctx, &pubs, "publishers")
	ss := subStats(t, b.Stats(), "jobs", name)
	if ss.Dropped.Total() != onDrop.Load() {
		t.Errorf("round %d: OnDrop saw %d drops, Stats counts %v", round, onDrop.Load(), ss.Dropped)
	}
	checkBalance(t, b.Stats())
}
