package benchmarks

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// The shared scenarios. Every implementation runs every workload through the
// same drivers (run and runParallel): b.N messages are published, and the
// clock stops only when each subscriber has handled all of them, so ns/op
// is the cost of one message delivered to every subscriber. Setting up
// (subscribing) and tearing down (closing, waiting for goroutines) are not
// timed.

// event is the one message type of every implementation: small, fixed size,
// no pointers.
type event struct {
	ID int64
	At int64
}

// topic is the topic every implementation publishes on and subscribes to.
const topic = "bench.events"

// buffer is the queue of every subscriber that has one: raw channels,
// fxbus's queues (its DefaultBuffer), cskr's channels, the channels that
// mustafaturan's handlers forward to and watermill's output channels.
const buffer = 128

// A handler is what one subscriber does with each message it gets.
type handler func(event)

// A setup builds one implementation for one benchmark row, with one
// subscriber per element of hs, and returns its publish function, which
// must be safe for concurrent use (BenchmarkParallel). Publish may return
// before the subscribers have the message. A setup registers with
// b.Cleanup whatever ends the implementation and waits for every goroutine
// that it or the setup started, so that goleak finds none left.
type setup func(b *testing.B, hs []handler) func(event) error

// An impl is one implementation under test, in its two styles of
// subscriber. A peer without a callback API uses its channel style for the
// handler rows too: a goroutine per subscription calling the handler is how
// its users run handlers.
type impl struct {
	name     string
	channels setup // each subscriber reads a channel in a goroutine of its own
	handlers setup // the implementation calls each subscriber's function
}

// impls are the rows of every benchmark, in the order benchstat shows them.
var impls = []impl{
	{"inline", inline, inline},
	{"raw", rawChannels, rawChannels},
	{"fxbus", fxbusChannels, fxbusHandlers},
	{"cskr", cskrChannels, cskrChannels},
	{"mustafaturan", mustafaturanChannels, mustafaturanHandlers},
	{"watermill", watermillChannels, watermillHandlers},
}

// BenchmarkNoSubscriber measures a publish that nobody receives.
func BenchmarkNoSubscriber(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) { run(b, im.channels, 0, nop) })
	}
}

// BenchmarkChannels fans each message out to subscribers that each read a
// channel of their own in a goroutine.
func BenchmarkChannels(b *testing.B) {
	for _, subs := range []int{1, 10, 100} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("subs=%d/impl=%s", subs, im.name), func(b *testing.B) {
				run(b, im.channels, subs, nop)
			})
		}
	}
}

// BenchmarkParallel publishes from GOMAXPROCS goroutines at once to one
// channel subscriber.
func BenchmarkParallel(b *testing.B) {
	for _, im := range impls {
		b.Run("impl="+im.name, func(b *testing.B) { runParallel(b, im.channels) })
	}
}

// BenchmarkHandlers fans each message out to handlers that only count.
func BenchmarkHandlers(b *testing.B) {
	for _, subs := range []int{1, 10, 100} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("subs=%d/impl=%s", subs, im.name), func(b *testing.B) {
				run(b, im.handlers, subs, nop)
			})
		}
	}
}

// BenchmarkWork fans each message out to handlers that do about a
// microsecond of CPU work each (see BenchmarkWorkUnit). impl=inline calls
// them in the publisher's loop: what a bus adds is its row minus inline's.
func BenchmarkWork(b *testing.B) {
	for _, subs := range []int{1, 16} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("subs=%d/impl=%s", subs, im.name), func(b *testing.B) {
				run(b, im.handlers, subs, work)
			})
		}
	}
}

// BenchmarkWorkUnit measures the work of one BenchmarkWork handler call
// alone, to check that it is about a microsecond on the machine at hand.
func BenchmarkWorkUnit(b *testing.B) {
	b.ReportAllocs()
	for i := range b.N {
		work(event{ID: int64(i)})
	}
}

func nop(event) {}

// spinRounds makes spin cost about a microsecond on the project's benchmark
// machine, an AMD EPYC core, at 1.8 ns a round (BenchmarkWorkUnit says what
// it costs where it runs).
const spinRounds = 550

// work is the handlers' CPU work for BenchmarkWork. spin's result is
// never 0, but the compiler cannot know it, so the loop cannot be dropped.
func work(ev event) {
	if spin(uint64(ev.ID)) == 0 {
		panic("benchmarks: xorshift reached 0")
	}
}

// spin runs spinRounds rounds of xorshift64 from a non-zero seed: a chain of
// dependent shifts and xors that costs the same on every call, cannot be
// vectorised and allocates nothing. xorshift maps non-zero to non-zero.
func spin(seed uint64) uint64 {
	x := seed | 1
	for range spinRounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// run publishes b.N messages, one at a time, through the implementation that
// build makes with subs subscribers running fn, and stops the clock when
// every subscriber has handled every message.
func run(b *testing.B, build setup, subs int, fn func(event)) {
	t := newTally(b, subs)
	publish := build(b, t.handlers(fn))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := publish(event{ID: int64(i), At: int64(i)}); err != nil {
			b.Fatal(err)
		}
	}
	t.wait()
	b.StopTimer()
}

// runParallel is run with publishers on GOMAXPROCS goroutines (b.N messages
// in all) and one subscriber.
func runParallel(b *testing.B, build setup) {
	t := newTally(b, 1)
	publish := build(b, t.handlers(nop))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var i int64
		for pb.Next() {
			if err := publish(event{ID: i, At: i}); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	if b.Failed() {
		b.FailNow() // fewer than b.N messages were published: t.wait would hang
	}
	t.wait()
	b.StopTimer()
}

// A tally counts the messages each subscriber has handled and tells the
// publisher when each has handled b.N.
type tally struct {
	want   int64
	counts []paddedCount
	all    sync.WaitGroup // one per subscriber still short of want
}

// paddedCount keeps each subscriber's counter on a cache line of its own, so
// that subscribers on different cores do not slow each other down.
type paddedCount struct {
	n atomic.Int64
	_ [56]byte
}

// newTally makes the tally of subs subscribers for one run of b. The
// cleanup it registers runs after those the setup registers later (cleanups
// run last registered first), so it checks the counts once the
// implementation is closed: each must be exactly b.N, no message lost or
// handled twice.
func newTally(b *testing.B, subs int) *tally {
	t := &tally{want: int64(b.N), counts: make([]paddedCount, subs)}
	t.all.Add(subs)
	b.Cleanup(func() {
		if b.Failed() {
			return
		}
		for i := range t.counts {
			if n := t.counts[i].n.Load(); n != t.want {
				b.Errorf("subscriber %d handled %d messages, want %d", i, n, t.want)
			}
		}
	})
	return t
}

// handlers returns one handler per subscriber: each runs fn and counts. The
// counter is atomic because some implementations (mustafaturan's, and
// inline) call a handler on the publishers' goroutines, concurrently in
// BenchmarkParallel.
func (t *tally) handlers(fn func(event)) []handler {
	hs := make([]handler, len(t.counts))
	for i := range hs {
		c := &t.counts[i].n
		hs[i] = func(ev event) {
			fn(ev)
			if c.Add(1) == t.want {
				t.all.Done()
			}
		}
	}
	return hs
}

// wait returns when every subscriber has handled want messages.
func (t *tally) wait() { t.all.Wait() }

// subName names subscriber i for the implementations that want names.
func subName(i int) string { return fmt.Sprintf("s%d", i) }
