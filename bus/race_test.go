package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRace runs Publish, PublishSync, Subscribe, Handle, context cancels,
// Subscription.Close (also from the goroutine reading the channel), topic
// declarations and Bus.Close all at once. Run it with -race. Nothing may
// panic or hang, every subscription must end with its channel closed, and
// the accounting must hold at the end.
func TestRace(t *testing.T) {
	for round := range 4 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) { raceRound(t, uint64(round)) })
	}
}

func raceRound(t *testing.T, seed uint64) {
	b := New()
	topics := []*Topic[int]{mustTopic[int](t, b, "race.a"), mustTopic[int](t, b, "race.b")}
	policies := []Policy{Block(), BlockFor(100 * time.Microsecond), DropNewest(), DropOldest(), DisconnectAfter(3)}
	patterns := []string{"race.a", "race.b", "race.*", "race.>", "*.a"}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		subs     []*Subscription[int]
		progress atomic.Int64
		closing  = make(chan struct{})
	)
	ok := func(err error) bool {
		var de *DropError
		return err == nil || errors.Is(err, ErrClosed) || errors.Is(err, context.Canceled) ||
			errors.Is(err, context.DeadlineExceeded) || errors.As(err, &de)
	}

	// Publishers.
	for p := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(p)))
			for i := range 400 {
				top := topics[r.IntN(len(topics))]
				ctx, cancel := context.WithCancel(context.Background())
				if r.IntN(10) == 0 {
					cancel() // a publisher that gives up at once
				}
				var err error
				if r.IntN(8) == 0 {
					err = top.PublishSync(ctx, i)
				} else {
					err = top.Publish(ctx, i)
				}
				cancel()
				if !ok(err) {
					t.Errorf("publish: %v", err)
				}
				progress.Add(1)
			}
		})
	}

	// Subscribers that come and go.
	for c := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, 100+uint64(c)))
			for i := range 40 {
				ctx, cancel := context.WithCancel(context.Background())
				pattern := patterns[r.IntN(len(patterns))]
				opts := []SubscribeOption{
					Buffer(1 + r.IntN(4)),
					WithPolicy(policies[r.IntN(len(policies))]),
					Name(fmt.Sprintf("c%d-%d", c, i)),
				}
				if r.IntN(4) == 0 {
					opts = append(opts, QueueGroup("g"))
				}
				var (
					s   *Subscription[int]
					err error
				)
				handler := r.IntN(3) == 0
				if handler {
					// Not Block: handlers publish to these topics, and a
					// handler waiting for room in a queue that only it (or
					// another handler waiting on it) drains waits until
					// Close gives up (see TestHandlerBlockedOnOwnQueue).
					opts[1] = WithPolicy(policies[1+r.IntN(len(policies)-1)])
					s, err = Handle(ctx, b, pattern, func(ctx context.Context, v int) error {
						if v%7 == 0 {
							// Handlers publish too, to their own topics.
							return topics[v%2].Publish(ctx, v+1)
						}
						return nil
					}, opts...)
				} else {
					s, err = Subscribe[int](ctx, b, pattern, opts...)
				}
				if errors.Is(err, ErrClosed) {
					cancel()
					return
				}
				if err != nil {
					t.Errorf("subscribe: %v", err)
					cancel()
					return
				}
				mu.Lock()
				subs = append(subs, s)
				mu.Unlock()
				end := r.IntN(4)
				if !handler {
					// The consumer reads until the channel closes; it may
					// close the subscription itself on the way.
					selfClose := end == 2
					n := r.IntN(20)
					wg.Go(func() {
						k := 0
						for range s.C {
							if k++; k == n && selfClose {
								s.Close()
							}
						}
					})
				}
				if r.IntN(3) == 0 {
					// A new topic that wildcard subscriptions pick up.
					if top, err := NewTopic[int](b, fmt.Sprintf("race.new%d.%d", c, i)); err == nil {
						if !ok(top.Publish(context.Background(), i)) {
							t.Error("publish to a new topic")
						}
					}
				}
				switch end {
				case 0:
					cancel()
				case 1:
					s.Close()
					cancel()
				default:
					// Left to its consumer or to Bus.Close.
					defer cancel()
				}
			}
		})
	}

	// Bus.Close once the load is under way.
	wg.Go(func() {
		for progress.Load() < 300 {
			select {
			case <-closing:
				return
			default:
			}
			runtime.Gosched() // the load decides when to go on
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			var se *ShutdownError
			if !errors.As(err, &se) || se.Cause != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(testTimeout):
		close(closing)
		t.Fatal("the race did not finish")
	}
	if err := b.Close(testCtx(t)); err != nil {
		t.Errorf("Close after the race: %v", err)
	}
	for _, s := range subs {
		waitDone(t, s)
		if s.Err() == nil {
			t.Errorf("%s ended with no reason", s.Name())
		}
		if s.C != nil && !isClosed(s) {
			t.Errorf("%s: channel open after Close", s.Name())
		}
	}
	st := b.Stats()
	checkBalance(t, st)
	for _, s := range st.Subscriptions {
		if s.Active || s.Queued != 0 {
			t.Errorf("after Close: %+v", s)
		}
	}
}
