package bus

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// collector gathers what handler subscriptions receive.
type collector[T any] struct {
	mu  sync.Mutex
	got map[string][]T // by subscription name
}

func newCollector[T any]() *collector[T] { return &collector[T]{got: map[string][]T{}} }

func (c *collector[T]) handler(name string) func(context.Context, T) error {
	return func(_ context.Context, v T) error {
		c.mu.Lock()
		c.got[name] = append(c.got[name], v)
		c.mu.Unlock()
		return nil
	}
}

func (c *collector[T]) of(name string) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got[name])
}

func TestBroadcast(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "broadcast")
	col := newCollector[int]()
	var chans []*Subscription[int]
	for i := range 3 {
		chans = append(chans, mustSub(t, top, Name(fmt.Sprint("c", i)), Buffer(200)))
		if _, err := top.Handle(testCtx(t), col.handler(fmt.Sprint("h", i)), Name(fmt.Sprint("h", i))); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(t, top, seq(0, 200)...)
	// A channel subscriber has its message once Publish returns; WaitIdle
	// would wait for the channels to be read.
	for i := range 3 {
		if got := drained(chans[i]); !slices.Equal(got, seq(0, 200)) {
			t.Errorf("c%d got %v", i, got)
		}
	}
	waitIdle(t, b)
	for i := range 3 {
		if got := col.of(fmt.Sprint("h", i)); !slices.Equal(got, seq(0, 200)) {
			t.Errorf("h%d got %v", i, got)
		}
	}
	if st := b.Stats().Topics; len(st) != 1 || st[0].Published != 200 || st[0].Subscribers != 6 || st[0].Type != "int" {
		t.Errorf("topic stats %+v", st)
	}
}

// TestQueueGroups: each message goes to exactly one member of each group,
// and every group (and every subscription outside a group) gets every
// message.
func TestQueueGroups(t *testing.T) {
	for _, sync := range []bool{false, true} {
		t.Run(fmt.Sprintf("sync=%v", sync), func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[int](t, b, "work")
			const n = 300
			col := newCollector[int]()
			var g1 []*Subscription[int]
			for i := range 3 {
				g1 = append(g1, mustSub(t, top, QueueGroup("g1"), Name(fmt.Sprint("g1-", i)), Buffer(n)))
			}
			for i := range 2 {
				name := fmt.Sprint("g2-", i)
				if _, err := top.Handle(testCtx(t), col.handler(name), QueueGroup("g2"), Name(name), Buffer(n)); err != nil {
					t.Fatal(err)
				}
			}
			all := mustSub(t, top, Name("all"), Buffer(n))
			for i := range n {
				var err error
				if sync {
					err = top.PublishSync(testCtx(t), i)
				} else {
					err = top.Publish(testCtx(t), i)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			var got1 []int
			for i, s := range g1 {
				part := drained(s)
				if len(part) == 0 {
					t.Errorf("g1-%d got nothing: the group does not split", i)
				}
				if !slices.IsSorted(part) {
					t.Errorf("g1-%d got its share out of order", i)
				}
				got1 = append(got1, part...)
			}
			gotAll := drained(all)
			waitIdle(t, b)
			got2 := append(col.of("g2-0"), col.of("g2-1")...)
			if len(col.of("g2-0")) == 0 || len(col.of("g2-1")) == 0 {
				t.Errorf("g2 split %d/%d", len(col.of("g2-0")), len(col.of("g2-1")))
			}
			for name, got := range map[string][]int{"g1": got1, "g2": got2, "all": gotAll} {
				slices.Sort(got)
				if !slices.Equal(got, seq(0, n)) {
					t.Errorf("%s: got %d messages, want each of %d exactly once", name, len(got), n)
				}
			}
		})
	}
}

// TestQueueGroupSkipsFullMember: a message goes to a member with room
// before it is dropped for a full one.
func TestQueueGroupSkipsFullMember(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "skip")
	a := mustSub(t, top, QueueGroup("g"), Name("a"), Buffer(2), WithPolicy(DropNewest()))
	c := mustSub(t, top, QueueGroup("g"), Name("c"), Buffer(2), WithPolicy(DropNewest()))
	mustPublish(t, top, 1, 2, 3, 4, 5)
	got := append(drained(a), drained(c)...)
	if len(got) != 4 {
		t.Errorf("the group took %v, want 4 messages (2 per member)", got)
	}
	var dropped uint64
	for _, name := range []string{"a", "c"} {
		dropped += subStats(t, b, "skip", name).Dropped[ReasonFull]
	}
	if dropped != 1 {
		t.Errorf("dropped %d, want 1", dropped)
	}
	checkBalance(t, b.Stats())
}

type order struct {
	Customer string
	Seq      int
}

// TestOrderingKey: messages with the same key reach the same member of the
// group, in publish order.
func TestOrderingKey(t *testing.T) {
	key := func(o order) string { return o.Customer }
	for _, kind := range []string{"channel", "handler"} {
		t.Run(kind, func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[order](t, b, "orders")
			const customers, per = 20, 30
			col := newCollector[order]()
			var chans []*Subscription[order]
			for i := range 3 {
				name := fmt.Sprint("m", i)
				opts := []SubscribeOption{QueueGroup("g"), OrderingKey(key), Name(name), Buffer(customers * per)}
				if kind == "channel" {
					chans = append(chans, mustSub(t, top, opts...))
				} else if _, err := top.Handle(testCtx(t), col.handler(name), opts...); err != nil {
					t.Fatal(err)
				}
			}
			for s := range per {
				for c := range customers {
					mustPublish(t, top, order{Customer: fmt.Sprint("cust-", c), Seq: s})
				}
			}
			if kind == "handler" {
				waitIdle(t, b)
			}
			member := map[string]int{} // customer -> member
			used := map[int]bool{}
			total := 0
			for i := range 3 {
				var got []order
				if kind == "channel" {
					got = drained(chans[i])
				} else {
					got = col.of(fmt.Sprint("m", i))
				}
				total += len(got)
				next := map[string]int{}
				for _, o := range got {
					if m, ok := member[o.Customer]; ok && m != i {
						t.Fatalf("%s went to members %d and %d", o.Customer, m, i)
					}
					member[o.Customer] = i
					used[i] = true
					if o.Seq != next[o.Customer] {
						t.Fatalf("member %d got %s #%d, want #%d", i, o.Customer, o.Seq, next[o.Customer])
					}
					next[o.Customer]++
				}
			}
			if total != customers*per {
				t.Errorf("got %d messages, want %d", total, customers*per)
			}
			if len(used) < 2 {
				t.Errorf("%d customers all went to one member", customers)
			}
		})
	}
}

// TestWildcards: '*' and '>' subscriptions get the messages of every topic of
// their type that matches, declared before or after them; topics of another
// type are skipped.
func TestWildcards(t *testing.T) {
	b := newBus(t)
	before := mustTopic[order](t, b, "orders.created")
	star, err := Subscribe[order](context.Background(), b, "orders.*", Name("star"))
	if err != nil {
		t.Fatal(err)
	}
	rest, err := Subscribe[order](context.Background(), b, "orders.>", Name("rest"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := Subscribe[order](context.Background(), b, ">", Name("all"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		topics []string
	)
	_, err = Handle(testCtx(t), b, "*.shipped", func(ctx context.Context, o order) error {
		name, ok := TopicFrom(ctx)
		if !ok {
			t.Error("TopicFrom in a handler: not found")
		}
		mu.Lock()
		topics = append(topics, name)
		mu.Unlock()
		return nil
	}, Name("shipped"))
	if err != nil {
		t.Fatal(err)
	}
	// Declared after the wildcard subscriptions.
	shipped := mustTopic[order](t, b, "orders.shipped")
	deep := mustTopic[order](t, b, "orders.eu.created")
	other := mustTopic[order](t, b, "invoices.shipped")
	count := mustTopic[int](t, b, "orders.count") // another type: skipped
	mustPublish(t, before, order{Seq: 1})
	mustPublish(t, shipped, order{Seq: 2})
	mustPublish(t, deep, order{Seq: 3})
	mustPublish(t, other, order{Seq: 4})
	mustPublish(t, count, 5)

	got := func(s *Subscription[order]) []string {
		var out []string
		for {
			select {
			case m := <-s.C:
				out = append(out, fmt.Sprintf("%s:%d", m.Topic, m.Value.Seq))
				continue
			default:
			}
			return out
		}
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s got %q, want %q", name, got, want)
		}
	}
	check("orders.*", got(star), []string{"orders.created:1", "orders.shipped:2"})
	check("orders.>", got(rest), []string{"orders.created:1", "orders.shipped:2", "orders.eu.created:3"})
	check(">", got(all), []string{"orders.created:1", "orders.shipped:2", "orders.eu.created:3", "invoices.shipped:4"})
	waitIdle(t, b)
	mu.Lock()
	check("*.shipped handler", topics, []string{"orders.shipped", "invoices.shipped"})
	mu.Unlock()

	st := subStats(t, b, "orders.>", "rest")
	if !slices.Equal(st.Topics, []string{"orders.created", "orders.eu.created", "orders.shipped"}) || st.Published != 3 {
		t.Errorf("stats of orders.>: %+v", st)
	}
	for _, ts := range b.Stats().Topics {
		if ts.Name == "orders.count" && (ts.Subscribers != 0 || ts.Unrouted != 1) {
			t.Errorf("orders.count: %+v", ts)
		}
		if ts.Name == "orders.created" && ts.Subscribers != 3 {
			t.Errorf("orders.created: %+v", ts)
		}
	}

	// A subscription that ends leaves its topics.
	star.Close()
	waitClosed(t, star)
	mustPublish(t, shipped, order{Seq: 6})
	check("orders.> after star ended", got(rest), []string{"orders.shipped:6"})
	check("> after star ended", got(all), []string{"orders.shipped:6"})
	if st := subStats(t, b, "orders.*", "star"); st.Active || len(st.Topics) != 0 {
		t.Errorf("ended wildcard subscription: %+v", st)
	}
}

func TestTopicFromOutsideHandler(t *testing.T) {
	if name, ok := TopicFrom(context.Background()); ok || name != "" {
		t.Errorf("TopicFrom(Background) = %q, %v", name, ok)
	}
	if _, ok := TopicFrom(nilCtx()); ok {
		t.Error("TopicFrom(nil) found a topic")
	}
}
