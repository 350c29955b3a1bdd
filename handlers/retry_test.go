package handlers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
)

func TestRetryCounts(t *testing.T) {
	errSkip := errors.New("not worth a retry")
	tests := []struct {
		name      string
		opts      []bus.SubscribeOption
		fail      func(attempt int) error // the handler's error at each attempt
		wantCalls int
		wantWaits int
		fates     []string // nothing subscribes to jobs.dead-letter
		outcomes  []string // when set: what each call did
		wantErr   error
	}{
		{
			name:      "no retry by default",
			fail:      func(int) error { return errBoom },
			wantCalls: 1, fates: []string{"dead-letter-unread"}, wantErr: errBoom,
		},
		{
			name:      "always failing stops at the attempt bound",
			opts:      []bus.SubscribeOption{Retry(4)},
			fail:      func(int) error { return errBoom },
			wantCalls: 4, wantWaits: 3,
			fates: []string{"retried", "retried", "retried", "dead-letter-unread"}, wantErr: errBoom,
		},
		{
			name: "success on the third attempt",
			opts: []bus.SubscribeOption{Retry(5)},
			fail: func(n int) error {
				if n < 3 {
					return errBoom
				}
				return nil
			},
			wantCalls: 3, wantWaits: 2, fates: []string{"retried", "retried", "handled"},
		},
		{
			name:      "permanent error stops at once",
			opts:      []bus.SubscribeOption{Retry(5)},
			fail:      func(int) error { return fmt.Errorf("wrapped: %w", Permanent(errBoom)) },
			wantCalls: 1, fates: []string{"dead-letter-unread"}, wantErr: errBoom,
		},
		{
			name: "permanent wins over RetryIf",
			opts: []bus.SubscribeOption{Retry(5, RetryIf(func(error) bool { return true }))},
			fail: func(n int) error {
				if n == 2 {
					return Permanent(errBoom)
				}
				return errBoom
			},
			wantCalls: 2, wantWaits: 1, fates: []string{"retried", "dead-letter-unread"}, wantErr: errBoom,
		},
		{
			name: "RetryIf refuses",
			opts: []bus.SubscribeOption{Retry(5, RetryIf(func(err error) bool { return !errors.Is(err, errSkip) }))},
			fail: func(n int) error {
				if n == 1 {
					return errBoom
				}
				return errSkip
			},
			wantCalls: 2, wantWaits: 1, fates: []string{"retried", "dead-letter-unread"}, wantErr: errSkip,
		},
		{
			name:      "panics are retried too",
			opts:      []bus.SubscribeOption{Retry(2)},
			fail:      func(int) error { panic("kaput") },
			wantCalls: 2, wantWaits: 1, fates: []string{"retried", "dead-letter-unread"},
			outcomes: []string{"panic", "panic"},
		},
		{
			name:      "no dead letters",
			opts:      []bus.SubscribeOption{Retry(3), NoDeadLetters()},
			fail:      func(int) error { return errBoom },
			wantCalls: 3, wantWaits: 2, fates: []string{"retried", "retried", "discarded"}, wantErr: errBoom,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBus(t)
			top := mustTopic[int](t, b, "jobs")
			var (
				calls    atomic.Int32
				attempts []int
				sl       sleeper
				rec      recorder
			)
			opts := append([]bus.SubscribeOption{withSleep(sl.sleep)}, tt.opts...)
			mustSubscribe(t, b, RegisterFunc("jobs", func(ctx context.Context, v int) error {
				n := int(calls.Add(1))
				attempts = append(attempts, AttemptFrom(ctx))
				return tt.fail(n)
			}, opts...), Env{Observer: &rec})

			err := top.PublishSync(testCtx(t), 1)
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("calls = %d, want %d", got, tt.wantCalls)
			}
			if want := seq(tt.wantCalls); !slices.Equal(attempts, want) {
				t.Errorf("AttemptFrom = %v, want %v", attempts, want)
			}
			if got := len(sl.got()); got != tt.wantWaits {
				t.Errorf("backoff waits = %d, want %d", got, tt.wantWaits)
			}
			if got := rec.fates(); !slices.Equal(got, tt.fates) {
				t.Errorf("fates = %v, want %v", got, tt.fates)
			}
			if got := rec.outcomes(); tt.outcomes != nil && !slices.Equal(got, tt.outcomes) {
				t.Errorf("outcomes = %v, want %v", got, tt.outcomes)
			}
			if got := rec.attempts(); !slices.Equal(got, seq(tt.wantCalls)) {
				t.Errorf("observed attempts = %v, want %v", got, seq(tt.wantCalls))
			}
			switch {
			case tt.fates[len(tt.fates)-1] == "handled":
				if err != nil {
					t.Errorf("PublishSync: %v, want nil", err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("PublishSync: %v, want an error matching %v", err, tt.wantErr)
				}
			default:
				var pe *bus.PanicError
				if !errors.As(err, &pe) {
					t.Errorf("PublishSync: %v, want a *bus.PanicError", err)
				}
			}
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestBackoffBounds(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		opts     []RetryOption
		rnd      func() float64 // nil: the real random source
		ceilings []time.Duration
		jitter   float64
	}{
		{
			name:     "defaults",
			ceilings: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms, 10000 * ms, 10000 * ms},
			jitter:   0.2,
		},
		{
			name:     "custom, real jitter",
			opts:     []RetryOption{Backoff(10*ms, 200*ms), Jitter(0.5)},
			ceilings: []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 200 * ms, 200 * ms},
			jitter:   0.5,
		},
		{
			name:     "no jitter is exact",
			opts:     []RetryOption{Backoff(10*ms, time.Second), Jitter(0), BackoffMultiplier(3)},
			ceilings: []time.Duration{10 * ms, 30 * ms, 90 * ms, 270 * ms, 810 * ms, time.Second},
		},
		{
			name:     "jitter at its lowest draw",
			opts:     []RetryOption{Backoff(10*ms, 40*ms), Jitter(0.5)},
			rnd:      func() float64 { return 0 },
			ceilings: []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms},
			jitter:   0.5,
		},
		{
			name:     "jitter at its highest draw",
			opts:     []RetryOption{Backoff(10*ms, 40*ms), Jitter(0.5)},
			rnd:      func() float64 { return 0.999999 },
			ceilings: []time.Duration{10 * ms, 20 * ms, 40 * ms, 40 * ms},
			jitter:   0.5,
		},
		{
			name:     "a huge attempt count stays at the maximum",
			opts:     []RetryOption{Backoff(time.Second, time.Minute), BackoffMultiplier(1e6), Jitter(0)},
			ceilings: append([]time.Duration{time.Second}, slices.Repeat([]time.Duration{time.Minute}, 200)...),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sl sleeper
			opts := []bus.SubscribeOption{Retry(len(tt.ceilings)+1, tt.opts...), withSleep(sl.sleep)}
			if tt.rnd != nil {
				opts = append(opts, withRand(tt.rnd))
			}
			var calls int
			h := chainOf(t, Handler[int](Func[int](func(context.Context, int) error {
				calls++
				return errBoom
			})), Env{}, opts...)
			if err := h.Handle(testCtx(t), 1); !errors.Is(err, errBoom) {
				t.Fatalf("Handle: %v, want boom", err)
			}
			if calls != len(tt.ceilings)+1 {
				t.Fatalf("calls = %d, want %d", calls, len(tt.ceilings)+1)
			}
			waits := sl.got()
			if len(waits) != len(tt.ceilings) {
				t.Fatalf("waits = %v, want %d of them", waits, len(tt.ceilings))
			}
			for i, w := range waits {
				hi := tt.ceilings[i]
				lo := hi - time.Duration(float64(hi)*tt.jitter)
				if w < lo || w > hi {
					t.Errorf("wait %d = %v, want within [%v, %v]", i+1, w, lo, hi)
				}
				if tt.rnd != nil && tt.rnd() == 0 && w != hi {
					t.Errorf("wait %d = %v, want %v with no random part", i+1, w, hi)
				}
				if tt.rnd != nil && tt.rnd() > 0.9 && w > lo+time.Microsecond {
					t.Errorf("wait %d = %v, want about %v with the whole random part", i+1, w, lo)
				}
			}
		})
	}
}

// A real, short backoff, to cover the timer that tests otherwise replace.
func TestRetryRealTimer(t *testing.T) {
	var calls int
	h := chainOf(t, Handler[int](Func[int](func(context.Context, int) error {
		calls++
		if calls < 3 {
			return errBoom
		}
		return nil
	})), Env{}, Retry(3, Backoff(time.Microsecond, time.Microsecond)))
	if err := h.Handle(testCtx(t), 1); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if calls != 3 {
		t.Fatalf("calls = %d, want 3", calls)
	}
}

// The wait between attempts ends as soon as the handler's context does.
func TestRetryWaitHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	waiting := make(chan struct{})
	var calls int
	var rec recorder
	h := chainOf(t, Handler[int](Func[int](func(context.Context, int) error {
		calls++
		return errBoom
	})), Env{Observer: &rec}, Retry(5, Backoff(time.Hour, time.Hour)), withSleep(func(ctx context.Context, d time.Duration) error {
		close(waiting)
		return sleepCtx(ctx, d)
	}))
	errc := make(chan error, 1)
	go func() { errc <- h.Handle(ctx, 1) }()
	wait(t, waiting)
	cancel()
	err := recv(t, errc)
	if !errors.Is(err, errBoom) || calls != 1 {
		t.Fatalf("Handle: %v after %d calls, want boom after 1", err, calls)
	}
	if want := "stopped retrying after 1 attempt(s) because its context ended"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if got := rec.fates(); !slices.Equal(got, []string{"retried"}) {
		t.Errorf("fates = %v, want [retried]", got)
	}
}

// A context that has already ended stops retries before any wait.
func TestRetryEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var sl sleeper
	var calls int
	h := chainOf(t, Handler[int](Func[int](func(context.Context, int) error {
		calls++
		return errBoom
	})), Env{}, Retry(5), withSleep(sl.sleep))
	if err := h.Handle(ctx, 1); !errors.Is(err, errBoom) {
		t.Fatalf("Handle: %v", err)
	}
	if calls != 1 || len(sl.got()) != 0 {
		t.Fatalf("calls = %d, waits = %v; want 1 call and no wait", calls, sl.got())
	}
}

// Close that gives up draining ends a backoff at once, so that a retrying
// handler never holds up shutdown past the stop deadline.
func TestRetryBackoffEndsAtShutdown(t *testing.T) {
	b := bus.New()
	top := mustTopic[int](t, b, "jobs")
	waiting := make(chan struct{})
	woke := make(chan error, 1)
	mustSubscribe(t, b, RegisterFunc("jobs", func(context.Context, int) error { return errBoom },
		Retry(3, Backoff(time.Hour, time.Hour)), withSleep(func(ctx context.Context, d time.Duration) error {
			close(waiting)
			err := sleepCtx(ctx, d)
			woke <- err
			return err
		})), Env{})
	if err := top.Publish(testCtx(t), 1); err != nil {
		t.Fatal(err)
	}
	wait(t, waiting)
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	closed := make(chan error, 1)
	go func() { closed <- b.Close(ended) }()
	if err := recv(t, woke); !errors.Is(err, context.Canceled) {
		t.Errorf("backoff wait ended with %v, want context.Canceled", err)
	}
	var se *bus.ShutdownError
	if err := recv(t, closed); !errors.As(err, &se) {
		t.Fatalf("Close: %v, want a *bus.ShutdownError", err)
	}
}

// Env.Wait replaces the backoff's timer for every registration, so that a
// test (fxtest.NoRetryWait) retries at once.
func TestEnvWait(t *testing.T) {
	b := newBus(t)
	top := mustTopic[int](t, b, "jobs")
	var sl sleeper
	var calls atomic.Int32
	mustSubscribe(t, b, RegisterFunc("jobs", func(context.Context, int) error {
		calls.Add(1)
		return errBoom
	}, Retry(3, Backoff(time.Hour, time.Hour), Jitter(0)), NoDeadLetters()), Env{Wait: sl.sleep})
	if err := top.PublishSync(testCtx(t), 1); !errors.Is(err, errBoom) {
		t.Fatalf("PublishSync = %v, want boom", err)
	}
	if got, want := sl.got(), []time.Duration{time.Hour, time.Hour}; !slices.Equal(got, want) || calls.Load() != 3 {
		t.Errorf("waits %v over %d calls, want %v over 3", got, calls.Load(), want)
	}
}
