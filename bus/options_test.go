package bus

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBufferOption(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "buffer")
	def := mustSub(t, top, Name("default"))
	three := mustSub(t, top, Name("three"), Buffer(3))
	h, err := top.Handle(testCtx(t), func(context.Context, int) error { return nil }, Name("handler"), Buffer(7))
	if err != nil {
		t.Fatal(err)
	}
	if cap(def.C) != DefaultBuffer || cap(three.C) != 3 || h.C != nil {
		t.Errorf("channel capacities %d, %d, handler C %v", cap(def.C), cap(three.C), h.C)
	}
	for name, want := range map[string]int{"default": DefaultBuffer, "three": 3, "handler": 7} {
		if got := subStats(t, b, "buffer", name).Buffer; got != want {
			t.Errorf("%s: Stats.Buffer = %d, want %d", name, got, want)
		}
	}
}

func namedHandler(context.Context, int) error { return nil }

type service struct{}

func (*service) onEvent(context.Context, int) error { return nil }

// subscribeHere subscribes from a function of its own, which gives the
// default name.
func subscribeHere(t *testing.T, top *Topic[int]) *Subscription[int] {
	t.Helper()
	s, err := top.Subscribe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDefaultNames: a subscription without Name gets one derived from the
// code that subscribed (the handler, or the calling function), the same from
// one run to the next, and unique on its topic.
func TestDefaultNames(t *testing.T) {
	names := func() []string {
		b := New()
		defer b.Close(context.Background())
		top := mustTopic[int](t, b, "names")
		var got []string
		for range 2 {
			got = append(got, subscribeHere(t, top).Name())
		}
		s, err := Subscribe[int](context.Background(), b, "names")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.Name())
		for _, fn := range []func(context.Context, int) error{namedHandler, namedHandler, (&service{}).onEvent} {
			h, err := top.Handle(context.Background(), fn)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, h.Name())
		}
		for range 2 {
			g := mustSub(t, top, QueueGroup("workers"))
			got = append(got, g.Name())
			if st := subStats(t, b, "names", g.Name()); st.Group != "workers" {
				t.Errorf("Stats: Group = %q", st.Group)
			}
		}
		return got
	}
	got := names()
	want := []string{
		"bus.subscribeHere", "bus.subscribeHere#2",
		"bus.TestDefaultNames.func1",
		"bus.namedHandler", "bus.namedHandler#2", "bus.(*service).onEvent",
		"workers", "workers#2",
	}
	if !slices.Equal(got, want) {
		t.Errorf("default names:\n got %q\nwant %q", got, want)
	}
	if again := names(); !slices.Equal(again, got) {
		t.Errorf("default names changed from one bus to the next:\n%q\n%q", got, again)
	}
}

func TestNameOption(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "named")
	s := mustSub(t, top, Name("audit-log"))
	st := subStats(t, b, "named", "audit-log")
	if s.Name() != "audit-log" || s.Pattern() != "named" || st.Group != "" {
		t.Errorf("Name %q Pattern %q Group %q", s.Name(), s.Pattern(), st.Group)
	}
	if !st.Active || st.Handler {
		t.Errorf("stats %+v", st)
	}
}

// TestConcurrencyOption: Concurrency(n) runs up to n calls at once, never
// more; the default runs one at a time, in publish order.
func TestConcurrencyOption(t *testing.T) {
	t.Run("n=3", func(t *testing.T) {
		b := newBus(t)
		top := mustTopic[int](t, b, "conc")
		var running, peak atomic.Int32
		all := make(chan struct{})
		var once sync.Once
		ctx := testCtx(t)
		_, err := top.Handle(ctx, func(context.Context, int) error {
			n := running.Add(1)
			defer running.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			if n == 3 {
				once.Do(func() { close(all) })
			}
			// The first three calls wait for each other: with fewer than
			// three at once this times out.
			select {
			case <-all:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}, Concurrency(3), Name("h"))
		if err != nil {
			t.Fatal(err)
		}
		mustPublish(t, top, seq(0, 30)...)
		waitIdle(t, b)
		if p := peak.Load(); p != 3 {
			t.Errorf("peak concurrency %d, want 3", p)
		}
		st := subStats(t, b, "conc", "h")
		if st.Concurrency != 3 || st.Delivered != 30 || st.Failed != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("default", func(t *testing.T) {
		b := newBus(t)
		top := mustTopic[int](t, b, "conc")
		var (
			running atomic.Int32
			got     []int
		)
		_, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
			if running.Add(1) != 1 {
				t.Error("two calls at once")
			}
			got = append(got, v)
			running.Add(-1)
			return nil
		}, Name("h"))
		if err != nil {
			t.Fatal(err)
		}
		mustPublish(t, top, seq(0, 500)...)
		waitIdle(t, b)
		if !slices.Equal(got, seq(0, 500)) {
			t.Errorf("handled out of order: %v", got)
		}
		if c := subStats(t, b, "conc", "h").Concurrency; c != 1 {
			t.Errorf("Stats.Concurrency = %d", c)
		}
	})
}

// TestHooks: Dropped sees every drop with its reason and correlation ID,
// Ended every end with its cause.
func TestHooks(t *testing.T) {
	var (
		mu    sync.Mutex
		drops []DropEvent
		ends  []EndEvent
	)
	b := New(WithHooks(Hooks{
		Dropped: func(e DropEvent) { mu.Lock(); drops = append(drops, e); mu.Unlock() },
		Ended:   func(e EndEvent) { mu.Lock(); ends = append(ends, e); mu.Unlock() },
	}))
	top := mustTopic[int](t, b, "hooks.a")
	s := mustSub(t, top, Buffer(1), WithPolicy(DropNewest()), Name("s"))
	w, err := Subscribe[int](context.Background(), b, "hooks.*", Name("w"), Buffer(8))
	if err != nil {
		t.Fatal(err)
	}
	id := NewCorrelationID()
	ctx := WithCorrelationID(testCtx(t), id)
	if err := top.Publish(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := top.Publish(ctx, 2); err != nil {
		t.Fatal(err)
	}
	s.Close()
	waitDone(t, s)
	recvN(t, w, 2)
	if err := b.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []DropEvent{
		{Topic: "hooks.a", Subscriber: "s", Pattern: "hooks.a", Reason: ReasonFull, CorrelationID: id},
		{Topic: "hooks.a", Subscriber: "s", Pattern: "hooks.a", Reason: ReasonUnsubscribed, CorrelationID: id},
	}
	if !slices.Equal(drops, want) {
		t.Errorf("Dropped hook saw\n%+v\nwant\n%+v", drops, want)
	}
	if len(ends) != 2 || ends[0].Subscriber != "s" || !errors.Is(ends[0].Err, ErrUnsubscribed) ||
		ends[1].Subscriber != "w" || ends[1].Pattern != "hooks.*" || !errors.Is(ends[1].Err, ErrClosed) {
		t.Errorf("Ended hook saw %+v", ends)
	}
}

func TestSubscriptionEndCauses(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "causes")
	ctx, cancel := context.WithCancel(context.Background())
	byCtx, err := top.Subscribe(ctx, Name("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	byClose := mustSub(t, top, Name("close"))
	if byCtx.Err() != nil || byClose.Err() != nil {
		t.Fatal("Err() of a live subscription is not nil")
	}
	cancel()
	byClose.Close()
	byClose.Close() // closing twice does nothing
	waitClosed(t, byCtx)
	waitClosed(t, byClose)
	if !errors.Is(byCtx.Err(), context.Canceled) {
		t.Errorf("ended by ctx: Err() = %v", byCtx.Err())
	}
	if !errors.Is(byClose.Err(), ErrUnsubscribed) {
		t.Errorf("ended by Close: Err() = %v", byClose.Err())
	}
	// Closing one of two subscriptions (closures both) ends that one only.
	a, c := mustSub(t, top, Name("a")), mustSub(t, top, Name("c"))
	a.Close()
	mustPublish(t, top, 7)
	if v := recv(t, c).Value; v != 7 {
		t.Errorf("c got %d", v)
	}
	if n := waitClosed(t, a); n != 0 {
		t.Errorf("a got %d messages after its Close", n)
	}
	if st := b.Stats().Topics[0]; st.Subscribers != 1 {
		t.Errorf("topic stats %+v, want 1 subscriber", st)
	}
}

func TestCheckSubscribeOptions(t *testing.T) {
	name, err := CheckSubscribeOptions(Name("a"), Buffer(4), Name("b"))
	if name != "b" || err != nil {
		t.Fatalf("CheckSubscribeOptions(Name a, Buffer, Name b) = %q, %v; want \"b\", nil", name, err)
	}
	if name, err := CheckSubscribeOptions(); name != "" || err != nil {
		t.Fatalf("CheckSubscribeOptions() = %q, %v; want \"\", nil", name, err)
	}
	_, err = CheckSubscribeOptions(Concurrency(0), nil, Buffer(-1))
	for _, want := range []string{"concurrency 0", "nil SubscribeOption", "buffer -1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckSubscribeOptions(bad options) = %v; want it to mention %q", err, want)
		}
	}
}
