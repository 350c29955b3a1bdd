package torture

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// TestHugeBuffer: a Buffer read from configuration can be anything. The bus
// must refuse one it cannot allocate with an error, not take the process
// down: Buffer(math.MaxInt) panics in make, and Buffer(1<<31) on a channel
// of Message[int] asks for 80 GB, a fatal out-of-memory error that no
// recover catches (this test tries only the recoverable size).
func TestHugeBuffer(t *testing.T) {
	for _, handler := range []bool{false, true} {
		t.Run(fmt.Sprint("handler=", handler), func(t *testing.T) {
			b := bus.New()
			defer func() {
				if err := closeBus(t, b, testTimeout); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Subscribe with Buffer(math.MaxInt) panicked: %v", r)
					}
				}()
				if handler {
					_, err = bus.Handle(context.Background(), b, "big", func(context.Context, int) error { return nil }, bus.Buffer(math.MaxInt))
				} else {
					_, err = bus.Subscribe[int](context.Background(), b, "big", bus.Buffer(math.MaxInt))
				}
			}()
			if err == nil {
				t.Fatal("Subscribe with Buffer(math.MaxInt) succeeded, want an error that gives the limit")
			}
		})
	}
}

// TestHugeConcurrency: Concurrency(n) for n above MaxInt32 is accepted, and
// Stats shows n, but the queue keeps it in an int32: 1<<32 wraps to 0 and the
// handler never runs. Its messages wait until Close gives up on them.
func TestHugeConcurrency(t *testing.T) {
	for _, n := range []int{1 << 32, 1<<32 + 1, 1 << 31, math.MaxInt} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			b := bus.New()
			defer func() {
				if err := closeBus(t, b, time.Second); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			top, err := bus.NewTopic[int](b, "jobs")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := top.Handle(context.Background(), func(context.Context, int) error { return nil }, bus.Concurrency(n)); err != nil {
				return // refusing it is a fine answer
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := top.PublishSync(ctx, 1); err != nil {
				t.Fatalf("Concurrency(%d) was accepted, but the handler did not run: %v", n, err)
			}
		})
	}
}
