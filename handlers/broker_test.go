package handlers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/broker"
)

// A message delivered by a broker is called once per delivery, with the
// broker's attempt number, and neither retried nor dead-lettered locally;
// the events its handler publishes on other topics retry as usual.
func TestBrokerDeliveryOwnsRetries(t *testing.T) {
	b := newBus(t)
	orders := mustTopic[int](t, b, "orders.placed")
	mails := mustTopic[int](t, b, "mails.sent")
	var (
		mu           sync.Mutex
		orderCalls   []int // AttemptFrom of each call
		mailAttempts []int
		deadLetters  int
	)
	mustSubscribe(t, b, RegisterFunc("orders.placed"+DeadLetterSuffix, func(ctx context.Context, d DeadLetter[int]) error {
		mu.Lock()
		deadLetters++
		mu.Unlock()
		return nil
	}, NoDeadLetters()), Env{})
	fast := Backoff(time.Millisecond, time.Millisecond)
	mustSubscribe(t, b, RegisterFunc("orders.placed", func(ctx context.Context, v int) error {
		mu.Lock()
		orderCalls = append(orderCalls, AttemptFrom(ctx))
		mu.Unlock()
		if err := mails.Publish(ctx, v); err != nil {
			return err
		}
		return errBoom
	}, bus.Name("billing"), Retry(5, fast)), Env{})
	mustSubscribe(t, b, RegisterFunc("mails.sent", func(ctx context.Context, v int) error {
		mu.Lock()
		mailAttempts = append(mailAttempts, AttemptFrom(ctx))
		mu.Unlock()
		if AttemptFrom(ctx) < 2 {
			return errBoom
		}
		return nil
	}, bus.Name("mailer"), Retry(2, fast), NoDeadLetters()), Env{})

	ctx := broker.WithDelivery(testCtx(t), "orders.placed", 3)
	if err := orders.PublishSync(ctx, 1); !errors.Is(err, errBoom) {
		t.Fatalf("PublishSync = %v, want the handler's error", err)
	}
	waitIdle(t, b)

	mu.Lock()
	defer mu.Unlock()
	if len(orderCalls) != 1 || orderCalls[0] != 3 {
		t.Errorf("billing calls saw attempts %v, want [3]: one call with the broker's count", orderCalls)
	}
	if len(mailAttempts) != 2 || mailAttempts[0] != 1 || mailAttempts[1] != 2 {
		t.Errorf("mailer calls saw attempts %v, want [1 2]: the chained event retries locally", mailAttempts)
	}
	if deadLetters != 0 {
		t.Errorf("%d local dead letters for a broker's delivery, want 0", deadLetters)
	}
}

// Without the mark the same handler retries and dead-letters as usual, so
// the test above is not passing for another reason.
func TestBrokerDeliveryUnmarked(t *testing.T) {
	b := newBus(t)
	orders := mustTopic[int](t, b, "orders.placed")
	dead := mustTopic[DeadLetter[int]](t, b, "orders.placed"+DeadLetterSuffix)
	deadSub, err := dead.Subscribe(testCtx(t), bus.Buffer(8))
	if err != nil {
		t.Fatal(err)
	}
	var calls int
	mustSubscribe(t, b, RegisterFunc("orders.placed", func(ctx context.Context, v int) error {
		calls++
		return errBoom
	}, bus.Name("billing"), Retry(3, Backoff(time.Millisecond, time.Millisecond))), Env{})

	// Marked for another topic: not a broker's delivery of this message.
	ctx := broker.WithDelivery(testCtx(t), "payments.made", 2)
	if err := orders.PublishSync(ctx, 1); !errors.Is(err, errBoom) {
		t.Fatalf("PublishSync = %v, want the handler's error", err)
	}
	if calls != 3 {
		t.Errorf("%d calls, want 3", calls)
	}
	d := recv(t, deadSub.C)
	if d.Value.Attempts != 3 {
		t.Errorf("dead letter after %d attempts, want 3", d.Value.Attempts)
	}
}
