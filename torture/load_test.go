package torture

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// msg is what TestLoad publishes. ID numbers the messages of one topic from
// 1, so that a subscriber's record can say which of them it saw; Seq numbers
// one publisher's messages, and Key (the publisher) is the ordering key.
type msg struct {
	Topic int
	ID    uint64
	Pub   int
	Seq   uint64
	Key   string
}

// The topics of TestLoad: loadTopics topics "load.t<i>" that publishers
// publish to with Publish, and one, "sync.t", with PublishSync.
const (
	loadTopics = 3
	syncTopic  = loadTopics
	numTopics  = loadTopics + 1
)

func topicName(i int) string {
	if i == syncTopic {
		return "sync.t"
	}
	return fmt.Sprintf("load.t%d", i)
}

// bitset is a growable set of message IDs.
type bitset []uint64

func (b *bitset) has(i uint64) bool {
	w := i / 64
	return w < uint64(len(*b)) && (*b)[w]&(1<<(i%64)) != 0
}

func (b *bitset) set(i uint64) {
	w := i / 64
	if w >= uint64(len(*b)) {
		nb := make(bitset, max(2*len(*b), int(w)+1))
		copy(nb, *b)
		*b = nb
	}
	(*b)[w] |= 1 << (i % 64)
}

func (b bitset) count() uint64 {
	var n int
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return uint64(n)
}

// overlap returns an ID in both sets, or 0.
func (b bitset) overlap(o bitset) uint64 {
	for i := range min(len(b), len(o)) {
		if x := b[i] & o[i]; x != 0 {
			return uint64(i*64 + bits.TrailingZeros64(x))
		}
	}
	return 0
}

// ledger is one subscriber's own record, independent of the bus's counters:
// every message it received and every message OnDrop reported, by ID.
type ledger struct {
	name    string
	ordered bool // one call at a time: per publisher, Seq must grow
	errs    *limiter

	mu       sync.Mutex
	seen     [numTopics]bitset // received or dropped
	received uint64
	drops    [16]uint64 // by bus.DropReason
	canceled [][2]uint64
	lastSeq  map[[2]int]uint64
	lastID   [numTopics]uint64
}

func newLedger(name string, ordered bool, errs *limiter) *ledger {
	return &ledger{name: name, ordered: ordered, errs: errs, lastSeq: map[[2]int]uint64{}}
}

func (l *ledger) mark(m msg) bool {
	if l.seen[m.Topic].has(m.ID) {
		l.errs.Errorf("%s: message %s/%d received or dropped twice", l.name, topicName(m.Topic), m.ID)
		return false
	}
	l.seen[m.Topic].set(m.ID)
	l.lastID[m.Topic] = max(l.lastID[m.Topic], m.ID)
	return true
}

func (l *ledger) got(m msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.mark(m) {
		return
	}
	l.received++
	if l.ordered {
		k := [2]int{m.Topic, m.Pub}
		if last := l.lastSeq[k]; m.Seq <= last {
			l.errs.Errorf("%s: publisher %d's message %d on %s arrived after its message %d",
				l.name, m.Pub, m.Seq, topicName(m.Topic), last)
		}
		l.lastSeq[k] = m.Seq
	}
}

func (l *ledger) dropped(m bus.Message[msg], r bus.DropReason) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if m.Value.Topic < 0 || m.Value.Topic >= numTopics || topicName(m.Value.Topic) != m.Topic {
		l.errs.Errorf("%s: OnDrop got a message of topic %q that says it is of %d", l.name, m.Topic, m.Value.Topic)
		return
	}
	if !l.mark(m.Value) {
		return
	}
	l.drops[r]++
	if r == bus.ReasonCanceled {
		l.canceled = append(l.canceled, [2]uint64{uint64(m.Value.Topic), m.Value.ID})
	}
}

func (l *ledger) dropCounts() bus.DropCounts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := bus.DropCounts{}
	for r, n := range l.drops {
		if n > 0 {
			c[bus.DropReason(r)] = n
		}
	}
	return c
}

// consumer is one subscriber of TestLoad, stable or churning.
type consumer struct {
	name    string
	pattern string
	topics  []int
	handler bool
	conc    int
	policy  bus.Policy
	buffer  int
	group   string
	keyed   bool
	slow    int  // runtime.Gosched calls per message: a slow consumer
	churn   bool // joined after the start or left before the end
	led     *ledger

	disconnects int // seen by the consumer (ErrDisconnected)
}

func (c *consumer) opts() []bus.SubscribeOption {
	o := []bus.SubscribeOption{
		bus.Name(c.name), bus.WithPolicy(c.policy), bus.Buffer(c.buffer),
		bus.OnDrop(c.led.dropped),
	}
	if c.handler {
		o = append(o, bus.Concurrency(c.conc))
	}
	if c.group != "" {
		o = append(o, bus.QueueGroup(c.group))
	}
	if c.keyed {
		o = append(o, bus.OrderingKey(func(m msg) string { return m.Key }))
	}
	return o
}

func (c *consumer) work() {
	for range c.slow {
		runtime.Gosched()
	}
}

// allowed returns the drop reasons that the consumer's policy, shape and
// lifetime explain. Nothing else may be dropped: in particular a Block
// subscriber drops only what a cancelled publisher gave up on, or what was
// queued when it left.
func (c *consumer) allowed() []bus.DropReason {
	var r []bus.DropReason
	onSync := slices.Contains(c.topics, syncTopic)
	switch s := c.policy.String(); {
	case s == "block":
		r = append(r, bus.ReasonCanceled)
	case strings.HasPrefix(s, "block:"):
		r = append(r, bus.ReasonCanceled, bus.ReasonTimeout)
	case s == "drop-newest":
		r = append(r, bus.ReasonFull)
	case s == "drop-oldest":
		r = append(r, bus.ReasonEvicted)
		if !c.handler {
			// A channel's eviction races with its reader: after a few
			// tries the message is dropped as full instead.
			r = append(r, bus.ReasonFull)
		}
	case strings.HasPrefix(s, "disconnect:"):
		r = append(r, bus.ReasonFull, bus.ReasonDisconnect)
	}
	if onSync {
		r = append(r, bus.ReasonCanceled) // PublishSync waits whatever the policy
	}
	if c.churn {
		r = append(r, bus.ReasonUnsubscribed)
	}
	return r
}

// pubsPerTopic is how many goroutines publish to each topic.
const pubsPerTopic = 4

// loadRun is one run of TestLoad at one GOMAXPROCS.
type loadRun struct {
	t    *testing.T
	b    *bus.Bus
	errs *limiter
	ctx  context.Context // the run's deadline

	topics [numTopics]*bus.Topic[msg]
	ids    [numTopics]atomic.Uint64 // last ID handed out per topic

	mu        sync.Mutex
	consumers []*consumer
	erred     [numTopics]map[uint64]bool // IDs whose publish returned an error

	published    atomic.Uint64
	publishErrs  atomic.Uint64
	keyOwnerMu   sync.Mutex
	keyOwner     map[[2]int]string // (topic, publisher) -> member of the keyed group
	stopPub      atomic.Bool
	stopChurn    chan struct{}
	closing      atomic.Bool
	churned      atomic.Int64
	disconnected atomic.Int64
}

func (r *loadRun) add(c *consumer) {
	r.mu.Lock()
	r.consumers = append(r.consumers, c)
	r.mu.Unlock()
}

// receive records m for c, and checks the keyed group's routing.
func (r *loadRun) receive(c *consumer, m msg) {
	c.led.got(m)
	if c.keyed {
		k := [2]int{m.Topic, m.Pub}
		r.keyOwnerMu.Lock()
		owner, ok := r.keyOwner[k]
		if !ok {
			r.keyOwner[k] = c.name
		}
		r.keyOwnerMu.Unlock()
		if ok && owner != c.name {
			r.errs.Errorf("key %q of %s went to %s and to %s, in a group whose membership did not change",
				m.Key, topicName(m.Topic), owner, c.name)
		}
	}
	c.work()
}

// stable returns the subscribers that live from before the first publish
// to the bus's close (DisconnectAfter ones subscribe again when
// disconnected).
func stableConsumers(errs *limiter) []*consumer {
	var cs []*consumer
	add := func(c consumer) {
		c.led = newLedger(c.name, c.conc <= 1, errs)
		cs = append(cs, &c)
	}
	for i := range loadTopics {
		p, ts := topicName(i), []int{i}
		add(consumer{name: "chan-block", pattern: p, topics: ts, policy: bus.Block(), buffer: 8})
		add(consumer{name: "chan-blockfor", pattern: p, topics: ts, policy: bus.BlockFor(200 * time.Microsecond), buffer: 4, slow: 2})
		add(consumer{name: "chan-newest", pattern: p, topics: ts, policy: bus.DropNewest(), buffer: 4, slow: 4})
		add(consumer{name: "chan-oldest", pattern: p, topics: ts, policy: bus.DropOldest(), buffer: 4, slow: 4})
		add(consumer{name: "chan-disconnect", pattern: p, topics: ts, policy: bus.DisconnectAfter(3), buffer: 2, slow: 8})
		add(consumer{name: "h1-block", pattern: p, topics: ts, handler: true, conc: 1, policy: bus.Block(), buffer: 16})
		add(consumer{name: "h4-block", pattern: p, topics: ts, handler: true, conc: 4, policy: bus.Block(), buffer: 16})
		add(consumer{name: "h1-oldest", pattern: p, topics: ts, handler: true, conc: 1, policy: bus.DropOldest(), buffer: 4, slow: 4})
		add(consumer{name: "h3-newest", pattern: p, topics: ts, handler: true, conc: 3, policy: bus.DropNewest(), buffer: 4, slow: 4})
		add(consumer{name: "h1-disconnect", pattern: p, topics: ts, handler: true, conc: 1, policy: bus.DisconnectAfter(4), buffer: 2, slow: 8})
		// A queue group without ordering key, and one with.
		add(consumer{name: "g-chan1", pattern: p, topics: ts, group: "g", policy: bus.Block(), buffer: 4})
		add(consumer{name: "g-chan2", pattern: p, topics: ts, group: "g", policy: bus.Block(), buffer: 4, slow: 2})
		add(consumer{name: "g-h1", pattern: p, topics: ts, group: "g", handler: true, conc: 1, policy: bus.Block(), buffer: 4})
		add(consumer{name: "k-chan1", pattern: p, topics: ts, group: "k", keyed: true, policy: bus.Block(), buffer: 4})
		add(consumer{name: "k-chan2", pattern: p, topics: ts, group: "k", keyed: true, policy: bus.Block(), buffer: 4, slow: 2})
		add(consumer{name: "k-h1", pattern: p, topics: ts, group: "k", keyed: true, handler: true, conc: 1, policy: bus.Block(), buffer: 4})
	}
	all := []int{}
	for i := range loadTopics {
		all = append(all, i)
	}
	add(consumer{name: "w-block", pattern: "load.*", topics: all, policy: bus.Block(), buffer: 16})
	add(consumer{name: "w-oldest", pattern: "load.*", topics: all, policy: bus.DropOldest(), buffer: 4, slow: 4})
	add(consumer{name: "w-h3", pattern: "load.>", topics: all, handler: true, conc: 3, policy: bus.BlockFor(time.Millisecond), buffer: 8})
	// PublishSync's topic: it waits for room whatever the policy.
	st := []int{syncTopic}
	add(consumer{name: "s-chan", pattern: "sync.t", topics: st, policy: bus.Block(), buffer: 4})
	add(consumer{name: "s-h2-newest", pattern: "sync.t", topics: st, handler: true, conc: 2, policy: bus.DropNewest(), buffer: 2, slow: 2})
	add(consumer{name: "s-h1", pattern: "sync.t", topics: st, handler: true, conc: 1, policy: bus.Block(), buffer: 4})
	return cs
}

// subscribe subscribes c once. For a channel subscriber it returns the
// subscription's channel; for a handler, nil.
func (r *loadRun) subscribe(ctx context.Context, c *consumer) (*bus.Subscription[msg], error) {
	if c.handler {
		return bus.Handle(ctx, r.b, c.pattern, func(_ context.Context, m msg) error {
			r.receive(c, m)
			return nil
		}, c.opts()...)
	}
	return bus.Subscribe[msg](ctx, r.b, c.pattern, c.opts()...)
}

// runStable runs a stable consumer until the bus closes. A disconnected
// one subscribes again under the same name, whose stats keep counting.
func (r *loadRun) runStable(c *consumer, s *bus.Subscription[msg]) {
	for {
		if c.handler {
			select {
			case <-s.Done():
			case <-r.ctx.Done():
				r.errs.Errorf("%s/%s: not done when the run's deadline passed", c.pattern, c.name)
				return
			}
		} else {
			if !r.drain(c, s) {
				return
			}
		}
		err := s.Err()
		if !errors.Is(err, bus.ErrDisconnected) {
			if !errors.Is(err, bus.ErrClosed) {
				r.errs.Errorf("%s/%s ended with %v, want bus.ErrClosed or bus.ErrDisconnected", c.pattern, c.name, err)
			}
			return
		}
		if !strings.HasPrefix(c.policy.String(), "disconnect:") {
			r.errs.Errorf("%s/%s (%s) was disconnected", c.pattern, c.name, c.policy)
		}
		c.disconnects++
		r.disconnected.Add(1)
		var serr error
		s, serr = r.subscribe(context.Background(), c)
		if serr != nil {
			if !r.closing.Load() || !errors.Is(serr, bus.ErrClosed) {
				r.errs.Errorf("%s/%s: subscribing again after a disconnect: %v", c.pattern, c.name, serr)
			}
			return
		}
	}
}

// drain receives from s until its channel closes; false if the run's
// deadline passed first.
func (r *loadRun) drain(c *consumer, s *bus.Subscription[msg]) bool {
	for {
		select {
		case m, ok := <-s.C:
			if !ok {
				return true
			}
			r.receive(c, m.Value)
		case <-r.ctx.Done():
			r.errs.Errorf("%s/%s: channel not closed when the run's deadline passed", c.pattern, c.name)
			return false
		}
	}
}

// churn subscribes and unsubscribes consumers of random shape and policy
// until stopChurn is closed. Each lives for a random number of messages and
// leaves by Close or by its context's end.
func (r *loadRun) churn(id int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(id)))
	policies := []bus.Policy{bus.Block(), bus.BlockFor(100 * time.Microsecond), bus.DropNewest(), bus.DropOldest(), bus.DisconnectAfter(2)}
	for n := 0; ; n++ {
		select {
		case <-r.stopChurn:
			return
		default:
		}
		c := &consumer{
			name:    fmt.Sprintf("churn-%d-%d", id, n),
			handler: rng.IntN(2) == 0,
			conc:    1 + rng.IntN(3),
			policy:  policies[rng.IntN(len(policies))],
			buffer:  1 + rng.IntN(8),
			slow:    rng.IntN(4),
			churn:   true,
		}
		if !c.handler {
			c.conc = 0
		}
		switch k := rng.IntN(loadTopics + 1); k {
		case loadTopics:
			c.pattern = "load.*"
			for i := range loadTopics {
				c.topics = append(c.topics, i)
			}
		default:
			c.pattern, c.topics = topicName(k), []int{k}
			if rng.IntN(4) == 0 {
				// A member that joins and leaves the group without
				// ordering key while the others go on: the group must
				// still account for every message once
				// (TestQueueGroupMemberLeavesMidPublish).
				c.group = "g"
			}
		}
		c.led = newLedger(c.name, c.conc <= 1, r.errs)
		want := 1 + rng.IntN(64)
		ctx, cancel := context.WithCancel(context.Background())
		reached := make(chan struct{})
		var count atomic.Int64
		var s *bus.Subscription[msg]
		var err error
		if c.handler {
			s, err = bus.Handle(ctx, r.b, c.pattern, func(_ context.Context, m msg) error {
				r.receive(c, m)
				if count.Add(1) == int64(want) {
					close(reached)
				}
				return nil
			}, c.opts()...)
		} else {
			s, err = bus.Subscribe[msg](ctx, r.b, c.pattern, c.opts()...)
		}
		if err != nil {
			cancel()
			r.errs.Errorf("churn %s on %s: %v", c.name, c.pattern, err)
			return
		}
		r.add(c)
		r.churned.Add(1)
		if c.handler {
			select {
			case <-reached:
			case <-s.Done(): // disconnected
			case <-r.stopChurn:
			}
		} else {
		recv:
			for range want {
				select {
				case m, ok := <-s.C:
					if !ok {
						break recv // disconnected
					}
					r.receive(c, m.Value)
				case <-r.stopChurn:
					break recv
				}
			}
		}
		// Leave, one way or the other, while publishers go on.
		if rng.IntN(2) == 0 {
			s.Close()
		} else {
			cancel()
		}
		if !c.handler && !r.drain(c, s) {
			cancel()
			return
		}
		select {
		case <-s.Done():
		case <-r.ctx.Done():
			r.errs.Errorf("churn %s: not done when the run's deadline passed", c.name)
		}
		cancel()
		if err := s.Err(); errors.Is(err, bus.ErrDisconnected) {
			c.disconnects++
		} else if !errors.Is(err, bus.ErrUnsubscribed) && !errors.Is(err, context.Canceled) {
			r.errs.Errorf("churn %s ended with %v, want ErrUnsubscribed, context.Canceled or ErrDisconnected", c.name, err)
		}
	}
}

// publish publishes until stopPub, one message at a time, to topic ti.
// About one publish in eight gets a context that ends within a fraction of
// a millisecond, often while the publish waits for a Block subscriber; one
// in 64 a context that has already ended.
func (r *loadRun) publish(ti, pub int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, uint64(1000+pub)))
	top := r.topics[ti]
	key := fmt.Sprint("p", pub)
	for seq := uint64(1); !r.stopPub.Load(); seq++ {
		m := msg{Topic: ti, ID: r.ids[ti].Add(1), Pub: pub, Seq: seq, Key: key}
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		switch rng.IntN(64) {
		case 0:
			ctx, cancel = context.WithCancel(ctx)
			cancel()
		case 1, 2, 3, 4, 5, 6, 7, 8:
			ctx, cancel = context.WithTimeout(ctx, time.Duration(rng.IntN(300))*time.Microsecond)
		}
		var err error
		if ti == syncTopic {
			if rng.IntN(8) != 0 { // PublishSync must not wait forever
				cancel()
				ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
			}
			err = top.PublishSync(ctx, m)
		} else {
			err = top.Publish(ctx, m)
		}
		cancel()
		r.published.Add(1)
		if err == nil {
			continue
		}
		r.publishErrs.Add(1)
		var de *bus.DropError
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &de) {
			r.errs.Errorf("publish %s/%d: unexpected error %v", topicName(ti), m.ID, err)
		}
		r.mu.Lock()
		r.erred[ti][m.ID] = true
		r.mu.Unlock()
	}
}

// TestLoad is the stress test: see the package documentation.
func TestLoad(t *testing.T) {
	total := *loadDuration
	if testing.Short() && !flagSet("torture.duration") {
		total = 3 * time.Second
	}
	procs := []int{1, 2, 8}
	for _, p := range procs {
		t.Run(fmt.Sprint("GOMAXPROCS=", p), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(p))
			runLoad(t, total/time.Duration(len(procs)))
		})
	}
}

func runLoad(t *testing.T, d time.Duration) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d, %v of load", seed, d)
	// The whole run, publishing, draining and checking, must fit in this.
	ctx := deadline(t, d+60*time.Second)
	r := &loadRun{
		t: t, b: bus.New(), errs: &limiter{t: t}, ctx: ctx,
		keyOwner: map[[2]int]string{}, stopChurn: make(chan struct{}),
	}
	for i := range numTopics {
		top, err := bus.NewTopic[msg](r.b, topicName(i))
		if err != nil {
			t.Fatal(err)
		}
		r.topics[i] = top
		r.erred[i] = map[uint64]bool{}
	}

	var consumers sync.WaitGroup
	for _, c := range stableConsumers(r.errs) {
		s, err := r.subscribe(context.Background(), c)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.pattern, c.name, err)
		}
		r.add(c)
		consumers.Go(func() { r.runStable(c, s) })
	}

	start := time.Now()
	var pubs, churners sync.WaitGroup
	n := 0
	for ti := range numTopics {
		for range pubsPerTopic {
			pub := n
			n++
			pubs.Go(func() { r.publish(ti, pub, seed) })
		}
	}
	for i := range 4 {
		churners.Go(func() { r.churn(i, seed) })
	}
	// The one place this suite waits on the clock: the load's duration.
	stop := time.NewTimer(d)
	select {
	case <-stop.C:
	case <-ctx.Done():
	}
	r.stopPub.Store(true)
	waitGroup(t, ctx, &pubs, "publishers")
	elapsed := time.Since(start)
	close(r.stopChurn)
	waitGroup(t, ctx, &churners, "churning subscribers")

	// Publishing has stopped: every subscriber must balance, with nothing
	// left queued once the bus is idle.
	if err := r.b.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle after the load: %v", err)
	}
	before := r.b.Stats()
	checkBalance(t, before)
	for _, s := range before.Subscriptions {
		if s.Queued != 0 {
			t.Errorf("%s/%s: %d queued after WaitIdle", s.Pattern, s.Name, s.Queued)
		}
	}

	r.closing.Store(true)
	if err := closeBus(t, r.b, 30*time.Second); err != nil {
		t.Errorf("Close after WaitIdle: %v", err)
	}
	waitGroup(t, ctx, &consumers, "stable consumers")
	r.check(t, elapsed)
}

// check compares every consumer's ledger with the bus's final stats.
func (r *loadRun) check(t *testing.T, elapsed time.Duration) {
	st := r.b.Stats()
	checkBalance(t, st)
	var n [numTopics]uint64 // messages per topic
	for i := range numTopics {
		n[i] = r.ids[i].Load()
		ts := st.Topics[slices.IndexFunc(st.Topics, func(ts bus.TopicStats) bool { return ts.Name == topicName(i) })]
		if ts.Published != n[i] || ts.Unrouted != 0 {
			t.Errorf("topic %s: published %d (unrouted %d), the publishers made %d", ts.Name, ts.Published, ts.Unrouted, n[i])
		}
	}
	var delivered uint64
	dropped := bus.DropCounts{}
	type groupKey struct {
		topic int
		group string
	}
	groups := map[groupKey][]*consumer{}
	for _, c := range r.consumers {
		s := subStats(t, st, c.pattern, c.name)
		delivered += s.Delivered
		for k, v := range s.Dropped {
			dropped[k] += v
		}
		l := c.led
		if l.received != s.Delivered {
			t.Errorf("%s/%s (%s): received %d, Stats says delivered %d", c.pattern, c.name, c.policy, l.received, s.Delivered)
		}
		if got := l.dropCounts(); !maps(got, s.Dropped) {
			t.Errorf("%s/%s (%s): OnDrop counted %v, Stats says %v", c.pattern, c.name, c.policy, got, s.Dropped)
		}
		if s.Queued != 0 || s.Active {
			t.Errorf("%s/%s: queued %d, active %v after Close", c.pattern, c.name, s.Queued, s.Active)
		}
		if s.Disconnects != uint64(c.disconnects) {
			t.Errorf("%s/%s: Stats counts %d disconnects, the consumer saw %d", c.pattern, c.name, s.Disconnects, c.disconnects)
		}
		ok := c.allowed()
		for reason, v := range s.Dropped {
			if v > 0 && !slices.Contains(ok, reason) {
				t.Errorf("%s/%s (%s, handler %v, churn %v): %d dropped with reason %s, which its policy and lifetime do not explain",
					c.pattern, c.name, c.policy, c.handler, c.churn, v, reason)
			}
		}
		for i := range numTopics {
			if l.lastID[i] > n[i] {
				t.Errorf("%s/%s: saw message %d of %s, which has %d", c.pattern, c.name, l.lastID[i], topicName(i), n[i])
			}
		}
		// A canceled drop is a publish that gave up: its Publish said so.
		for _, id := range l.canceled {
			if !r.erred[id[0]][id[1]] {
				t.Errorf("%s/%s: message %s/%d dropped as canceled, but its publish returned nil", c.pattern, c.name, topicName(int(id[0])), id[1])
			}
		}
		// A subscriber that lived through the whole load saw every message
		// of its topics, once.
		if !c.churn && c.group == "" && c.disconnects == 0 {
			var want uint64
			for _, i := range c.topics {
				want += n[i]
				if got := l.seen[i].count(); got != n[i] {
					t.Errorf("%s/%s: accounted for %d of the %d messages of %s", c.pattern, c.name, got, n[i], topicName(i))
				}
			}
			if s.Published != want {
				t.Errorf("%s/%s: Stats says %d published to it, its topics had %d", c.pattern, c.name, s.Published, want)
			}
		}
		if c.group != "" {
			for _, i := range c.topics {
				groups[groupKey{i, c.group}] = append(groups[groupKey{i, c.group}], c)
			}
		}
	}
	// A queue group as a whole saw every message of its topic exactly once:
	// each went to (or was dropped by) one member.
	for k, members := range groups {
		var total uint64
		for i, a := range members {
			total += a.led.seen[k.topic].count()
			for _, b := range members[i+1:] {
				if id := a.led.seen[k.topic].overlap(b.led.seen[k.topic]); id != 0 {
					t.Errorf("group %s on %s: message %d went to %s and to %s", k.group, topicName(k.topic), id, a.name, b.name)
				}
			}
		}
		if total != n[k.topic] {
			t.Errorf("group %s on %s: its members accounted for %d messages, the topic had %d", k.group, topicName(k.topic), total, n[k.topic])
		}
	}
	// A Publish that returned its context's error gave up on a Block
	// subscriber, which counted the message as canceled.
	canceled := map[[2]uint64]bool{}
	for _, c := range r.consumers {
		for _, id := range c.led.canceled {
			canceled[id] = true
		}
	}
	for i := range loadTopics {
		for id := range r.erred[i] {
			if !canceled[[2]uint64{uint64(i), id}] {
				t.Errorf("Publish of %s/%d returned an error, but no subscriber dropped it as canceled", topicName(i), id)
			}
		}
	}
	var total uint64
	for i := range numTopics {
		total += n[i]
	}
	secs := elapsed.Seconds()
	t.Logf("GOMAXPROCS=%d: %d messages published in %v (%.0f/s; %d publishes returned an error), %d deliveries (%.0f/s), dropped %v, %d churning subscribers, %d disconnects",
		runtime.GOMAXPROCS(0), total, elapsed.Round(time.Millisecond), float64(total)/secs, r.publishErrs.Load(),
		delivered, float64(delivered)/secs, dropped, r.churned.Load(), r.disconnected.Load())
	if total == 0 {
		t.Error("nothing was published")
	}
}

func maps(a, b bus.DropCounts) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
