package bus

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr string // substring of the error; "" when valid
	}{
		{in: "block", want: Block()},
		{in: "block:2s", want: BlockFor(2 * time.Second)},
		{in: "block:500ms", want: BlockFor(500 * time.Millisecond)},
		{in: "drop-newest", want: DropNewest()},
		{in: "drop-oldest", want: DropOldest()},
		{in: "disconnect:10", want: DisconnectAfter(10)},
		{in: "", wantErr: `unknown policy ""`},
		{in: "Block", wantErr: `unknown policy "Block"`},
		{in: "drop", wantErr: `unknown policy "drop"`},
		{in: "block:soon", wantErr: `"soon" is not a duration`},
		{in: "block:-1s", wantErr: "must be positive"},
		{in: "drop-newest:3", wantErr: "takes no argument"},
		{in: "drop-oldest:", wantErr: "takes no argument"},
		{in: "disconnect", wantErr: "want disconnect:N"},
		{in: "disconnect:x", wantErr: "want disconnect:N"},
		{in: "disconnect:0", wantErr: "at least 1"},
		{in: "disconnect:-3", wantErr: "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parsePolicy(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parsePolicy(%q) = %v, %v; want an error saying %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parsePolicy(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			// String gives back what parsePolicy (UnmarshalText) reads.
			again, err := parsePolicy(got.String())
			if err != nil || again != got {
				t.Fatalf("parsePolicy(%q.String() = %q) = %v, %v", tt.in, got.String(), again, err)
			}
		})
	}
}

func TestPolicyText(t *testing.T) {
	type config struct{ Policy Policy }
	for _, p := range []Policy{Block(), BlockFor(time.Second), DropNewest(), DropOldest(), DisconnectAfter(3)} {
		data, err := json.Marshal(config{p})
		if err != nil {
			t.Fatal(err)
		}
		var c config
		if err := json.Unmarshal(data, &c); err != nil || c.Policy != p {
			t.Errorf("%s: JSON %s read back as %v, %v", p, data, c.Policy, err)
		}
	}
	var c config
	if err := json.Unmarshal([]byte(`{"Policy":"sometimes"}`), &c); err == nil {
		t.Error("unknown policy in JSON: no error")
	}
	if (Policy{}).String() != "block" {
		t.Errorf("zero Policy is %v, want block", Policy{})
	}
}

func TestDropReasons(t *testing.T) {
	want := []string{"full", "evicted", "timeout", "canceled", "disconnect", "unsubscribed", "shutdown"}
	var got []string
	for _, r := range DropReasons() {
		got = append(got, r.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("DropReasons() = %v, want %v", got, want)
	}
	if s := DropReason(0).String(); s != "reason(0)" {
		t.Errorf("DropReason(0) = %q", s)
	}
	data, err := json.Marshal(DropCounts{ReasonFull: 2, ReasonShutdown: 1})
	if err != nil || string(data) != `{"full":2,"shutdown":1}` {
		t.Errorf("DropCounts as JSON: %s, %v", data, err)
	}
}

// TestPolicies runs every non-blocking policy (and BlockFor's timeout) on a
// subscriber that does not keep up: a channel nobody reads, or a handler
// stuck on its first message. Buffer is 2 throughout.
func TestPolicies(t *testing.T) {
	tests := []struct {
		name      string
		policy    Policy
		publish   int
		chanGot   []int // what a channel subscriber receives
		chanDrops DropCounts
		chanPub   uint64 // offered to the channel subscriber
		handGot   []int  // what a handler receives
		handDrops DropCounts
		handPub   uint64
		wantErr   error // the subscription's Err at the end
	}{
		{
			name: "drop-newest", policy: DropNewest(), publish: 5,
			chanGot: []int{1, 2}, chanDrops: DropCounts{ReasonFull: 3}, chanPub: 5,
			handGot: []int{1, 2, 3}, handDrops: DropCounts{ReasonFull: 2}, handPub: 5,
		},
		{
			name: "drop-oldest", policy: DropOldest(), publish: 5,
			chanGot: []int{4, 5}, chanDrops: DropCounts{ReasonEvicted: 3}, chanPub: 5,
			handGot: []int{1, 4, 5}, handDrops: DropCounts{ReasonEvicted: 2}, handPub: 5,
		},
		{
			name: "block-for", policy: BlockFor(5 * time.Millisecond), publish: 4,
			chanGot: []int{1, 2}, chanDrops: DropCounts{ReasonTimeout: 2}, chanPub: 4,
			handGot: []int{1, 2, 3}, handDrops: DropCounts{ReasonTimeout: 1}, handPub: 4,
		},
		{
			// The third and fourth messages are the two consecutive drops:
			// the subscription ends, what it held is dropped with reason
			// disconnect, and the fifth message is not offered any more.
			name: "disconnect-after", policy: DisconnectAfter(2), publish: 5,
			chanGot: nil, chanDrops: DropCounts{ReasonFull: 2, ReasonDisconnect: 2}, chanPub: 4,
			// The handler holds 1 while 2 and 3 wait; 4 and 5 are dropped.
			handGot: []int{1}, handDrops: DropCounts{ReasonFull: 2, ReasonDisconnect: 2}, handPub: 5,
			wantErr: ErrDisconnected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/channel", func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[int](t, b, "policy.test")
			onDrop := DropCounts{}
			var mu sync.Mutex
			s := mustSub(t, top, Buffer(2), WithPolicy(tt.policy), Name("slow"),
				OnDrop(func(_ Message[int], r DropReason) { mu.Lock(); onDrop[r]++; mu.Unlock() }))
			fast := mustSub(t, top, Buffer(tt.publish), Name("fast"))
			for i := 1; i <= tt.publish; i++ {
				mustPublish(t, top, i)
			}
			// The slow subscriber never held up the other one.
			if got := drained(fast); len(got) != tt.publish {
				t.Errorf("fast subscriber got %v", got)
			}
			if got := drained(s); !slices.Equal(got, tt.chanGot) {
				t.Errorf("received %v, want %v", got, tt.chanGot)
			}
			if !errors.Is(s.Err(), tt.wantErr) {
				t.Errorf("Err() = %v, want %v", s.Err(), tt.wantErr)
			}
			if tt.wantErr != nil {
				waitClosed(t, s)
			}
			st := subStats(t, b, "policy.test", "slow")
			checkPolicyStats(t, st, tt.chanPub, uint64(len(tt.chanGot)), tt.chanDrops)
			mu.Lock()
			if !sameDrops(onDrop, tt.chanDrops) {
				t.Errorf("OnDrop saw %v, want %v", onDrop, tt.chanDrops)
			}
			mu.Unlock()
		})
		t.Run(tt.name+"/handler", func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[int](t, b, "policy.test")
			var (
				mu     sync.Mutex
				got    []int
				onDrop = DropCounts{}
			)
			started, release := make(chan struct{}), make(chan struct{})
			s, err := top.Handle(testCtx(t), func(ctx context.Context, v int) error {
				if v == 1 {
					close(started)
					<-release
				}
				mu.Lock()
				got = append(got, v)
				mu.Unlock()
				return nil
			}, Buffer(2), WithPolicy(tt.policy), Name("slow"),
				OnDrop(func(_ Message[int], r DropReason) { mu.Lock(); onDrop[r]++; mu.Unlock() }))
			if err != nil {
				t.Fatal(err)
			}
			mustPublish(t, top, 1)
			waitFor(t, started, "handler started")
			for i := 2; i <= tt.publish; i++ {
				mustPublish(t, top, i)
			}
			close(release)
			if tt.wantErr != nil {
				waitDone(t, s)
			}
			waitIdle(t, b)
			mu.Lock()
			if !slices.Equal(got, tt.handGot) {
				t.Errorf("handled %v, want %v", got, tt.handGot)
			}
			if !sameDrops(onDrop, tt.handDrops) {
				t.Errorf("OnDrop saw %v, want %v", onDrop, tt.handDrops)
			}
			mu.Unlock()
			if !errors.Is(s.Err(), tt.wantErr) {
				t.Errorf("Err() = %v, want %v", s.Err(), tt.wantErr)
			}
			checkPolicyStats(t, subStats(t, b, "policy.test", "slow"), tt.handPub, uint64(len(tt.handGot)), tt.handDrops)
		})
	}
}

func sameDrops(a, b DropCounts) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func checkPolicyStats(t *testing.T, st SubscriptionStats, published, delivered uint64, drops DropCounts) {
	t.Helper()
	if st.Published != published || st.Delivered != delivered || st.Queued != 0 || !sameDrops(st.Dropped, drops) {
		t.Errorf("stats: published %d delivered %d queued %d dropped %v; want %d, %d, 0, %v",
			st.Published, st.Delivered, st.Queued, st.Dropped, published, delivered, drops)
	}
	checkBalance(t, Stats{Subscriptions: []SubscriptionStats{st}})
}

// TestDisconnectCountsConsecutiveDrops checks that a delivery in between
// resets the count of DisconnectAfter.
func TestDisconnectCountsConsecutiveDrops(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "disconnect.reset")
	s := mustSub(t, top, Buffer(1), WithPolicy(DisconnectAfter(2)), Name("s"))
	for round := range 5 {
		mustPublish(t, top, 2*round, 2*round+1) // the second one is dropped
		if got := recv(t, s).Value; got != 2*round {
			t.Fatalf("round %d: got %d", round, got)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("disconnected after drops that were not consecutive: %v", err)
	}
	mustPublish(t, top, 100, 101, 102)
	waitClosed(t, s)
	if !errors.Is(s.Err(), ErrDisconnected) {
		t.Fatalf("Err() = %v, want ErrDisconnected", s.Err())
	}
	st := subStats(t, b, "disconnect.reset", "s")
	if st.Active || st.Disconnects != 1 || st.Dropped[ReasonFull] != 7 || st.Dropped[ReasonDisconnect] != 1 {
		t.Errorf("stats after disconnect: %+v", st)
	}
	checkBalance(t, b.Stats())
}

// TestBlockWaitsForRoom: a Block publisher waits until the subscriber makes
// room, and nothing is lost.
func TestBlockWaitsForRoom(t *testing.T) {
	for _, kind := range []string{"channel", "handler"} {
		t.Run(kind, func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[int](t, b, "block.room")
			const n = 50
			var got []int
			gate := make(chan struct{})
			var s *Subscription[int]
			if kind == "channel" {
				s = mustSub(t, top, Buffer(1), Name("s"))
			} else {
				var err error
				s, err = top.Handle(testCtx(t), func(_ context.Context, v int) error {
					<-gate
					got = append(got, v)
					return nil
				}, Buffer(1), Name("s"))
				if err != nil {
					t.Fatal(err)
				}
			}
			published := make(chan error, 1)
			go func() {
				for i := range n {
					if err := top.Publish(testCtx(t), i); err != nil {
						published <- err
						return
					}
				}
				published <- nil
			}()
			waitParked(t, "(*Topic[...]).Publish")
			if kind == "channel" {
				got = recvN(t, s, n)
			} else {
				close(gate)
			}
			if err := await(t, published, "published"); err != nil {
				t.Fatal(err)
			}
			waitIdle(t, b)
			if want := seq(0, n); !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			st := subStats(t, b, "block.room", "s")
			if st.Published != n || st.Delivered != n || st.Dropped.Total() != 0 {
				t.Errorf("stats: %+v", st)
			}
		})
	}
}

// seq returns [from, to).
func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// TestBlockHonoursContext is invariant 4: a publisher blocked on a full Block
// subscriber returns when its context ends, and the message counts as
// dropped with reason canceled.
func TestBlockHonoursContext(t *testing.T) {
	for _, kind := range []string{"channel", "handler", "channel-sync", "handler-sync"} {
		t.Run(kind, func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[int](t, b, "block.ctx")
			release := make(chan struct{})
			defer func() {
				select {
				case <-release:
				default:
					close(release)
				}
			}()
			var s *Subscription[int]
			if strings.HasPrefix(kind, "channel") {
				s = mustSub(t, top, Buffer(1), Name("s"))
				mustPublish(t, top, 1)
			} else {
				s = stuckHandler(t, top, release, Name("s"))
			}
			ctx, cancel := context.WithCancel(testCtx(t))
			published := make(chan error, 1)
			go func() {
				if strings.HasSuffix(kind, "-sync") {
					published <- top.PublishSync(ctx, 3)
				} else {
					published <- top.Publish(ctx, 3)
				}
			}()
			waitParked(t, "(*Topic[...]).Publish")
			cancel()
			select {
			case err := <-published:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("blocked Publish returned %v, want context.Canceled", err)
				}
			case <-time.After(testTimeout):
				t.Fatal("blocked Publish did not return when its context ended")
			}
			close(release)
			if strings.HasPrefix(kind, "channel") {
				drained(s)
			}
			waitIdle(t, b)
			st := subStats(t, b, "block.ctx", "s")
			if st.Dropped[ReasonCanceled] != 1 {
				t.Errorf("dropped %v, want 1 canceled", st.Dropped)
			}
			checkBalance(t, b.Stats())
		})
	}
}

// TestOnDropMayCloseSubscription: OnDrop may end its own subscription, on
// every path that drops (a publisher's, or the end's own purge), without
// deadlocking the publisher or the bus.
func TestOnDropMayCloseSubscription(t *testing.T) {
	for _, tt := range []struct {
		name    string
		handler bool
		policy  Policy
	}{
		{name: "channel/drop-newest", policy: DropNewest()},
		{name: "channel/drop-oldest", policy: DropOldest()},
		{name: "channel/block-for", policy: BlockFor(time.Millisecond)},
		{name: "channel/disconnect-after", policy: DisconnectAfter(1)},
		{name: "channel/block-then-close", policy: Block()},
		{name: "handler/drop-newest", handler: true, policy: DropNewest()},
		{name: "handler/drop-oldest", handler: true, policy: DropOldest()},
		{name: "handler/block-then-close", handler: true, policy: Block()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := New()
			top := mustTopic[int](t, b, "ondrop.close")
			var (
				s     *Subscription[int]
				err   error
				drops atomic.Int64
			)
			ready := make(chan struct{})
			onDrop := OnDrop(func(Message[int], DropReason) {
				drops.Add(1)
				<-ready
				s.Close()
			})
			release := make(chan struct{})
			if tt.handler {
				started := make(chan struct{}, 1)
				s, err = top.Handle(context.Background(), func(context.Context, int) error {
					started <- struct{}{}
					<-release
					return nil
				}, Buffer(1), WithPolicy(tt.policy), onDrop)
				if err == nil {
					mustPublish(t, top, 0)
					await(t, started, "started")
				}
			} else {
				s, err = top.Subscribe(context.Background(), Buffer(1), WithPolicy(tt.policy), onDrop)
			}
			if err != nil {
				t.Fatal(err)
			}
			close(ready)
			published := make(chan struct{})
			go func() {
				defer close(published)
				// For Block, the drop comes from Close's purge of what is
				// queued: the publish itself succeeds.
				_ = top.Publish(context.Background(), 1)
				if tt.policy == Block() {
					s.Close()
					return
				}
				_ = top.Publish(context.Background(), 2)
			}()
			select {
			case <-published:
			case <-time.After(testTimeout):
				t.Fatal("the publisher deadlocked: OnDrop closed the subscription")
			}
			close(release)
			waitDone(t, s)
			if s.Err() == nil || drops.Load() == 0 {
				t.Errorf("Err() = %v after %d drops", s.Err(), drops.Load())
			}
			if err := b.Close(testCtx(t)); err != nil {
				t.Fatal(err)
			}
			checkBalance(t, b.Stats())
		})
	}
}
