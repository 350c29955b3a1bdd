package bus

import (
	"context"
	"time"
)

// chanSink is a channel subscription's sink: the channel the subscriber
// reads. Only the subscription's end closes it, after the gate has closed,
// so no send can meet a closed channel.
type chanSink[T any] struct {
	ch chan Message[T]
	c  *counters
}

func (k *chanSink[T]) put(d delivery[T]) bool {
	select {
	case k.ch <- d.msg:
		k.c.accept()
		return true
	default:
		return false
	}
}

// putOver cannot grow a channel.
func (k *chanSink[T]) putOver(delivery[T]) bool { return false }

func (k *chanSink[T]) wait(ctx context.Context, d delivery[T], timeout <-chan time.Time, done <-chan struct{}) waitEnd {
	select {
	case k.ch <- d.msg:
		k.c.accept()
		return waitPut
	case <-done:
		return waitEnded
	case <-ctx.Done():
		return waitCanceled
	case <-timeout:
		return waitTimedOut
	}
}

// evict takes the oldest message out to make room. The reader, or another
// publisher, may take the room first: it tries a few times, then gives up.
func (k *chanSink[T]) evict(d delivery[T]) (old delivery[T], evicted, put bool) {
	for range 4 {
		if !evicted {
			select {
			case old.msg = <-k.ch:
				evicted = true
			default:
			}
		}
		if k.put(d) {
			return old, evicted, true
		}
	}
	return old, evicted, false
}

// halt has nothing to stop: the reader decides when it reads.
func (k *chanSink[T]) halt() {}

// shut takes what the channel still holds, counted as dropped with r, and
// closes it.
func (k *chanSink[T]) shut(r DropReason) []delivery[T] {
	var left []delivery[T]
	for {
		select {
		case m := <-k.ch:
			left = append(left, delivery[T]{msg: m})
		default:
			k.c.discard(r, len(left))
			close(k.ch)
			return left
		}
	}
}

func (k *chanSink[T]) idle() bool     { return true }
func (k *chanSink[T]) queued() uint64 { return uint64(len(k.ch)) }
func (k *chanSink[T]) held() uint64   { return 0 }
