package torture

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

// TestHugeBuffer: a Buffer read from configuration can be anything. The bus
// must refuse one it cannot allocate with an error that gives the limit, not
// take the process down: before bus.MaxBuffer, Buffer(math.MaxInt) panicked
// in make and Buffer(1<<31) on a channel of Message[int] asked for 80 GB, a
// fatal out-of-memory error that no recover catches.
func TestHugeBuffer(t *testing.T) {
	for _, handler := range []bool{false, true} {
		t.Run(fmt.Sprint("handler=", handler), func(t *testing.T) {
			b := bus.New()
			defer func() {
				if err := closeBus(t, b, testTimeout); err != nil {
					t.Errorf("Close: %v", err)
				}
			}()
			for _, n := range []int{math.MaxInt, 1 << 31, bus.MaxBuffer + 1} {
				var err error
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("Subscribe with Buffer(%d) panicked: %v", n, r)
						}
					}()
					if handler {
						_, err = bus.Handle(context.Background(), b, "big", func(context.Context, int) error { return nil }, bus.Buffer(n))
					} else {
						_, err = bus.Subscribe[int](context.Background(), b, "big", bus.Buffer(n))
					}
				}()
				if err == nil || !strings.Contains(err.Error(), fmt.Sprint(bus.MaxBuffer)) {
					t.Errorf("Subscribe with Buffer(%d) = %v, want an error that gives the limit", n, err)
				}
			}
		})
	}
}

// TestHugeConcurrency: a Concurrency the queue cannot honour is refused.
// Before bus.MaxConcurrency, Concurrency(n) above MaxInt32 was accepted and
// Stats showed n, but the queue kept it in an int32: 1<<32 wrapped to 0 and
// the handler never ran; its messages waited until Close gave up on them.
func TestHugeConcurrency(t *testing.T) {
	for _, n := range []int{1 << 32, 1<<32 + 1, 1 << 31, math.MaxInt, bus.MaxConcurrency + 1, bus.MaxConcurrency} {
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
			_, err = top.Handle(context.Background(), func(context.Context, int) error { return nil }, bus.Concurrency(n))
			if n > bus.MaxConcurrency {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprint(bus.MaxConcurrency)) {
					t.Fatalf("Handle with Concurrency(%d) = %v, want an error that gives the limit", n, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle with Concurrency(%d), the limit: %v", n, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := top.PublishSync(ctx, 1); err != nil {
				t.Fatalf("Concurrency(%d) was accepted, but the handler did not run: %v", n, err)
			}
		})
	}
}
