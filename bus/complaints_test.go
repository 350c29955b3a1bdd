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

// Workers that earlier work left idle each take one activation: once slow
// handlers hold all of them, the next activation gets a worker of its own
// instead of waiting behind them in the run queue.
func TestSlowHandlersDoNotStarveThePool(t *testing.T) {
	b := newBus(t)
	const slow = 8
	// Warm up: slow handler calls at once leave slow idle workers behind.
	warm := mustTopic[int](t, b, "starve.warm")
	started, gate := make(chan struct{}, slow), make(chan struct{})
	for i := range slow {
		if _, err := warm.Handle(testCtx(t), func(context.Context, int) error {
			started <- struct{}{}
			<-gate
			return nil
		}, Name(fmt.Sprint("warm", i))); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(t, warm, 1)
	for range slow {
		waitFor(t, started, "warm-up handler started")
	}
	close(gate)
	ctx := testCtx(t)
	for idleWorkers(b.pool) < slow {
		if ctx.Err() != nil {
			t.Fatalf("%d of %d workers went idle", idleWorkers(b.pool), slow)
		}
		runtime.Gosched() // nothing to wait on but the count
	}
	top := mustTopic[int](t, b, "starve")
	release := make(chan struct{})
	defer close(release)
	for i := range slow {
		if _, err := top.Handle(testCtx(t), func(context.Context, int) error {
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
	for i := range 3 {
		mustPublish(t, top, i)
		if v := await(t, fast, "fast handler"); v != i {
			t.Fatalf("fast handler got %d, want %d", v, i)
		}
	}
}
