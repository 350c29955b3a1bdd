package bus

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPublishSync: PublishSync returns after every handler has run, with
// their joined errors; a panic comes back as a *PanicError.
func TestPublishSync(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "sync")
	errOdd := errors.New("odd")
	var seen []int // written by the handler, read after PublishSync without a lock
	if _, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		seen = append(seen, v)
		if v%2 == 1 {
			return errOdd
		}
		return nil
	}, Name("recorder")); err != nil {
		t.Fatal(err)
	}
	if _, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		if v == 3 {
			panic("three")
		}
		return nil
	}, Name("panicky")); err != nil {
		t.Fatal(err)
	}
	ch := mustSub(t, top, Name("chan"), Buffer(8))
	for v := range 4 {
		err := top.PublishSync(testCtx(t), v)
		if len(seen) != v+1 || seen[v] != v {
			t.Fatalf("PublishSync(%d) returned before the handler ran: %v", v, seen)
		}
		if got := recv(t, ch).Value; got != v {
			t.Fatalf("channel got %d", got)
		}
		var pe *PanicError
		switch v {
		case 0, 2:
			if err != nil {
				t.Errorf("PublishSync(%d) = %v", v, err)
			}
		case 1:
			if !errors.Is(err, errOdd) || errors.As(err, &pe) {
				t.Errorf("PublishSync(1) = %v, want errOdd alone", err)
			}
		case 3:
			if !errors.Is(err, errOdd) || !errors.As(err, &pe) || pe.Value != "three" || len(pe.Stack) == 0 {
				t.Errorf("PublishSync(3) = %v, want errOdd and a *PanicError", err)
			}
		}
	}
	st := subStats(t, b, "sync", "panicky")
	if st.Delivered != 4 || st.Failed != 1 {
		t.Errorf("panicky stats %+v", st)
	}
}

// TestPublishSyncWaitsForRoom: PublishSync waits for room whatever the
// policy, until its context ends.
func TestPublishSyncWaitsForRoom(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "sync.room")
	s := mustSub(t, top, Buffer(1), WithPolicy(DropNewest()), Name("s"))
	mustPublish(t, top, 1)
	done := make(chan error, 1)
	go func() { done <- top.PublishSync(testCtx(t), 2) }()
	waitParked(t, "(*Topic[...]).PublishSync")
	if got := recvN(t, s, 2); got[0] != 1 || got[1] != 2 {
		t.Errorf("got %v", got)
	}
	if err := await(t, done, "done"); err != nil {
		t.Fatal(err)
	}
	if d := subStats(t, b, "sync.room", "s").Dropped; d.Total() != 0 {
		t.Errorf("PublishSync dropped %v", d)
	}
}

// TestPublishSyncGivesUp: when ctx ends while a handler runs, PublishSync
// returns ctx's error; the handler still completes.
func TestPublishSyncGivesUp(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "sync.give-up")
	release := make(chan struct{})
	started := make(chan struct{})
	if _, err := top.Handle(testCtx(t), func(context.Context, int) error {
		close(started)
		<-release
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() { done <- top.PublishSync(ctx, 1) }()
	await(t, started, "started")
	cancel()
	err := await(t, done, "done")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "gave up waiting") {
		t.Errorf("PublishSync = %v, want it to give up with context.Canceled", err)
	}
	close(release)
	waitIdle(t, b)
}

// TestSynchronousOption: with Synchronous, Publish waits for the handlers
// and returns their errors.
func TestSynchronousOption(t *testing.T) {
	b := newBus(t, Synchronous())
	if !b.Synchronous() || New().Synchronous() {
		t.Fatal("Synchronous() does not report the option")
	}
	top := mustTopic[int](t, b, "synchronous")
	boom := errors.New("boom")
	var sum int // no lock: Publish returns after the handler
	if _, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		sum += v
		if v < 0 {
			return boom
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 10; v++ {
		if err := top.Publish(testCtx(t), v); err != nil {
			t.Fatal(err)
		}
		if want := v * (v + 1) / 2; sum != want {
			t.Fatalf("after Publish(%d) the handler has summed %d, want %d", v, sum, want)
		}
	}
	if err := top.Publish(testCtx(t), -1); !errors.Is(err, boom) {
		t.Errorf("Publish = %v, want the handler's error", err)
	}
}

// TestHandlerPublishesToOwnTopic is invariant 6: a handler may publish to its
// own topic, with Publish or PublishSync, whether it was reached by Publish or
// by PublishSync, without deadlock (users of other buses hit exactly this).
func TestHandlerPublishesToOwnTopic(t *testing.T) {
	for _, tt := range []struct {
		name               string
		outerSync, inSync  bool
		concurrency, depth int
	}{
		{name: "publish/publish", depth: 300},
		{name: "publish/publish-sync", inSync: true, depth: 50},
		{name: "publish-sync/publish", outerSync: true, depth: 50},
		{name: "publish-sync/publish-sync", outerSync: true, inSync: true, depth: 50},
		{name: "publish/publish-sync/concurrency=2", inSync: true, concurrency: 2, depth: 50},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[int](t, b, "countdown")
			var handled atomic.Int64
			opts := []SubscribeOption{Name("countdown")}
			if tt.concurrency > 0 {
				opts = append(opts, Concurrency(tt.concurrency))
			}
			_, err := top.Handle(testCtx(t), func(ctx context.Context, n int) error {
				handled.Add(1)
				if n == 0 {
					return nil
				}
				// Bounded, so that a deadlock fails the test.
				ctx, cancel := context.WithTimeout(ctx, testTimeout)
				defer cancel()
				if tt.inSync {
					return top.PublishSync(ctx, n-1)
				}
				return top.Publish(ctx, n-1)
			}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.outerSync {
				err = top.PublishSync(testCtx(t), tt.depth)
			} else {
				err = top.Publish(testCtx(t), tt.depth)
			}
			if err != nil {
				t.Fatal(err)
			}
			waitIdle(t, b)
			if got := handled.Load(); got != int64(tt.depth+1) {
				t.Errorf("handled %d messages, want %d", got, tt.depth+1)
			}
			if st := subStats(t, b, "countdown", "countdown"); st.Failed != 0 {
				t.Errorf("%d handler calls failed: %+v", st.Failed, st)
			}
		})
	}
}

// TestPublishSyncPingPong: handlers on two topics that PublishSync to each
// other do not wait for each other forever.
func TestPublishSyncPingPong(t *testing.T) {
	b := newBus(t)
	ping, pong := mustTopic[int](t, b, "ping"), mustTopic[int](t, b, "pong")
	var hits atomic.Int64
	bounce := func(to *Topic[int]) func(context.Context, int) error {
		return func(ctx context.Context, n int) error {
			hits.Add(1)
			if n == 0 {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, testTimeout)
			defer cancel()
			return to.PublishSync(ctx, n-1)
		}
	}
	if _, err := ping.Handle(testCtx(t), bounce(pong)); err != nil {
		t.Fatal(err)
	}
	if _, err := pong.Handle(testCtx(t), bounce(ping)); err != nil {
		t.Fatal(err)
	}
	if err := ping.PublishSync(testCtx(t), 20); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, b)
	if hits.Load() != 21 {
		t.Errorf("%d hits, want 21", hits.Load())
	}
}

// TestHandlersRunOutsideBusLocks is invariant 6: a handler can use every
// part of the bus that takes its locks.
func TestHandlersRunOutsideBusLocks(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "unlocked")
	done := make(chan error, 1)
	if _, err := top.Handle(testCtx(t), func(ctx context.Context, v int) error {
		_ = b.Stats()
		other, err := NewTopic[string](b, "unlocked.other")
		if err == nil {
			var s *Subscription[string]
			s, err = other.Subscribe(ctx, Name("inner"))
			if err == nil {
				err = other.Publish(ctx, "x")
				<-s.C
				s.Close()
			}
		}
		done <- err
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 1)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-testCtx(t).Done():
		t.Fatal("handler blocked on a bus lock")
	}
}

func TestCorrelationID(t *testing.T) {
	id := NewCorrelationID()
	if id.IsZero() || !(CorrelationID{}).IsZero() {
		t.Fatal("IsZero")
	}
	if id == NewCorrelationID() {
		t.Fatal("two new IDs are equal")
	}
	s := id.String()
	if len(s) != 32 || strings.ToLower(s) != s {
		t.Errorf("String() = %q, want 32 lowercase hex digits", s)
	}
	back, err := parseCorrelationID(s)
	if err != nil || back != id {
		t.Errorf("parseCorrelationID(%q) = %v, %v", s, back, err)
	}
	text, _ := id.MarshalText()
	var un CorrelationID
	if err := un.UnmarshalText(text); err != nil || un != id {
		t.Errorf("text round trip: %v, %v", un, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("g", 32), strings.Repeat("0", 33)} {
		if _, err := parseCorrelationID(bad); err == nil {
			t.Errorf("parseCorrelationID(%q): no error", bad)
		}
		if err := un.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q): no error", bad)
		}
	}
	if n := testing.AllocsPerRun(100, func() { id = NewCorrelationID() }); n != 0 {
		t.Errorf("NewCorrelationID allocates %v times", n)
	}
	if _, ok := CorrelationIDFrom(context.Background()); ok {
		t.Error("Background carries a correlation ID")
	}
	if _, ok := CorrelationIDFrom(nilCtx()); ok {
		t.Error("nil ctx carries a correlation ID")
	}
	if got, ok := CorrelationIDFrom(WithCorrelationID(context.Background(), id)); !ok || got != id {
		t.Errorf("CorrelationIDFrom(WithCorrelationID(id)) = %v, %v", got, ok)
	}
}

// TestCorrelationPropagation: the publisher's ID reaches channel subscribers
// and handlers, and travels on through a chain of two handlers; a publish
// without one gets a new one.
func TestCorrelationPropagation(t *testing.T) {
	b := newBus(t)
	first, second, third := mustTopic[int](t, b, "chain.1"), mustTopic[int](t, b, "chain.2"), mustTopic[int](t, b, "chain.3")
	ids := make(chan CorrelationID, 4)
	relay := func(to *Topic[int], sync bool) func(context.Context, int) error {
		return func(ctx context.Context, v int) error {
			id, ok := CorrelationIDFrom(ctx)
			if !ok {
				t.Error("handler context carries no correlation ID")
			}
			ids <- id
			if sync {
				return to.PublishSync(ctx, v)
			}
			return to.Publish(ctx, v)
		}
	}
	if _, err := first.Handle(testCtx(t), relay(second, false)); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Handle(testCtx(t), relay(third, true)); err != nil {
		t.Fatal(err)
	}
	end := mustSub(t, third, Name("end"), Buffer(4))
	direct := mustSub(t, first, Name("direct"), Buffer(4))

	id := NewCorrelationID()
	if err := first.Publish(WithCorrelationID(testCtx(t), id), 1); err != nil {
		t.Fatal(err)
	}
	m := recv(t, end)
	if m.CorrelationID != id || m.Topic != "chain.3" {
		t.Errorf("end of the chain got %+v, want ID %v", m, id)
	}
	if m := recv(t, direct); m.CorrelationID != id {
		t.Errorf("channel subscriber got ID %v, want %v", m.CorrelationID, id)
	}
	for range 2 {
		if got := await(t, ids, "ids"); got != id {
			t.Errorf("a handler saw ID %v, want %v", got, id)
		}
	}

	// Without an ID, each publish gets a new one, the same for every
	// subscriber of that publish.
	mustPublish(t, first, 2, 3)
	a, c := recv(t, direct), recv(t, direct)
	e1, e2 := recv(t, end), recv(t, end)
	if a.CorrelationID.IsZero() || a.CorrelationID == c.CorrelationID || a.CorrelationID == id {
		t.Errorf("new IDs: %v, %v", a.CorrelationID, c.CorrelationID)
	}
	if e1.CorrelationID != a.CorrelationID || e2.CorrelationID != c.CorrelationID {
		t.Errorf("the chain changed the new IDs: %v %v, want %v %v", e1.CorrelationID, e2.CorrelationID, a.CorrelationID, c.CorrelationID)
	}
	for range 4 {
		await(t, ids, "ids")
	}
	waitIdle(t, b)
}

// TestHandlerCorrelationIDOnRead: a handler context makes its message's
// correlation ID when it is read (see msgCtx). Read directly or through a
// context derived from it, on a topic with only handler subscriptions, the
// ID is the same, differs from message to message, and is the one the
// handler's own publish carries on.
func TestHandlerCorrelationIDOnRead(t *testing.T) {
	type key struct{}
	b := newBus(t)
	in, out := mustTopic[int](t, b, "read.in"), mustTopic[int](t, b, "read.out")
	end := mustSub(t, out, Name("end"), Buffer(4))
	type read struct{ direct, derived CorrelationID }
	reads := make(chan read, 2)
	_, err := in.Handle(testCtx(t), func(ctx context.Context, v int) error {
		derived, cancel := context.WithCancel(context.WithValue(ctx, key{}, v))
		defer cancel()
		var r read
		var ok1, ok2 bool
		r.direct, ok1 = CorrelationIDFrom(ctx)
		r.derived, ok2 = CorrelationIDFrom(derived)
		if !ok1 || !ok2 {
			t.Errorf("message %d: correlation ID found directly %v, through a derived context %v", v, ok1, ok2)
		}
		reads <- r
		return out.Publish(derived, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, in, 1, 2)
	var seen [2]CorrelationID
	for i := range seen {
		r, m := await(t, reads, "reads"), recv(t, end)
		if r.direct.IsZero() || r.derived != r.direct || m.CorrelationID != r.direct {
			t.Errorf("message %d: ID read directly %v, through a derived context %v, carried on %v; want one non-zero ID", m.Value, r.direct, r.derived, m.CorrelationID)
		}
		seen[i] = r.direct
	}
	if seen[0] == seen[1] {
		t.Errorf("two messages published with context.Background() got the same ID %v", seen[0])
	}

	// A handler of a topic that also has a channel subscriber reads the ID
	// that the channel subscriber's message carries.
	mixed := mustTopic[int](t, b, "read.mixed")
	direct := mustSub(t, mixed, Name("direct"), Buffer(4))
	ids := make(chan CorrelationID, 2)
	if _, err := mixed.Handle(testCtx(t), func(ctx context.Context, _ int) error {
		id, _ := CorrelationIDFrom(ctx)
		ids <- id
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for v := range 2 {
		if err := mixed.Publish(context.Background(), v); err != nil {
			t.Fatal(err)
		}
		if m, id := recv(t, direct), await(t, ids, "ids"); id != m.CorrelationID || id.IsZero() {
			t.Errorf("message %d: the handler read ID %v, the channel subscriber got %v", v, id, m.CorrelationID)
		}
	}
}

// TestHandlerPublishToOwnFullQueue: a handler that publishes to its own
// full Block queue, where only it could make room, does not wait: the
// message is queued past the Buffer, and nothing is dropped. (It used to
// wait until its context or Close ended the wait.)
func TestHandlerPublishToOwnFullQueue(t *testing.T) {
	b := New()
	top := mustTopic[int](t, b, "own.full")
	returned := make(chan error, 1)
	if _, err := top.Handle(testCtx(t), func(ctx context.Context, v int) error {
		if v != 0 {
			return nil
		}
		// The first fills the queue (Buffer 1), the second goes past it.
		err := top.Publish(ctx, 1)
		if err == nil {
			err = top.Publish(ctx, 2)
		}
		returned <- err
		return nil
	}, Buffer(1), Name("self")); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 0)
	if err := await(t, returned, "returned"); err != nil {
		t.Errorf("the handler's Publish to its own full queue = %v, want nil", err)
	}
	if err := b.Close(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if st := subStats(t, b, "own.full", "self"); st.Delivered != 3 || st.Dropped.Total() != 0 {
		t.Errorf("stats %+v, want 3 delivered and none dropped", st)
	}
	checkBalance(t, b.Stats())
}

// TestHandlerChainsOnOwnTopic is the repro of a deadlock: handlers on
// "steps" publish the next step to "steps" until it ends in 99, under the
// default Block policy, with far more steps in flight than the buffer
// holds. Every step runs, and Close drains them all within its deadline.
func TestHandlerChainsOnOwnTopic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chains int
		opts   []SubscribeOption
	}{
		{"default buffer, 200 chains", 200, nil},
		{"buffer 1, 16 chains", 16, []SubscribeOption{Buffer(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := New()
			top := mustTopic[int](t, b, "steps")
			var steps atomic.Int64
			if _, err := top.Handle(testCtx(t), func(ctx context.Context, n int) error {
				steps.Add(1)
				if n%100 == 99 {
					return nil
				}
				return top.Publish(ctx, n+1)
			}, tc.opts...); err != nil {
				t.Fatal(err)
			}
			for c := range tc.chains {
				mustPublish(t, top, c*100)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := b.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if got, want := steps.Load(), int64(tc.chains*100); got != want {
				t.Errorf("%d steps ran, want %d", got, want)
			}
			checkBalance(t, b.Stats())
		})
	}
}

// TestHandlerContextPerMessage: under concurrent publishers, every handler
// call gets the context of its own message: its publisher's correlation ID
// and values, and the topic, also when kept after the handler returned.
func TestHandlerContextPerMessage(t *testing.T) {
	type key struct{}
	// Odd publishers publish with context.Background(): their messages get
	// new correlation IDs and no values.
	const publishers, each = 4, 384
	b := newBus(t)
	top := mustTopic[int](t, b, "ctx.per.message")
	type seen struct {
		v     int
		id    CorrelationID
		val   any
		topic string
		ctx   context.Context // kept after the handler returned
	}
	got := make(chan seen, publishers*each)
	_, err := top.Handle(testCtx(t), func(ctx context.Context, v int) error {
		id, _ := CorrelationIDFrom(ctx)
		name, _ := TopicFrom(ctx)
		got <- seen{v, id, ctx.Value(key{}), name, ctx}
		return nil
	}, Buffer(publishers*each), Concurrency(3))
	if err != nil {
		t.Fatal(err)
	}
	want := make(map[int]CorrelationID) // for the publishers with an ID of their own
	var wg sync.WaitGroup
	for p := range publishers {
		ids := make([]CorrelationID, each)
		for i := range ids {
			if p%2 == 0 {
				ids[i] = NewCorrelationID()
			}
			want[p*each+i] = ids[i]
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, id := range ids {
				v := p*each + i
				ctx := context.Background()
				if p%2 == 0 {
					ctx = context.WithValue(WithCorrelationID(ctx, id), key{}, v)
				}
				if err := top.Publish(ctx, v); err != nil {
					t.Errorf("Publish(%d): %v", v, err)
				}
			}
		}()
	}
	wg.Wait()
	check := func(s seen, id CorrelationID, val any, when string) {
		t.Helper()
		w, ok := want[s.v]
		switch {
		case !ok:
			t.Errorf("message %d handled twice or never published", s.v)
		case w == (CorrelationID{}) && (id == w || val != nil):
			t.Errorf("message %d published with context.Background(): handler saw ID %v and value %v %s; want a new ID and no value", s.v, id, val, when)
		case w != (CorrelationID{}) && (id != w || val != s.v):
			t.Errorf("message %d: handler saw ID %v, value %v %s; want ID %v, value %d", s.v, id, val, when, w, s.v)
		}
	}
	all := make([]seen, 0, publishers*each)
	newIDs := make(map[CorrelationID]int)
	for range publishers * each {
		var s seen
		select {
		case s = <-got:
		case <-time.After(testTimeout):
			t.Fatalf("%d handler calls missing", publishers*each-len(all))
		}
		if s.topic != "ctx.per.message" {
			t.Errorf("message %d: handler saw topic %q", s.v, s.topic)
		}
		check(s, s.id, s.val, "during its call")
		if want[s.v] == (CorrelationID{}) {
			if o, dup := newIDs[s.id]; dup {
				t.Errorf("messages %d and %d got the same new correlation ID %v", o, s.v, s.id)
			}
			newIDs[s.id] = s.v
		}
		all = append(all, s)
	}
	// A context the handler kept still says what it said during the call:
	// no later message reused it.
	for _, s := range all {
		id, _ := CorrelationIDFrom(s.ctx)
		check(s, id, s.ctx.Value(key{}), "after every message was handled")
		delete(want, s.v)
	}
	if len(want) != 0 {
		t.Errorf("%d messages never reached the handler", len(want))
	}
}

// TestOnDropPublishesToSameTopic: a publish to a topic whose handler
// subscriptions share the topic's publishers' lock releases it before a slow
// path, so that OnDrop (run by the publisher) may publish to the same topic.
// The full subscription comes after one that takes the shared lock, made
// for exactly the topic or for a pattern (with a lock of its own).
func TestOnDropPublishesToSameTopic(t *testing.T) {
	for _, pattern := range []string{"same.topic", "same.*"} {
		t.Run(pattern, func(t *testing.T) {
			b := New() // closed at the end: a deadlock would hang Cleanup's Close
			top := mustTopic[int](t, b, "same.topic")
			var calls atomic.Int64
			if _, err := top.Handle(testCtx(t), func(context.Context, int) error {
				calls.Add(1)
				return nil
			}, Name("first")); err != nil {
				t.Fatal(err)
			}
			started, release := make(chan struct{}, 1), make(chan struct{})
			var again atomic.Int64
			if _, err := Handle(testCtx(t), b, pattern, func(_ context.Context, v int) error {
				if v == 0 {
					started <- struct{}{}
					<-release
				}
				return nil
			}, Name("full"), Buffer(1), WithPolicy(DropNewest()), OnDrop(func(m Message[int], _ DropReason) {
				if m.Value == 2 {
					// From the publisher's goroutine, after the drop.
					again.Add(1)
					_ = top.Publish(context.Background(), 3)
				}
			})); err != nil {
				t.Fatal(err)
			}
			mustPublish(t, top, 0)
			await(t, started, "started")
			mustPublish(t, top, 1) // fills "full"
			published := make(chan error, 1)
			go func() { published <- top.Publish(context.Background(), 2) }()
			select {
			case err := <-published:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(testTimeout):
				t.Fatal("the publisher deadlocked: OnDrop's publish waited for the lock the publisher held")
			}
			close(release)
			waitIdle(t, b)
			if again.Load() != 1 || calls.Load() != 4 {
				t.Errorf("OnDrop published %d times, first handled %d messages: want 1 and 4", again.Load(), calls.Load())
			}
			if st := subStats(t, b, pattern, "full"); st.Delivered != 2 || st.Dropped[ReasonFull] != 2 {
				t.Errorf("full: %+v, want 2 delivered and 2 dropped", st)
			}
			if err := b.Close(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEveryHandlerKindGetsTheMessage: exact and wildcard handler
// subscriptions, with concurrency 1 or more and in a queue group, each get
// a message published once.
func TestEveryHandlerKindGetsTheMessage(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "kinds")
	nop := func(context.Context, int) error { return nil }
	for _, tt := range []struct {
		pattern string
		opts    []SubscribeOption
	}{
		{"kinds", nil},
		{"kinds", []SubscribeOption{Concurrency(1)}},
		{"kinds", []SubscribeOption{QueueGroup("g")}},
		{"kinds", []SubscribeOption{Concurrency(2)}},
		{"*", nil},
		{">", nil},
	} {
		if _, err := Handle(testCtx(t), b, tt.pattern, nop, tt.opts...); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(t, top, 1)
	waitIdle(t, b)
	st := b.Stats().Subscriptions
	if len(st) != 6 {
		t.Fatalf("%d subscriptions in Stats, want 6", len(st))
	}
	for _, st := range st {
		if st.Delivered != 1 {
			t.Errorf("%s/%s: %d delivered, want 1", st.Pattern, st.Name, st.Delivered)
		}
	}
}

// TestEndDecidesOverCancel: a publisher waiting for room whose context has
// ended, on a subscription that has ended too, counts the message as the
// end's drop (or, if the end came first, does not offer it), never as
// ReasonCanceled: the select that wakes it sees both, and the end decides.
// The test holds the queue's lock so that the publisher waits on it while
// the end begins, then lets it go: its wait then sees both its context and
// the end; without the rule, about half the rounds count a cancellation.
func TestEndDecidesOverCancel(t *testing.T) {
	for round := range 40 {
		b := New()
		top := mustTopic[int](t, b, "end.decides")
		gate := make(chan struct{})
		s := stuckHandler(t, top, gate, Name("full"))
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()

		q := queueOf(s)
		q.mu.Lock()
		published := make(chan error, 1)
		go func() { published <- top.Publish(cancelled, 2) }()
		waitParked(t, "(*queue[...]).put")
		go s.Close()
		waitParked(t, "(*Subscription[...]).end")
		q.mu.Unlock()

		if err := await(t, published, "publish returned"); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("round %d: Publish = %v, want nil or ErrClosed", round, err)
		}
		close(gate)
		waitDone(t, s)
		if st := subStats(t, b, "end.decides", "full"); st.Dropped[ReasonCanceled] != 0 {
			t.Fatalf("round %d: %d counted as canceled although the subscription had ended: %+v", round, st.Dropped[ReasonCanceled], st)
		}
		if err := b.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		checkBalance(t, b.Stats())
	}
}

// TestEndDecidesOverCancelChannel: the same rule for a channel subscription.
// With one processor, the publisher parked on the full channel is woken by
// its context's end and runs only once the test has also begun to end the
// subscription; it then counts the message as the end's drop instead of as
// a cancellation.
func TestEndDecidesOverCancelChannel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for round := range 20 {
		b := New()
		top := mustTopic[int](t, b, "end.decides.chan")
		s := mustSub(t, top, Buffer(1), Name("full"))
		mustPublish(t, top, 1) // fills the channel
		ctx, cancel := context.WithCancel(context.Background())
		published := make(chan error, 1)
		go func() { published <- top.Publish(ctx, 2) }()
		waitParked(t, "(*chanSink[...]).wait")
		cancel()
		s.Close()
		if err := await(t, published, "publish returned"); err != nil {
			t.Errorf("round %d: Publish = %v, want nil", round, err)
		}
		waitDone(t, s)
		st := subStats(t, b, "end.decides.chan", "full")
		if st.Dropped[ReasonCanceled] != 0 || st.Dropped[ReasonUnsubscribed] != 2 {
			t.Fatalf("round %d: %+v, want both messages dropped by the end, none canceled", round, st)
		}
		if err := b.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		checkBalance(t, b.Stats())
	}
}
