package bus

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestStatsKeepCountingEndedSubscriptions: an ended subscription stays in
// Stats (Active false), and one subscribing again with the same name goes on
// from its counts.
func TestStatsKeepCountingEndedSubscriptions(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "retired")
	s := mustSub(t, top, Name("x"), Buffer(4))
	mustPublish(t, top, 1, 2, 3)
	recvN(t, s, 3)
	mustPublish(t, top, 4) // left queued: dropped with reason unsubscribed
	s.Close()
	waitDone(t, s)
	st := subStats(t, b, "retired", "x")
	if st.Active || len(st.Topics) != 0 || st.Published != 4 || st.Delivered != 3 || st.Dropped[ReasonUnsubscribed] != 1 || st.Buffer != 4 {
		t.Errorf("ended: %+v", st)
	}
	mustPublish(t, top, 5) // nobody subscribed: unrouted
	s = mustSub(t, top, Name("x"), Buffer(2))
	mustPublish(t, top, 6, 7)
	recvN(t, s, 2)
	st = subStats(t, b, "retired", "x")
	if !st.Active || st.Published != 6 || st.Delivered != 5 || st.Dropped.Total() != 1 || st.Buffer != 2 {
		t.Errorf("subscribed again: %+v", st)
	}
	if n := len(b.Stats().Subscriptions); n != 1 {
		t.Errorf("%d entries for one name", n)
	}
	ts := b.Stats().Topics[0]
	if ts.Published != 7 || ts.Unrouted != 1 || ts.Subscribers != 1 {
		t.Errorf("topic: %+v", ts)
	}
	checkBalance(t, b.Stats())
}

// TestStatsDisconnects: each disconnect is counted, also over
// re-subscriptions.
func TestStatsDisconnects(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "flaky")
	for range 3 {
		s := mustSub(t, top, Name("flaky"), Buffer(1), WithPolicy(DisconnectAfter(1)))
		mustPublish(t, top, 1, 2)
		waitClosed(t, s)
	}
	st := subStats(t, b, "flaky", "flaky")
	if st.Disconnects != 3 || st.Active || st.Published != 6 || st.Dropped[ReasonFull] != 3 || st.Dropped[ReasonDisconnect] != 3 {
		t.Errorf("%+v", st)
	}
	checkBalance(t, b.Stats())
}

// TestStatsShowSlowSubscriber: a subscriber that does not keep up is
// visible in Stats (users of other buses need a goroutine dump to find it).
func TestStatsShowSlowSubscriber(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "slow")
	s := mustSub(t, top, Name("slow"), Buffer(3), WithPolicy(DropNewest()))
	mustPublish(t, top, seq(0, 10)...)
	st := subStats(t, b, "slow", "slow")
	if st.Queued != 3 || st.Delivered != 0 || st.Dropped[ReasonFull] != 7 || st.Published != 10 {
		t.Errorf("%+v", st)
	}
	recvN(t, s, 1)
	if st := subStats(t, b, "slow", "slow"); st.Queued != 2 || st.Delivered != 1 {
		t.Errorf("after one read: %+v", st)
	}
	drained(s)
}

// TestStatsDescribeSubscriptions: the static fields, and the order.
func TestStatsDescribeSubscriptions(t *testing.T) {
	b := newBus(t)
	mustTopic[int](t, b, "z.last")
	top := mustTopic[int](t, b, "a.first")
	mustSub(t, top, Name("b"), WithPolicy(BlockFor(time.Second)))
	mustSub(t, top, Name("a"), QueueGroup("g"))
	if _, err := Handle(context.Background(), b, "a.*", func(context.Context, int) error { return nil },
		Name("h"), Concurrency(4), WithPolicy(DropOldest())); err != nil {
		t.Fatal(err)
	}
	st := b.Stats()
	var names []string
	for _, ts := range st.Topics {
		names = append(names, ts.Name)
	}
	if !slices.Equal(names, []string{"a.first", "z.last"}) {
		t.Errorf("topics in order %v", names)
	}
	var subs []string
	for _, s := range st.Subscriptions {
		subs = append(subs, s.Pattern+"/"+s.Name)
	}
	if !slices.Equal(subs, []string{"a.*/h", "a.first/a", "a.first/b"}) {
		t.Errorf("subscriptions in order %v", subs)
	}
	h, a, bb := st.Subscriptions[0], st.Subscriptions[1], st.Subscriptions[2]
	if !h.Handler || h.Concurrency != 4 || h.Policy != DropOldest() || !slices.Equal(h.Topics, []string{"a.first"}) {
		t.Errorf("handler: %+v", h)
	}
	if a.Handler || a.Group != "g" || a.Concurrency != 0 || a.Policy != Block() {
		t.Errorf("grouped channel: %+v", a)
	}
	if bb.Policy != BlockFor(time.Second) || bb.Buffer != DefaultBuffer {
		t.Errorf("channel: %+v", bb)
	}
	if st.Topics[0].Subscribers != 3 || st.Topics[1].Subscribers != 0 {
		t.Errorf("topic subscribers %+v", st.Topics)
	}
}

// TestDefaultsOption: the bus's default subscribe options apply to every
// subscription, and a subscription's own options override them.
func TestDefaultsOption(t *testing.T) {
	b := newBus(t, Defaults(Buffer(5), WithPolicy(DropNewest())))
	top := mustTopic[int](t, b, "defaults")
	mustSub(t, top, Name("plain"))
	mustSub(t, top, Name("own"), Buffer(9), WithPolicy(Block()))
	if st := subStats(t, b, "defaults", "plain"); st.Buffer != 5 || st.Policy != DropNewest() {
		t.Errorf("defaults not applied: %+v", st)
	}
	if st := subStats(t, b, "defaults", "own"); st.Buffer != 9 || st.Policy != Block() {
		t.Errorf("own options did not override: %+v", st)
	}
	bad := New(Defaults(Buffer(0)))
	defer bad.Close(context.Background())
	if _, err := Subscribe[int](context.Background(), bad, "defaults"); err == nil {
		t.Error("an invalid default option gave no error")
	}
}

func TestUnroutedHook(t *testing.T) {
	var got []string
	b := New(WithHooks(Hooks{Unrouted: func(topic string) { got = append(got, topic) }}))
	defer b.Close(context.Background())
	tp := mustTopic[int](t, b, "lonely")
	for range 2 {
		if err := tp.Publish(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := tp.PublishSync(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != "lonely" {
		t.Fatalf("Unrouted hook saw %q, want 3 times \"lonely\"", got)
	}
}
