package bus

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// The tests here are complaints from users of other Go event buses (see the
// project's notes) that the other test files do not already answer.

// A slow handler does not stall the other handlers of its topic: each has its
// own queue and the pool gives it its own worker.
func TestSlowHandlerDoesNotStallOthers(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "stall")
	const n = 100
	release := make(chan struct{})
	defer close(release)
	if _, err := top.Handle(testCtx(t), func(context.Context, int) error {
		<-release
		return nil
	}, Name("slow"), Buffer(n)); err != nil {
		t.Fatal(err)
	}
	fast := make(chan int, n)
	if _, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		fast <- v
		return nil
	}, Name("fast")); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, seq(0, n)...)
	for i := range n {
		select {
		case v := <-fast:
			if v != i {
				t.Fatalf("fast handler got %d, want %d", v, i)
			}
		case <-testCtx(t).Done():
			t.Fatalf("the fast handler got %d of %d messages while the slow one was stuck", i, n)
		}
	}
}

// A consumer that closes its own subscription while a publisher waits to
// send to it: no send on a closed channel, the publisher is released.
func TestConsumerClosesItselfWhilePublisherWaits(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "self.close")
	s := mustSub(t, top, Buffer(1), Name("s"))
	published := make(chan error, 1)
	go func() {
		var err error
		for i := 0; i < 3 && err == nil; i++ {
			err = top.Publish(context.Background(), i) // Block: the third waits
		}
		published <- err
	}()
	waitParked(t, "(*Topic[...]).Publish")
	consumer := make(chan int)
	go func() {
		n := 0
		for range s.C {
			if n++; n == 1 {
				s.Close() // from the goroutine that reads C
			}
		}
		consumer <- n
	}()
	waitFor(t, consumer, "consumer ended")
	if err := await(t, published, "published"); err != nil {
		t.Errorf("Publish: %v", err)
	}
	if !errors.Is(s.Err(), ErrUnsubscribed) {
		t.Errorf("Err() = %v", s.Err())
	}
	checkBalance(t, b.Stats())
}

// Handlers that block hold every worker of the pool and more: the
// watchdog adds workers while activations wait and none is taken, so the
// next subscription's handler still runs.
func TestSlowHandlersDoNotStarveThePool(t *testing.T) {
	b := newBus(t)
	slow := int(b.pool.min) + 3
	top := mustTopic[int](t, b, "starve")
	started, release := make(chan struct{}, 3*slow), make(chan struct{}) // 3 messages each
	for i := range slow {
		if _, err := top.Handle(testCtx(t), func(context.Context, int) error {
			started <- struct{}{}
			<-release
			return nil
		}, Name(fmt.Sprint("slow", i))); err != nil {
			t.Fatal(err)
		}
	}
	fast := make(chan int, 1)
	if _, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		fast <- v
		return nil
	}, Name("fast")); err != nil {
		t.Fatal(err)
	}
	mustPublish(t, top, 0)
	for range slow {
		waitFor(t, started, "slow handler started")
	}
	if v := await(t, fast, "fast handler"); v != 0 {
		t.Fatalf("fast handler got %d, want 0", v)
	}
	for i := 1; i < 3; i++ {
		mustPublish(t, top, i)
		if v := await(t, fast, "fast handler"); v != i {
			t.Fatalf("fast handler got %d, want %d", v, i)
		}
	}
	if n := b.pool.workers.Load(); n <= b.pool.min {
		t.Fatalf("%d workers while %d handlers block; want more than the pool's %d", n, slow, b.pool.min)
	}
	// Once the handlers return, the workers beyond min leave.
	close(release)
	ctx := testCtx(t)
	for b.pool.workers.Load() > b.pool.min {
		if ctx.Err() != nil {
			t.Fatalf("%d workers stayed after the handlers returned; want %d", b.pool.workers.Load(), b.pool.min)
		}
		runtime.Gosched() // nothing to wait on but the count
	}
}

// runnerFunc is an activation the tests put in the run queue themselves.
type runnerFunc func()

func (f runnerFunc) run() { f() }

// An activation with more to do gives its worker up once it has handled a
// full batch and another activation waits for a worker: a busy subscription
// does not keep a worker to itself while others wait.
func TestBusyActivationGivesItsWorkerUp(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "busy")
	// Hold every worker but one with handlers that block.
	held, release := make(chan struct{}, b.pool.min), make(chan struct{})
	defer close(release)
	for i := range int(b.pool.min) - 1 {
		hold := mustTopic[int](t, b, fmt.Sprint("hold", i))
		if _, err := hold.Handle(testCtx(t), func(context.Context, int) error {
			held <- struct{}{}
			<-release
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustPublish(t, hold, 0)
		waitFor(t, held, "holding handler started")
	}
	const n = 4 * maxBatch
	gate, first := make(chan struct{}), make(chan struct{})
	sub, err := top.Handle(testCtx(t), func(_ context.Context, v int) error {
		if v == 0 {
			close(first)
			<-gate
		}
		return nil
	}, Buffer(n))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		mustPublish(t, top, i)
	}
	waitFor(t, first, "first message handled")
	// Another activation waits for a worker, put in the run queue without
	// a submit, so that no watchdog adds a worker for it.
	seen := make(chan uint64, 1)
	b.pool.runq <- runnerFunc(func() { seen <- sub.handled.Load() })
	close(gate)
	if got := await(t, seen, "waiting activation ran"); got >= n {
		t.Errorf("the waiting activation ran after the busy one had handled all %d messages; want after about %d", got, maxBatch)
	}
}
