package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Invariant 1: Publish does not allocate in steady state, for every shape of
// channel subscribers.
func TestInvariantPublishDoesNotAllocate(t *testing.T) {
	type event struct{ ID, Price int64 }
	tests := []struct {
		name string
		subs []([]SubscribeOption)
		wild string // a wildcard pattern to subscribe too
	}{
		{name: "no subscriber"},
		{name: "one", subs: [][]SubscribeOption{{Name("a")}}},
		{name: "three", subs: [][]SubscribeOption{{Name("a")}, {Name("b")}, {Name("c")}}},
		{name: "queue group", subs: [][]SubscribeOption{{QueueGroup("g")}, {QueueGroup("g")}}},
		{name: "ordering key", subs: [][]SubscribeOption{
			{QueueGroup("g"), OrderingKey(func(e event) string { return "k" })},
			{QueueGroup("g"), OrderingKey(func(e event) string { return "k" })},
		}},
		{name: "wildcard", wild: "alloc.*"},
		{name: "full drop-newest", subs: [][]SubscribeOption{{Name("a")}, {Name("full"), Buffer(1), WithPolicy(DropNewest())}}},
		{name: "full drop-oldest", subs: [][]SubscribeOption{{Name("a")}, {Name("full"), Buffer(1), WithPolicy(DropOldest())}}},
		{name: "full disconnect-after", subs: [][]SubscribeOption{{Name("a")}, {Name("full"), Buffer(1), WithPolicy(DisconnectAfter(1 << 30))}}},
		{name: "correlation ID", subs: [][]SubscribeOption{{Name("a")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New()
			top := mustTopic[event](t, b, "alloc.test")
			var subs []*Subscription[event]
			for _, opts := range tt.subs {
				subs = append(subs, mustSub(t, top, append([]SubscribeOption{Buffer(4096)}, opts...)...))
			}
			if tt.wild != "" {
				s, err := Subscribe[event](context.Background(), b, tt.wild, Buffer(4096))
				if err != nil {
					t.Fatal(err)
				}
				subs = append(subs, s)
			}
			ctx := context.Background()
			if tt.name == "correlation ID" {
				ctx = WithCorrelationID(ctx, NewCorrelationID())
			}
			var i int64
			allocs := testing.AllocsPerRun(1000, func() {
				i++
				if err := top.Publish(ctx, event{ID: i}); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Publish allocates %v times per call", allocs)
			}
			for _, s := range subs {
				drained(s)
			}
			if err := b.Close(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Invariant 2: the bus closes a subscriber's channel exactly once, after the
// last send; publishes racing with cancel and close never panic (a send on a
// closed channel or a second close would).
func TestInvariantChannelClosedOnce(t *testing.T) {
	policies := []Policy{Block(), BlockFor(50 * time.Microsecond), DropNewest(), DropOldest(), DisconnectAfter(2)}
	for round := range 40 {
		b := New()
		top := mustTopic[int](t, b, "close.once")
		p := policies[round%len(policies)]
		ctx, cancel := context.WithCancel(context.Background())
		s, err := top.Subscribe(ctx, Buffer(1+round%3), WithPolicy(p))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range 3 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					err := top.Publish(context.Background(), i)
					if err != nil && !errors.Is(err, ErrClosed) {
						t.Errorf("Publish: %v", err)
						return
					}
				}
			})
		}
		// Read a little, then end the subscription in one of three ways
		// while the publishers run.
		for range round % 5 {
			await(t, s.C, "s.C")
		}
		switch round % 3 {
		case 0:
			cancel()
		case 1:
			s.Close()
		case 2:
			go b.Close(context.Background())
		}
		waitClosed(t, s)
		waitDone(t, s)
		close(stop)
		wg.Wait()
		cancel()
		if err := b.Close(testCtx(t)); err != nil {
			var se *ShutdownError
			if !errors.As(err, &se) || se.Cause != nil {
				t.Errorf("Close: %v", err)
			}
		}
		checkBalance(t, b.Stats())
	}
}

// Invariant 3: after a concurrent load, for every subscriber, Published ==
// Delivered + Dropped + Queued, and the counts agree with what the consumers
// saw and with what OnDrop saw.
func TestInvariantAccounting(t *testing.T) {
	b := New()
	topics := []*Topic[int]{mustTopic[int](t, b, "load.a"), mustTopic[int](t, b, "load.b")}
	var (
		mu       sync.Mutex
		received = map[string]int{} // by subscription
		dropped  = map[string]int{}
	)
	count := func(m map[string]int, name string) {
		mu.Lock()
		m[name]++
		mu.Unlock()
	}
	onDrop := func(name string) SubscribeOption {
		return OnDrop(func(Message[int], DropReason) { count(dropped, name) })
	}
	stop := make(chan struct{})
	var consumers sync.WaitGroup
	var chans []*Subscription[int]
	channel := func(pattern, name string, read bool, opts ...SubscribeOption) {
		s, err := Subscribe[int](context.Background(), b, pattern, append(opts, Name(name), onDrop(name))...)
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, s)
		if !read {
			return
		}
		consumers.Go(func() {
			for {
				select {
				case <-s.C:
					count(received, name)
				case <-stop:
					return
				}
			}
		})
	}
	handler := func(pattern, name string, opts ...SubscribeOption) {
		_, err := Handle(context.Background(), b, pattern, func(context.Context, int) error {
			count(received, name)
			runtime.Gosched()
			return nil
		}, append(opts, Name(name), onDrop(name))...)
		if err != nil {
			t.Fatal(err)
		}
	}
	channel("load.a", "block", true, Buffer(4))
	channel("load.a", "newest", true, Buffer(2), WithPolicy(DropNewest()))
	channel("load.a", "oldest", false, Buffer(3), WithPolicy(DropOldest()))
	channel("load.*", "wild-oldest", true, Buffer(2), WithPolicy(DropOldest()))
	channel("load.b", "timeout", true, Buffer(1), WithPolicy(BlockFor(20*time.Microsecond)))
	channel("*.a", "group-1", true, Buffer(2), QueueGroup("g"), WithPolicy(DropNewest()))
	channel("*.a", "group-2", false, Buffer(2), QueueGroup("g"), WithPolicy(DropNewest()))
	handler("load.a", "h-block", Buffer(8))
	handler("load.*", "h-newest", Buffer(2), WithPolicy(DropNewest()))
	handler("load.b", "h-oldest", Buffer(2), WithPolicy(DropOldest()))
	handler("load.a", "hg-1", Buffer(4), QueueGroup("hg"), Concurrency(2))
	handler("load.a", "hg-2", Buffer(4), QueueGroup("hg"))

	const publishers, each = 4, 500
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				var err error
				if i%50 == 0 {
					// PublishSync waits for room in every channel: load.b
					// has no unread one.
					err = topics[1].PublishSync(testCtx(t), i)
				} else {
					err = topics[(p+i)%2].Publish(testCtx(t), i)
				}
				var de *DropError
				if err != nil && !errors.As(err, &de) {
					// A DropError is PublishSync saying that a later
					// publish evicted its message from a DropOldest queue.
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	consumers.Wait()
	// Mid-way check: balance holds with messages still queued.
	checkBalance(t, b.Stats())
	for _, s := range chans {
		for range drained(s) {
			count(received, s.Name())
		}
	}
	waitIdle(t, b)

	st := b.Stats()
	checkBalance(t, st)
	var pubA, pubB uint64
	for _, ts := range st.Topics {
		switch ts.Name {
		case "load.a":
			pubA = ts.Published
		case "load.b":
			pubB = ts.Published
		}
	}
	if pubA+pubB != publishers*each {
		t.Errorf("topics published %d + %d, want %d", pubA, pubB, publishers*each)
	}
	groups := map[string]uint64{}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range st.Subscriptions {
		want := map[string]uint64{"load.a": pubA, "load.b": pubB, "load.*": pubA + pubB, "*.a": pubA}[s.Pattern]
		if s.Group != "" {
			groups[s.Group] += s.Published
		} else if s.Published != want {
			t.Errorf("%s/%s: published %d, want %d", s.Pattern, s.Name, s.Published, want)
		}
		if s.Queued != 0 || s.Delivered != uint64(received[s.Name]) || s.Dropped.Total() != uint64(dropped[s.Name]) {
			t.Errorf("%s: queued %d, delivered %d (consumer saw %d), dropped %d (OnDrop saw %d)",
				s.Name, s.Queued, s.Delivered, received[s.Name], s.Dropped.Total(), dropped[s.Name])
		}
	}
	if d := subStats(t, b, "load.a", "oldest").Dropped[ReasonEvicted]; d == 0 {
		t.Error("the unread DropOldest subscriber dropped nothing: the load did not test drops")
	}
	if groups["g"] != pubA || groups["hg"] != pubA {
		t.Errorf("groups were offered %v, want g=%d hg=%d", groups, pubA, pubA)
	}
	if err := b.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	checkBalance(t, b.Stats())
}

// Invariant 4: a publisher blocked on a full Block subscriber returns when
// the bus closes, even with a context that never ends.
func TestInvariantBlockedPublishHonoursClose(t *testing.T) {
	for _, kind := range []string{"channel", "handler"} {
		t.Run(kind, func(t *testing.T) {
			b := New()
			top := mustTopic[int](t, b, "blocked.close")
			release := make(chan struct{})
			var s *Subscription[int]
			if kind == "channel" {
				s = mustSub(t, top, Buffer(1), Name("s"))
				mustPublish(t, top, 1)
			} else {
				s = stuckHandler(t, top, release, Name("s"))
			}
			published := make(chan error, 1)
			go func() { published <- top.Publish(context.Background(), 2) }()
			waitParked(t, "(*Topic[...]).Publish")
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			closed := make(chan error, 1)
			go func() { closed <- b.Close(ctx) }()
			select {
			case err := <-published:
				if err != nil && !errors.Is(err, ErrClosed) {
					t.Errorf("blocked Publish returned %v", err)
				}
			case <-testCtx(t).Done():
				t.Fatal("a blocked Publish did not return when the bus closed")
			}
			close(release)
			var se *ShutdownError
			if err := await(t, closed, "closed"); !errors.As(err, &se) || len(se.Leftovers) != 1 || se.Leftovers[0].Count != 2 {
				t.Errorf("Close = %v, want 2 messages lost for s", err)
			}
			waitDone(t, s)
			if st := subStats(t, b, "blocked.close", "s"); st.Dropped[ReasonShutdown] != 2 {
				t.Errorf("stats %+v", st)
			}
			checkBalance(t, b.Stats())
		})
	}
}

// Invariant 5: every goroutine the bus starts is gone once Close returns, and
// an idle handler costs no goroutine.
func TestInvariantGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := New()
	top := mustTopic[int](t, b, "goroutines")
	before := runtime.NumGoroutine()
	var handled atomic.Int64
	for i := range 200 {
		if _, err := top.Handle(context.Background(), func(context.Context, int) error {
			handled.Add(1)
			return nil
		}, Name(fmt.Sprint("h", i)), Concurrency(1+i%3)); err != nil {
			t.Fatal(err)
		}
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("200 idle handlers started %d goroutines", n-before)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := top.Subscribe(ctx, Buffer(1000))
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, seq(0, 20)...)
	cancel()
	waitDone(t, s)
	if err := b.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if handled.Load() != 200*20 {
		t.Errorf("handled %d", handled.Load())
	}
}
