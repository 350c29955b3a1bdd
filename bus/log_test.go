package bus

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// The tests here are about the topic's log (log.go): the handler
// subscriptions of one topic share it while they keep up, and leave it for
// their own ring whenever it cannot carry a message as their ring would.
// Each test checks that the queues really were in the log, so that it would
// not pass by testing the rings alone.

// inLog reports whether s is in its topic's log now.
func inLog[T any](top *Topic[T], s *Subscription[T]) bool {
	top.qmu.Lock()
	defer top.qmu.Unlock()
	return s.q.inLog
}

// gate returns a channel for handlers to wait on and a function that closes
// it (once); the test's cleanup closes it too, before the bus closes, so that
// a test that fails early leaves no handler stuck.
func gate(t *testing.T) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(ch) }) }
	t.Cleanup(open)
	return ch, open
}

// recorder is a handler that keeps what it handled, in order.
type recorder struct {
	mu  sync.Mutex
	got []int
}

func (r *recorder) handle(_ context.Context, v int) error {
	r.mu.Lock()
	r.got = append(r.got, v)
	r.mu.Unlock()
	return nil
}

func (r *recorder) values() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// gated subscribes a recorder whose first call waits for release; started
// is closed when that call begins.
func gated(t *testing.T, top *Topic[int], release <-chan struct{}, opts ...SubscribeOption) (s *Subscription[int], rec *recorder, started <-chan struct{}) {
	t.Helper()
	rec = &recorder{}
	first := make(chan struct{})
	var once sync.Once
	s, err := top.Handle(testCtx(t), func(ctx context.Context, v int) error {
		once.Do(func() {
			close(first)
			<-release
		})
		return rec.handle(ctx, v)
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, rec, first
}

// holdInLog publishes 0, waits until s's gated handler holds it, publishes 1
// to n-1, and checks that s is in the log, holding them.
func holdInLog(t *testing.T, top *Topic[int], s *Subscription[int], started <-chan struct{}, n int) {
	t.Helper()
	mustPublish(t, top, 0)
	waitFor(t, started, "the gated handler's first call")
	mustPublish(t, top, seq(1, n)...)
	if !inLog(top, s) {
		t.Fatalf("%s is not in the log", s.Name())
	}
}

// Every subscriber gets every message once, in each publisher's order, while
// the log carries them.
func TestLogCarriesEveryMessageInOrder(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.order")
	const subs, publishers, n = 3, 2, 2000
	recs := make([]*recorder, subs)
	ss := make([]*Subscription[int], subs)
	for i := range recs {
		recs[i] = &recorder{}
		s, err := top.Handle(testCtx(t), recs[i].handle, Name(fmt.Sprint("r", i)), Buffer(64))
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	mustPublish(t, top, -1)
	for i, s := range ss {
		if !inLog(top, s) {
			t.Fatalf("subscriber %d is not in the log after the first publish", i)
		}
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range n {
				if err := top.Publish(context.Background(), p*n+i); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	waitIdle(t, b)
	for i, r := range recs {
		got := r.values()
		if len(got) != 1+publishers*n || got[0] != -1 {
			t.Fatalf("subscriber %d: %d messages, first %v; want %d, first -1", i, len(got), got[:min(len(got), 1)], 1+publishers*n)
		}
		next := make([]int, publishers) // per publisher, the next value expected
		for _, v := range got[1:] {
			p := v / n
			if v%n != next[p] {
				t.Fatalf("subscriber %d: got %d from publisher %d, want %d", i, v, p, p*n+next[p])
			}
			next[p]++
		}
	}
	checkBalance(t, b.Stats())
}

// A subscriber that falls behind by its buffer leaves the log: its own ring
// and its policy take over, exactly as if it had never been in the log (here
// DropNewest with a buffer of 4 keeps 1-4 and drops 5 and 6), while the
// others stay in the log; once it keeps up again, it comes back.
func TestLogSlowSubscriberLeavesAndRejoins(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.slow")
	release, free := gate(t)
	started := make(chan struct{})
	slowGot, fastGot := make(chan int, 64), make(chan int, 64)
	var once sync.Once
	slow, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		once.Do(func() {
			close(started)
			<-release
		})
		slowGot <- v
		return nil
	}, Name("slow"), Buffer(4), WithPolicy(DropNewest()))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		fastGot <- v
		return nil
	}, Name("fast"), Buffer(64))
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 0)
	waitFor(t, started, "the slow handler's first call")
	mustPublish(t, top, 1, 2, 3, 4) // the slow subscriber's buffer
	if !inLog(top, slow) {
		t.Fatal("the slow subscriber left the log before its buffer was full")
	}
	mustPublish(t, top, 5, 6)
	if inLog(top, slow) {
		t.Fatal("the slow subscriber is still in the log with a full buffer")
	}
	if !inLog(top, fast) {
		t.Fatal("the fast subscriber left the log")
	}
	free()
	for want := range 5 {
		if v := await(t, slowGot, "the slow handler"); v != want {
			t.Fatalf("slow handler got %d, want %d", v, want)
		}
	}
	// It keeps up now (one message at a time): it comes back within
	// joinEvery messages.
	v := 7
	for ; !inLog(top, slow); v++ {
		if v > 7+2*joinEvery {
			t.Fatalf("the slow subscriber did not come back to the log within %d messages", v-7)
		}
		mustPublish(t, top, v)
		if got := await(t, slowGot, "the slow handler"); got != v {
			t.Fatalf("slow handler got %d, want %d", got, v)
		}
	}
	mustPublish(t, top, v)
	if got := await(t, slowGot, "the slow handler"); got != v {
		t.Fatalf("slow handler got %d, want %d", got, v)
	}
	for want := 0; want <= v; want++ {
		if got := await(t, fastGot, "the fast handler"); got != want {
			t.Fatalf("fast handler got %d, want %d", got, want)
		}
	}
	waitIdle(t, b)
	if st := subStats(t, b, "log.slow", "slow"); st.Dropped[ReasonFull] != 2 || st.Dropped.Total() != 2 {
		t.Errorf("slow subscriber dropped %v, want 2 full", st.Dropped)
	}
	if st := subStats(t, b, "log.slow", "fast"); st.Dropped.Total() != 0 {
		t.Errorf("fast subscriber dropped %v, want none", st.Dropped)
	}
	checkBalance(t, b.Stats())
}

// A subscriber whose buffer is larger than the log leaves it when it lags by
// the log's size, and its own ring holds the rest: it gets every message
// that its buffer could hold, and the log never overwrites one it has not
// taken.
func TestLogSmallerThanBuffer(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.small")
	for i := range 2 {
		if _, err := top.Handle(testCtx(t), func(context.Context, int) error { return nil }, Name(fmt.Sprint("small", i)), Buffer(4)); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(t, top, -1) // makes a log of 4 slots
	release, free := gate(t)
	big, rec, started := gated(t, top, release, Name("big"), Buffer(64), WithPolicy(DropNewest()))
	mustPublish(t, top, 0)
	waitFor(t, started, "the big handler's first call")
	top.qmu.Lock()
	size, lim, in := 0, big.q.lim, big.q.inLog
	if top.lg != nil {
		size = len(top.lg.slots)
	}
	top.qmu.Unlock()
	if size != 4 || lim != 4 || !in {
		t.Fatalf("log of %d slots, big subscriber in it: %v, lagging by %d at most; want 4, true, 4", size, in, lim)
	}
	mustPublish(t, top, seq(1, 64)...) // 0 in hand, 1-63 queued: within the buffer
	free()
	waitIdle(t, b)
	if got, want := rec.values(), seq(0, 64); !slices.Equal(got, want) {
		t.Errorf("big subscriber handled %v, want %v", got, want)
	}
	if st := subStats(t, b, "log.small", "big"); st.Dropped.Total() != 0 {
		t.Errorf("big subscriber dropped %v, want none", st.Dropped)
	}
	checkBalance(t, b.Stats())
}

// A slot keeps nothing alive once every subscriber has taken it.
func TestLogKeepsNothingAlive(t *testing.T) {
	b := newBus(t)
	top := mustTopic[*int](t, b, "log.alive")
	for i := range 3 {
		if _, err := top.Handle(testCtx(t), func(context.Context, *int) error { return nil }, Name(fmt.Sprint("h", i)), Buffer(16)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 100 {
		v := i
		if err := top.Publish(context.Background(), &v); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, b)
	top.qmu.Lock()
	lg := top.lg
	top.qmu.Unlock()
	if lg == nil || lg.cursor.Load() == 0 {
		t.Fatal("the log carried nothing")
	}
	for i := range lg.slots {
		if e := &lg.slots[i]; e.v != nil || e.hc != nil {
			t.Errorf("slot %d still holds %v, %p", i, *e.v, e.hc)
		}
	}
}

// A PublishSync (or any delivery that does not go through the log) to a
// subscriber in the log comes after what the log holds for it.
func TestLogPublishSyncKeepsOrder(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.sync")
	release, free := gate(t)
	s, rec, started := gated(t, top, release, Name("gated"), Buffer(16))
	if _, err := top.Handle(testCtx(t), func(context.Context, int) error { return nil }, Name("other"), Buffer(16)); err != nil {
		t.Fatal(err)
	}
	holdInLog(t, top, s, started, 10)
	done := make(chan error, 1)
	go func() { done <- top.PublishSync(testCtx(t), 10) }()
	// PublishSync takes the subscriber out of the log before it puts 10 in
	// its ring; only then may the handler go on.
	ctx := testCtx(t)
	for inLog(top, s) {
		if ctx.Err() != nil {
			t.Fatal("PublishSync did not take the subscriber out of the log")
		}
		runtime.Gosched() // nothing to wait on but the flag
	}
	free()
	if err := await(t, done, "PublishSync"); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.values(), seq(0, 11); !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
}

// A subscription that ends while the log holds messages for it counts them
// as dropped for the end's reason and tells OnDrop about each; the others
// are unaffected.
func TestLogEndCountsWhatItHeld(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.end")
	release, free := gate(t)
	var mu sync.Mutex
	var dropped []int
	s, _, started := gated(t, top, release, Name("leaving"), Buffer(16), OnDrop(func(m Message[int], r DropReason) {
		mu.Lock()
		defer mu.Unlock()
		if r == ReasonUnsubscribed {
			dropped = append(dropped, m.Value)
		}
	}))
	rec := &recorder{}
	if _, err := top.Handle(testCtx(t), rec.handle, Name("staying"), Buffer(16)); err != nil {
		t.Fatal(err)
	}
	holdInLog(t, top, s, started, 6)
	s.Close() // the end takes what the log holds for it before Close returns
	free()
	waitDone(t, s)
	mustPublish(t, top, 6)
	waitIdle(t, b)
	mu.Lock()
	got := slices.Clone(dropped)
	mu.Unlock()
	if want := seq(1, 6); !slices.Equal(got, want) {
		t.Errorf("OnDrop saw %v, want %v", got, want)
	}
	if st := subStats(t, b, "log.end", "leaving"); st.Dropped[ReasonUnsubscribed] != 5 {
		t.Errorf("leaving subscriber dropped %v, want 5 unsubscribed", st.Dropped)
	}
	if got, want := rec.values(), seq(0, 7); !slices.Equal(got, want) {
		t.Errorf("staying subscriber handled %v, want %v", got, want)
	}
	checkBalance(t, b.Stats())
}

// Once a topic is idle, every activation stops: none spins on the log or on
// its ring, and each gives its worker back.
func TestLogActivationsStop(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.stop")
	ss := make([]*Subscription[int], 3)
	for i := range ss {
		s, err := top.Handle(testCtx(t), func(context.Context, int) error { return nil }, Name(fmt.Sprint("h", i)), Buffer(8))
		if err != nil {
			t.Fatal(err)
		}
		ss[i] = s
	}
	mustPublish(t, top, 0)
	for _, s := range ss {
		if !inLog(top, s) {
			t.Fatalf("%s is not in the log after the first publish", s.Name())
		}
	}
	mustPublish(t, top, seq(1, 100)...)
	waitIdle(t, b)
	ctx := testCtx(t)
	for _, s := range ss {
		for s.q.state.Load() != 0 || s.q.active.Load() != 0 {
			if ctx.Err() != nil {
				t.Fatalf("%s: the activation did not stop (state %d, active %d)", s.Name(), s.q.state.Load(), s.q.active.Load())
			}
			runtime.Gosched() // nothing to wait on but the counters
		}
	}
}
