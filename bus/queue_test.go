package bus

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// The tests here are about handler queues (queue.go): order, policies,
// the end, and activations that stop when there is nothing to do.

// queueOf returns s's handler queue.
func queueOf[T any](s *Subscription[T]) *queue[T] { return s.sink.(*queue[T]) }

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

// hold publishes 0, waits until s's gated handler holds it, publishes 1 to
// n-1, and checks that s's queue holds them.
func hold(t *testing.T, top *Topic[int], s *Subscription[int], started <-chan struct{}, n int) {
	t.Helper()
	mustPublish(t, top, 0)
	waitFor(t, started, "the gated handler's first call")
	mustPublish(t, top, seq(1, n)...)
	if q := queueOf(s); q.queued() != uint64(n) {
		t.Fatalf("%s holds %d messages, want %d", s.Name(), q.queued(), n)
	}
}

// Every handler subscriber gets every message once, in each publisher's
// order.
func TestQueueCarriesEveryMessageInOrder(t *testing.T) {
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
	_ = ss
	mustPublish(t, top, -1)
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

// A handler subscriber that falls behind by its buffer has its policy
// applied (here DropNewest with a buffer of 4 keeps 1-4 and drops 5 and 6),
// while the others of the topic get everything.
func TestQueueSlowSubscriberKeepsItsPolicy(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.slow")
	release, free := gate(t)
	started := make(chan struct{})
	slowGot, fastGot := make(chan int, 64), make(chan int, 64)
	var once sync.Once
	_, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
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
	_, err = top.Handle(testCtx(t), func(_ context.Context, v int) error {
		fastGot <- v
		return nil
	}, Name("fast"), Buffer(64))
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 0)
	waitFor(t, started, "the slow handler's first call")
	mustPublish(t, top, 1, 2, 3, 4) // the slow subscriber's buffer
	if st := subStats(t, b, "log.slow", "slow"); st.Dropped.Total() != 0 {
		t.Fatalf("the slow subscriber dropped %v before its buffer was full", st.Dropped)
	}
	mustPublish(t, top, 5, 6)
	free()
	for want := range 5 {
		if v := await(t, slowGot, "the slow handler"); v != want {
			t.Fatalf("slow handler got %d, want %d", v, want)
		}
	}
	// It keeps up now: it gets the next message.
	v := 7
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

// A subscriber with a large buffer behind a slow first call gets every
// message its buffer could hold.
func TestQueueLargeBuffer(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.small")
	release, free := gate(t)
	_, rec, started := gated(t, top, release, Name("big"), Buffer(64), WithPolicy(DropNewest()))
	mustPublish(t, top, 0)
	waitFor(t, started, "the big handler's first call")
	mustPublish(t, top, seq(1, 65)...) // 0 in hand, 1-64 queued: the buffer
	free()
	waitIdle(t, b)
	if got, want := rec.values(), seq(0, 65); !slices.Equal(got, want) {
		t.Errorf("big subscriber handled %v, want %v", got, want)
	}
	if st := subStats(t, b, "log.small", "big"); st.Dropped.Total() != 0 {
		t.Errorf("big subscriber dropped %v, want none", st.Dropped)
	}
	checkBalance(t, b.Stats())
}

// A queue's ring keeps nothing alive once its handler has taken a message.
func TestQueueKeepsNothingAlive(t *testing.T) {
	b := newBus(t)
	top := mustTopic[*int](t, b, "log.alive")
	var ss []*Subscription[*int]
	for i := range 3 {
		s, err := top.Handle(testCtx(t), func(context.Context, *int) error { return nil }, Name(fmt.Sprint("h", i)), Buffer(16))
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	for i := range 100 {
		v := i
		if err := top.Publish(context.Background(), &v); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, b)
	for _, s := range ss {
		q := queueOf(s)
		q.mu.Lock()
		for i, e := range q.ring {
			if e.v != nil || e.hc != nil {
				t.Errorf("%s: slot %d still holds %v, %p", s.Name(), i, *e.v, e.hc)
			}
		}
		for i, e := range q.batch {
			if e.v != nil || e.hc != nil {
				t.Errorf("%s: batch slot %d still holds %v, %p", s.Name(), i, *e.v, e.hc)
			}
		}
		q.mu.Unlock()
	}
}

// A PublishSync to a subscriber with queued messages comes after them.
func TestQueuePublishSyncKeepsOrder(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "log.sync")
	release, free := gate(t)
	s, rec, started := gated(t, top, release, Name("gated"), Buffer(16))
	if _, err := top.Handle(testCtx(t), func(context.Context, int) error { return nil }, Name("other"), Buffer(16)); err != nil {
		t.Fatal(err)
	}
	hold(t, top, s, started, 10)
	done := make(chan error, 1)
	go func() { done <- top.PublishSync(testCtx(t), 10) }()
	free()
	if err := await(t, done, "PublishSync"); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.values(), seq(0, 11); !slices.Equal(got, want) {
		t.Errorf("handled %v, want %v", got, want)
	}
}

// A handler subscription that ends while its queue holds messages counts
// them as dropped for the end's reason and tells OnDrop about each; the
// others are unaffected.
func TestQueueEndCountsWhatItHeld(t *testing.T) {
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
	hold(t, top, s, started, 6)
	s.Close() // the end takes what the queue holds before Close returns
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

// Once a topic is idle, every activation stops and gives its worker back.
func TestQueueActivationsStop(t *testing.T) {
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
	mustPublish(t, top, seq(0, 100)...)
	waitIdle(t, b)
	for _, s := range ss {
		if !queueOf(s).idle() {
			t.Errorf("%s: an activation still runs after WaitIdle", s.Name())
		}
	}
	// A worker parks just after its activation ends: nothing signals it.
	ctx := testCtx(t)
	for workers, idle := b.pool.size(); workers != idle; workers, idle = b.pool.size() {
		if ctx.Err() != nil {
			t.Fatalf("%d workers, %d of them parked: want all parked", workers, idle)
		}
		runtime.Gosched()
	}
}

// With Concurrency(n), n calls run at once: each waits until all n have
// started, which only happens if the queue starts an activation for a
// message while the others are inside their calls (the test publishes the
// others once the first call has begun).
func TestQueueConcurrencyRunsCallsAtOnce(t *testing.T) {
	const n = 4
	b := newBus(t)
	top := mustTopic[int](t, b, "conc")
	var arrived atomic.Int32
	all, first := make(chan struct{}), make(chan struct{})
	done := make(chan error, n)
	ctx := testCtx(t)
	if _, err := top.Handle(ctx, func(_ context.Context, v int) error {
		switch arrived.Add(1) {
		case 1:
			close(first)
		case n:
			close(all)
		}
		select {
		case <-all:
			done <- nil
		case <-ctx.Done():
			done <- fmt.Errorf("call %d: only %d of %d calls ran at once", v, arrived.Load(), n)
		}
		return nil
	}, Concurrency(n)); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 0)
	waitFor(t, first, "the first call")
	mustPublish(t, top, seq(1, n)...)
	for range n {
		if err := await(t, done, "a call"); err != nil {
			t.Fatal(err)
		}
	}
}
