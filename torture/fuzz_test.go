package torture

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// fuzzBus returns a bus that the fuzz iteration closes, and checks that
// Close drains it cleanly.
func fuzzBus(t *testing.T) *bus.Bus {
	b := bus.New()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// fixedTopics are declared on every FuzzNames bus, so that a pattern has
// something to match.
var fixedTopics = []string{"a", "a.b", "a.b.c", "a.c", "orders.created", "orders.created.eu", "x-y.z_1"}

// FuzzNames feeds any topic name and any pattern through the public API:
// NewTopic and Subscribe must fail or succeed, never panic, exactly as
// ValidateTopic and ValidatePattern say; a failure is a *bus.NameError that
// quotes the input; a subscription is attached to exactly the topics that
// Match says its pattern matches, whether they were declared before it or
// after it.
func FuzzNames(f *testing.F) {
	for _, s := range [][2]string{
		{"a", "a"}, {"a.b", "a.*"}, {"a.b.c", "a.>"}, {"orders.new", ">"}, {"", ""}, {"a..b", "a.*.>"},
		{"a.>", "a.>.b"}, {"*", "*.*"}, {"a b", "a.b*"}, {"ö", "x-y.*"}, {"orders.created.us", "orders.*.eu"},
		{strings.Repeat("a.", 127) + "a", strings.Repeat("*.", 127) + ">"}, {"a.\x00", ">."},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, pattern string) {
		_ = bus.Match(pattern, name) // any input: no panic
		_ = bus.Match(name, pattern)
		ctx := context.Background()
		b := fuzzBus(t)
		topics := slices.Clone(fixedTopics)
		for _, n := range topics {
			if _, err := bus.NewTopic[int](b, n); err != nil {
				t.Fatalf("NewTopic(%q): %v", n, err)
			}
		}

		terr := bus.ValidateTopic(name)
		_, err := bus.NewTopic[int](b, name)
		if (err == nil) != (terr == nil) {
			t.Fatalf("NewTopic(%q) = %v, but ValidateTopic says %v", name, err, terr)
		}
		if err != nil {
			checkNameError(t, err, name, false)
		} else {
			if bus.ValidatePattern(name) != nil {
				t.Fatalf("%q is a valid topic name but not a valid pattern", name)
			}
			if !bus.Match(name, name) {
				t.Fatalf("Match(%q, %q) = false", name, name)
			}
			if !slices.Contains(topics, name) {
				topics = append(topics, name)
			}
		}

		perr := bus.ValidatePattern(pattern)
		s, err := bus.Subscribe[int](ctx, b, pattern, bus.Buffer(1), bus.WithPolicy(bus.DropNewest()))
		if (err == nil) != (perr == nil) {
			t.Fatalf("Subscribe(%q) = %v, but ValidatePattern says %v", pattern, err, perr)
		}
		if err != nil {
			checkNameError(t, err, pattern, true)
			return
		}
		defer s.Close()
		wildcard := slices.Contains(strings.Split(pattern, "."), "*") || slices.Contains(strings.Split(pattern, "."), ">")
		if !wildcard {
			if bus.ValidateTopic(pattern) != nil {
				t.Fatalf("%q is a valid pattern without wildcards but not a valid topic name", pattern)
			}
			if !slices.Contains(topics, pattern) {
				topics = append(topics, pattern) // Subscribe declared it
			}
		}
		// A topic declared after the subscription.
		late := "late.z"
		if terr == nil && len(name) < 200 {
			late = name + ".late"
		}
		if _, err := bus.NewTopic[int](b, late); err != nil {
			t.Fatalf("NewTopic(%q): %v", late, err)
		}
		if !slices.Contains(topics, late) {
			topics = append(topics, late)
		}

		var want []string
		for _, n := range topics {
			m := bus.Match(pattern, n)
			if !wildcard && m != (n == pattern) {
				t.Fatalf("Match(%q, %q) = %v for a pattern without wildcards", pattern, n, m)
			}
			if m {
				want = append(want, n)
			}
		}
		slices.Sort(want)
		var got []string
		for _, ss := range b.Stats().Subscriptions {
			if ss.Active && ss.Pattern == pattern {
				got = ss.Topics
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("subscription %q is attached to %q; Match says %q", pattern, got, want)
		}
	})
}

func checkNameError(t *testing.T, err error, name string, pattern bool) {
	t.Helper()
	var ne *bus.NameError
	if !errors.As(err, &ne) || ne.Name != name || ne.Pattern != pattern || ne.Reason == "" {
		t.Fatalf("error for %q is %v (%T), want a *bus.NameError for it", name, err, err)
	}
	// A name of more than 64 bytes is quoted cut to its first 64, with its
	// length, so that an error about a megabyte of input stays readable.
	want := strconv.Quote(name)
	if len(name) > 64 {
		want = fmt.Sprintf("%s... (%d bytes)", strconv.Quote(name[:64]), len(name))
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not quote the name as %s", err, want)
	}
}

// parsePolicy reads s as configuration does, with Policy.UnmarshalText.
func parsePolicy(s string) (bus.Policy, error) {
	var p bus.Policy
	err := p.UnmarshalText([]byte(s))
	return p, err
}

// FuzzParsePolicy: Policy.UnmarshalText takes any string without panicking;
// a policy it accepts prints (String, MarshalText) as a string that parses
// back to the same policy, it reads the same into a Policy that held
// another one (and leaves that one on error), and a subscription takes it.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{
		"block", "block:2s", "block:0s", "block:-1s", "block:", "block:1.5ms", "drop-newest", "drop-oldest",
		"drop-oldest:1", "disconnect:10", "disconnect:0", "disconnect:-3", "disconnect:+5", "disconnect:",
		"disconnect", "Block", "", ":", "block:9223372036854775807ns", "disconnect:99999999999999999999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePolicy(s)
		q := bus.DropOldest()
		uerr := q.UnmarshalText([]byte(s))
		if (err == nil) != (uerr == nil) || (err == nil && q != p) || (err != nil && q != bus.DropOldest()) {
			t.Fatalf("UnmarshalText(%q) = %v, %v; into DropOldest = %v, %v", s, p, err, q, uerr)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "policy") {
				t.Fatalf("UnmarshalText(%q): error %q does not say it is about a policy", s, err)
			}
			return
		}
		str := p.String()
		if txt, _ := p.MarshalText(); string(txt) != str {
			t.Fatalf("MarshalText = %q, String = %q", txt, str)
		}
		back, err := parsePolicy(str)
		if err != nil || back != p {
			t.Fatalf("UnmarshalText(%q) = %v; its String %q parses to %v, %v", s, p, str, back, err)
		}
		b := fuzzBus(t)
		sub, err := bus.Subscribe[int](context.Background(), b, "p", bus.WithPolicy(p))
		if err != nil {
			t.Fatalf("Subscribe with policy %v (from %q): %v", p, s, err)
		}
		sub.Close()
	})
}

// maxFuzzBuffer bounds the valid Buffers the fuzz targets try: a queue is
// allocated whole, and one of bus.MaxBuffer messages costs hundreds of
// megabytes per execution. Larger valid values are folded under it; values
// above bus.MaxBuffer are kept, and must be refused.
const maxFuzzBuffer = 1 << 16

// FuzzSubscribeOptions combines Buffer, Concurrency, the policies with their
// arguments, QueueGroup and Name at random, on channel and handler
// subscriptions. Subscribe must fail exactly when an option is invalid, and
// never panic; a subscription it makes reports the options in Stats, and a
// handler subscription handles a message.
func FuzzSubscribeOptions(f *testing.F) {
	f.Add(uint8(0xff), 8, 2, 3, int64(time.Millisecond), uint8(4), true, "g", "n")
	f.Add(uint8(0x01), 0, 0, 0, int64(0), uint8(0), false, "", "")
	f.Add(uint8(0x02), 1, -1, 0, int64(0), uint8(0), false, "", "")
	f.Add(uint8(0x04), 1, 1, 0, int64(-1), uint8(1), true, "", "")
	f.Add(uint8(0x04), 1, 1, 0, int64(0), uint8(4), true, "", "")
	f.Add(uint8(0x08), 1, 1, 1, int64(0), uint8(0), false, "a..b", "")
	f.Add(uint8(0x10), 1, 1, 1, int64(0), uint8(0), false, "", "")
	f.Add(uint8(0x1f), -5, math.MinInt, math.MaxInt, int64(math.MaxInt64), uint8(3), true, "*", "x")
	f.Fuzz(func(t *testing.T, set uint8, buffer, conc, after int, wait int64, kind uint8, handler bool, group, name string) {
		if buffer > maxFuzzBuffer && buffer <= bus.MaxBuffer {
			buffer %= maxFuzzBuffer
		}
		var opts []bus.SubscribeOption
		var why []string // the options that must make Subscribe fail
		policy := bus.Block()
		if set&1 != 0 {
			opts = append(opts, bus.Buffer(buffer))
			if buffer < 1 || buffer > bus.MaxBuffer {
				why = append(why, "buffer")
			}
		}
		if set&2 != 0 {
			opts = append(opts, bus.Concurrency(conc))
			if conc < 1 || conc > bus.MaxConcurrency || !handler {
				why = append(why, "concurrency")
			}
		}
		if set&4 != 0 {
			switch kind % 5 {
			case 0:
				policy = bus.Block()
			case 1:
				policy = bus.BlockFor(time.Duration(wait))
				if wait < 0 {
					why = append(why, "block-for")
				}
			case 2:
				policy = bus.DropNewest()
			case 3:
				policy = bus.DropOldest()
			case 4:
				policy = bus.DisconnectAfter(after)
				if after < 1 {
					why = append(why, "disconnect-after")
				}
			}
			opts = append(opts, bus.WithPolicy(policy))
		}
		if set&8 != 0 {
			opts = append(opts, bus.QueueGroup(group))
			if bus.ValidateTopic(group) != nil {
				why = append(why, "group")
			}
		}
		if set&16 != 0 {
			opts = append(opts, bus.Name(name))
			if name == "" {
				why = append(why, "name")
			}
		}
		b := fuzzBus(t)
		top, err := bus.NewTopic[int](b, "opts")
		if err != nil {
			t.Fatal(err)
		}
		handled := make(chan struct{}, 1)
		var s *bus.Subscription[int]
		if handler {
			s, err = top.Handle(context.Background(), func(context.Context, int) error {
				select {
				case handled <- struct{}{}:
				default:
				}
				return nil
			}, opts...)
		} else {
			s, err = top.Subscribe(context.Background(), opts...)
		}
		if (err != nil) != (len(why) > 0) {
			t.Fatalf("Subscribe (handler %v) with set %#x buffer %d conc %d policy %v group %q name %q = %v; invalid: %v",
				handler, set, buffer, conc, policy, group, name, err, why)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "bus: ") {
				t.Fatalf("error %q does not say where it comes from", err)
			}
			return
		}
		defer s.Close()
		st := b.Stats().Subscriptions
		if len(st) != 1 {
			t.Fatalf("stats %+v", st)
		}
		ss := st[0]
		wantBuf, wantConc := bus.DefaultBuffer, 0
		if set&1 != 0 {
			wantBuf = buffer
		}
		if handler {
			wantConc = 1
			if set&2 != 0 {
				wantConc = conc
			}
		}
		if ss.Buffer != wantBuf || ss.Concurrency != wantConc || ss.Policy != policy || ss.Handler != handler {
			t.Fatalf("stats %+v, want buffer %d, concurrency %d, policy %v", ss, wantBuf, wantConc, policy)
		}
		if set&16 != 0 && ss.Name != name {
			t.Fatalf("stats name %q, want %q", ss.Name, name)
		}
		if handler {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := top.PublishSync(ctx, 1); err != nil {
				t.Fatalf("PublishSync to the handler: %v", err)
			}
			select {
			case <-handled:
			default:
				t.Fatal("PublishSync returned before the handler ran")
			}
		}
	})
}

// FuzzHandlerOptions: handlers' options with any values. A Registration
// reports bad options through Err (never a panic), exactly when a value is
// out of its documented range, and subscribes when they are good.
func FuzzHandlerOptions(f *testing.F) {
	f.Add(uint8(0xff), 2, int64(time.Second), 3, int64(time.Millisecond), int64(time.Second), 2.0, 0.2, "h", "dl.topic")
	f.Add(uint8(0xff), 0, int64(0), 0, int64(0), int64(0), 0.5, -0.1, "", "")
	f.Add(uint8(0x7f), 1, int64(-1), 1, int64(2), int64(1), math.NaN(), math.Inf(1), "x", "a..b")
	f.Add(uint8(0x08), 1, int64(1), 5, int64(1), int64(1), 1.0, 1.0, "x", "dl")
	f.Add(uint8(0x08), 1, int64(1), 5, int64(1), int64(1), 1e7, 0.0, "x", "dl")
	f.Fuzz(func(t *testing.T, set uint8, conc int, timeout int64, attempts int, initial, maxWait int64, mult, jitter float64, name, dlTopic string) {
		var opts []bus.SubscribeOption
		var why []string
		if set&1 != 0 {
			opts = append(opts, bus.Concurrency(conc))
			if conc < 1 || conc > bus.MaxConcurrency {
				why = append(why, "concurrency")
			}
		}
		if set&2 != 0 {
			opts = append(opts, handlers.Timeout(time.Duration(timeout)))
			if timeout <= 0 {
				why = append(why, "timeout")
			}
		}
		if set&4 != 0 {
			var ropts []handlers.RetryOption
			var rwhy []string
			if set&8 != 0 {
				ropts = append(ropts, handlers.Backoff(time.Duration(initial), time.Duration(maxWait)))
				if initial <= 0 || maxWait < initial {
					rwhy = append(rwhy, "backoff")
				}
			}
			if set&16 != 0 {
				ropts = append(ropts, handlers.BackoffMultiplier(mult))
				if !(mult >= 1 && mult <= 1e6) {
					rwhy = append(rwhy, "multiplier")
				}
			}
			if set&32 != 0 {
				ropts = append(ropts, handlers.Jitter(jitter))
				if !(jitter >= 0 && jitter <= 1) {
					rwhy = append(rwhy, "jitter")
				}
			}
			opts = append(opts, handlers.Retry(attempts, ropts...))
			if attempts < 1 {
				rwhy = []string{"attempts"} // Retry stops at the first problem
			}
			why = append(why, rwhy...)
		}
		if set&64 != 0 {
			opts = append(opts, bus.Name(name))
			if name == "" {
				why = append(why, "name")
			}
		}
		if set&128 != 0 {
			opts = append(opts, handlers.DeadLetterTopic(dlTopic))
			if bus.ValidateTopic(dlTopic) != nil {
				why = append(why, "dead-letter topic")
			}
		}
		reg := handlers.RegisterFunc("jobs", func(context.Context, int) error { return nil }, opts...)
		err := reg.Err()
		if (err != nil) != (len(why) > 0) {
			t.Fatalf("Err() = %v; invalid: %v", err, why)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "jobs") {
				t.Fatalf("error %q does not name the handler's topic", err)
			}
			return
		}
		b := fuzzBus(t)
		s, err := reg.Subscribe(context.Background(), b)
		if err != nil {
			// A dead-letter topic that is the handler's own topic carries
			// the wrong type: an error, named, not a panic.
			var te *bus.TypeError
			if set&128 != 0 && dlTopic == "jobs" && errors.As(err, &te) {
				return
			}
			t.Fatalf("Subscribe of a valid registration: %v", err)
		}
		s.Close()
	})
}
