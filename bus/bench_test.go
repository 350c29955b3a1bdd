package bus

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// The benchmarks run each bus workload beside its baseline, in the same run:
// raw buffered channels, one per subscriber, each drained by its own
// goroutine. Compare them with benchstat (see BENCHMARKS.md).

type event struct {
	ID    int64
	Price int64
}

const benchBuffer = 1024

// rawFanout is the baseline: one buffered channel per subscriber.
type rawFanout struct {
	chs []chan event
	wg  sync.WaitGroup
}

func newRawFanout(n int, consume func(event)) *rawFanout {
	r := &rawFanout{}
	for range n {
		ch := make(chan event, benchBuffer)
		r.chs = append(r.chs, ch)
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for v := range ch {
				consume(v)
			}
		}()
	}
	return r
}

func (r *rawFanout) publish(v event) {
	for _, ch := range r.chs {
		ch <- v
	}
}

func (r *rawFanout) close() {
	for _, ch := range r.chs {
		close(ch)
	}
	r.wg.Wait()
}

func benchBus(b *testing.B, subs int, opts ...SubscribeOption) (*Bus, *Topic[event], func()) {
	b.Helper()
	bs := New()
	top, err := NewTopic[event](bs, "bench.events")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range subs {
		s, err := top.Subscribe(context.Background(), append([]SubscribeOption{Buffer(benchBuffer), Name(fmt.Sprint("s", i))}, opts...)...)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range s.C {
			}
		}()
	}
	return bs, top, func() {
		if err := bs.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		wg.Wait()
	}
}

func BenchmarkPublish(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subs=%d/impl=raw", n), func(b *testing.B) {
			r := newRawFanout(n, func(event) {})
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.publish(event{ID: int64(i)})
			}
			b.StopTimer()
			r.close()
		})
		b.Run(fmt.Sprintf("subs=%d/impl=bus", n), func(b *testing.B) {
			_, top, done := benchBus(b, n)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := top.Publish(ctx, event{ID: int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			done()
		})
	}
	b.Run("subs=0/impl=bus", func(b *testing.B) {
		_, top, done := benchBus(b, 0)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = top.Publish(ctx, event{ID: int64(i)})
		}
		b.StopTimer()
		done()
	})
	b.Run("group=4/impl=raw", func(b *testing.B) {
		// A work queue: one channel read by four goroutines.
		r := newRawFanout(0, nil)
		ch := make(chan event, benchBuffer)
		for range 4 {
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				for range ch {
				}
			}()
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			ch <- event{ID: int64(i)}
		}
		b.StopTimer()
		close(ch)
		r.wg.Wait()
	})
	b.Run("group=4/impl=bus", func(b *testing.B) {
		_, top, done := benchBus(b, 4, QueueGroup("workers"))
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			_ = top.Publish(ctx, event{ID: int64(i)})
		}
		b.StopTimer()
		done()
	})
	b.Run("parallel/subs=1/impl=raw", func(b *testing.B) {
		r := newRawFanout(1, func(event) {})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.publish(event{ID: 1})
			}
		})
		b.StopTimer()
		r.close()
	})
	b.Run("parallel/subs=1/impl=bus", func(b *testing.B) {
		_, top, done := benchBus(b, 1)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = top.Publish(ctx, event{ID: 1})
			}
		})
		b.StopTimer()
		done()
	})
}

// BenchmarkHandlers compares handler subscriptions with the usual way to run
// a handler: a goroutine per subscriber reading a buffered channel and
// calling the same function. ns/op is per published message.
func BenchmarkHandlers(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1, 100} {
		var sink atomic.Int64
		work := func(v event) { sink.Add(v.ID & 1) }
		b.Run(fmt.Sprintf("subs=%d/impl=raw", n), func(b *testing.B) {
			r := newRawFanout(n, work)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.publish(event{ID: int64(i)})
			}
			b.StopTimer()
			r.close()
		})
		b.Run(fmt.Sprintf("subs=%d/impl=bus", n), func(b *testing.B) {
			bs := New()
			top, err := NewTopic[event](bs, "bench.events")
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				_, err := top.Handle(ctx, func(_ context.Context, v event) error { work(v); return nil }, Buffer(benchBuffer), Name(fmt.Sprint("h", i)))
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := top.Publish(ctx, event{ID: int64(i)}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := bs.Close(ctx); err != nil {
				b.Fatal(err)
			}
		})
		if n == 1 {
			// How low a handler subscription could go: see ring.
			for _, impl := range []string{"ring", "floor"} {
				b.Run("subs=1/impl="+impl, func(b *testing.B) {
					r := newRing(impl == "floor", work)
					b.ReportAllocs()
					for i := 0; b.Loop(); i++ {
						r.publish(event{ID: int64(i)})
					}
					b.StopTimer()
					r.close()
				})
			}
		}
	}
}

// ring runs a handler off the publisher's goroutine, in order, with a
// bounded buffer, and parks its worker when there is nothing to do: the
// protocol of the bus's rings (queue.runSerial), on a goroutine of its own,
// for one publisher, and with none of the bus around it: no routing,
// policies, Stats or end. BenchmarkHandlers runs it beside the raw channel to
// show what the speed targets for one handler subscriber cost.
//
// impl=ring is the protocol alone: the publisher writes the message into a
// slot and publishes the ring's tail; the worker takes what is there in
// batches. impl=floor adds only what each message needs for what the bus
// promises a handler: the lock that lets many goroutines publish, a handler
// context per message that carries its correlation ID and topic (allocated
// in blocks, as the bus does), the topic's publish counter behind the ID,
// a slot that holds that context and is emptied once taken (so the ring
// keeps nothing alive), and the subscriber's handled counter. The bus cannot
// be cheaper than impl=floor with one subscriber.
type ring struct {
	floor bool
	top   *topicBase // for the handler contexts, with impl=floor
	slots []ringSlot
	mask  uint64
	work  func(event)
	wake  chan struct{}
	quit  atomic.Bool
	done  chan struct{}

	_       [64]byte
	mu      sync.Mutex // taken with impl=floor
	tail    uint64
	limit   uint64 // tail may grow to this without reading head
	_       [64]byte
	ptail   atomic.Uint64 // tail, published for the worker
	_       [64]byte
	state   atomic.Int32 // 1 while the worker runs or is being woken
	_       [64]byte
	head    atomic.Uint64
	_       [64]byte
	handled atomic.Uint64
	_       [64]byte
}

type ringSlot struct {
	v  event
	hc *msgCtx
	_  *waiter // the bus's slot has a PublishSync waiter here: the same size
}

func newRing(floor bool, work func(event)) *ring {
	r := &ring{
		floor: floor, top: &topicBase{name: "bench.events", seed: 42}, slots: make([]ringSlot, benchBuffer),
		mask: benchBuffer - 1, work: work, limit: benchBuffer,
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	go r.run()
	return r
}

func (r *ring) publish(v event) {
	var hc *msgCtx
	if r.floor {
		hc = r.top.newMsgCtx(background, nil, r.top.published.Add(1), nil)
		r.mu.Lock()
	}
	for r.tail >= r.limit {
		r.limit = r.head.Load() + uint64(len(r.slots))
		if r.tail >= r.limit {
			runtime.Gosched() // full: Block, without a ctx to watch
		}
	}
	r.slots[r.tail&r.mask] = ringSlot{v: v, hc: hc}
	r.tail++
	r.ptail.Store(r.tail)
	if r.state.Load() == 0 && r.state.CompareAndSwap(0, 1) {
		r.wake <- struct{}{}
	}
	if r.floor {
		r.mu.Unlock()
	}
}

func (r *ring) run() {
	defer close(r.done)
	var buf [maxBatch]ringSlot
	for range r.wake {
		for idle := 0; ; {
			h, t := r.head.Load(), r.ptail.Load()
			if h < t {
				i := h & r.mask
				k := min(t-h, maxBatch, uint64(len(r.slots))-i)
				copy(buf[:k], r.slots[i:i+k])
				if r.floor {
					clear(r.slots[i : i+k])
				}
				r.head.Store(h + k)
				for j := range buf[:k] {
					r.work(buf[j].v)
					if r.floor {
						r.handled.Add(1)
					}
				}
				idle = 0
				continue
			}
			if idle < lingerRounds {
				idle++
				runtime.Gosched()
				continue
			}
			r.state.Store(0)
			if r.ptail.Load() == r.head.Load() || !r.state.CompareAndSwap(0, 1) {
				break
			}
		}
		if r.quit.Load() {
			return
		}
	}
}

// close waits until the worker has handled every message.
func (r *ring) close() {
	r.quit.Store(true)
	if r.state.CompareAndSwap(0, 1) {
		r.wake <- struct{}{}
	}
	<-r.done
}

// BenchmarkFloor asks how close Publish to channel subscribers can come to
// raw channels, given what the bus promises. Beside the raw channel and the
// bus, impl=envelope sends the bus's Message on a plain channel, and
// impl=floor does only the work that every delivery needs for the bus's
// guarantees: the topic's publish counter (Stats, and the sequence behind
// the correlation ID), the correlation ID, the sender guard that lets a
// subscription end (and its channel close) while publishers race it, and the
// subscriber's sent counter. No routing, no policy, no error handling: the
// bus cannot be cheaper than impl=floor. The rows without a prefix have one
// subscriber and one publisher; the parallel rows run the same with a
// publisher on every P; subs=10 and subs=100 fan out to that many.
func BenchmarkFloor(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		prefix string
		par    bool
		n      int
	}{{"", false, 1}, {"parallel/", true, 1}, {"subs=10/", false, 10}, {"subs=100/", false, 100}} {
		loop := func(b *testing.B, publish func(i int)) {
			b.ReportAllocs()
			if !c.par {
				for i := 0; b.Loop(); i++ {
					publish(i)
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					publish(i)
				}
			})
		}
		b.Run(c.prefix+"impl=raw", func(b *testing.B) {
			r := newRawFanout(c.n, func(event) {})
			loop(b, func(i int) { r.publish(event{ID: int64(i)}) })
			b.StopTimer()
			r.close()
		})
		floor := func(b *testing.B, work bool) {
			var (
				published atomic.Uint64
				subs      = make([]core, c.n)
				chs       = make([]chan Message[event], c.n)
				wg        sync.WaitGroup
			)
			for j := range subs {
				subs[j].quiet = make(chan struct{}, 1)
				chs[j] = make(chan Message[event], benchBuffer)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range chs[j] {
					}
				}()
			}
			loop(b, func(i int) {
				if !work {
					m := Message[event]{Value: event{ID: int64(i)}}
					for _, ch := range chs {
						ch <- m
					}
					return
				}
				seq := published.Add(1)
				m := Message[event]{Value: event{ID: int64(i)}, Topic: "bench.events"}
				putCorrelationID(&m.CorrelationID, 42, seq)
				for j, ch := range chs {
					s := &subs[j]
					if !s.enter() {
						panic("the guard is closed")
					}
					ch <- m
					s.sent.Add(1)
					s.exit()
				}
			})
			b.StopTimer()
			for _, ch := range chs {
				close(ch)
			}
			wg.Wait()
		}
		b.Run(c.prefix+"impl=envelope", func(b *testing.B) { floor(b, false) })
		b.Run(c.prefix+"impl=floor", func(b *testing.B) { floor(b, true) })
		b.Run(c.prefix+"impl=bus", func(b *testing.B) {
			_, top, done := benchBus(b, c.n)
			loop(b, func(i int) {
				if err := top.Publish(ctx, event{ID: int64(i)}); err != nil {
					panic(err)
				}
			})
			b.StopTimer()
			done()
		})
	}
}
