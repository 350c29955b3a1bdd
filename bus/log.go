package bus

import (
	"slices"
	"sync/atomic"
)

// tlog is a topic's log: one ring that the handler subscriptions made for
// exactly this topic, with concurrency 1 and outside queue groups, share
// while they keep up (when there are two or more of them), so that a
// publish writes the message once and publishes it with one atomic store,
// whatever their number. Each of them reads the log at its own pace (its
// queue's head, shifted by off), and the last one to take a slot empties
// it.
//
// A queue in the log receives its messages only from there, after what its
// own ring held when it joined. Whenever the log cannot carry a message to a
// queue as its own ring would, the queue leaves the log first (see demote),
// with the messages it has not taken yet, and its own ring and policy take
// over: when the queue lags the log by its buffer (or by the log's size),
// when a delivery comes by another path (PublishSync, a publish to a topic
// with channel subscriptions too), and when the subscription ends.
// publishQueues brings it back (see join) once it lags by less than half of
// that.
//
// Everything but cursor and the slots' counts is under the topic's qmu.
type tlog[T any] struct {
	slots []logSlot[T] // fixed: the activations read these two
	mask  uint64

	_    [64]byte
	tail uint64      // log sequence of the next message
	subs []*queue[T] // the queues in the log

	_      [64]byte
	cursor atomic.Uint64 // tail, published for the activations
}

type logSlot[T any] struct {
	v    T
	hc   *msgCtx
	left int32 // queues yet to take the slot: written under qmu, then atomically
}

// taken counts one queue's take of the slot, and empties the slot after the
// last one, so that it keeps nothing alive. A slot is written again only
// after every queue's head has passed it.
func (e *logSlot[T]) taken() {
	// The last queue to take it needs no read-modify-write: the others
	// have all counted theirs.
	if atomic.LoadInt32(&e.left) == 1 || atomic.AddInt32(&e.left, -1) == 0 {
		var zero T
		e.v, e.hc = zero, nil
	}
}

// leaveLog makes sure the queue is not in the log, before a delivery that
// uses its own ring. The caller holds pmu.
func (q *queue[T]) leaveLog() {
	if q.inLog {
		q.demote()
	}
}

// demote takes the queue out of the log: the messages it has not taken move
// to its own ring, in order. The caller holds pmu, the topic's qmu.
func (q *queue[T]) demote() {
	lg := q.lg
	q.cmu.Lock()
	h, t := q.head.Load(), lg.tail-q.off
	// The ring holds [h, q.tail) still; the log holds the rest, and
	// t-h <= lim <= len(q.slots).
	for k := max(h, q.tail); k < t; k++ {
		e := &lg.slots[(k+q.off)&lg.mask]
		q.slots[k&q.mask] = entry[T]{v: e.v, hc: e.hc}
		e.taken()
	}
	q.tail, q.limit, q.inLog = t, 0, false
	q.ptail.Store(t)
	q.cmu.Unlock()
	i := slices.Index(lg.subs, q)
	lg.subs = slices.Delete(lg.subs, i, i+1)
}

// joinEvery is how often a queue outside the log looks whether it may join:
// once in joinEvery messages, since it reads head, which the activation
// writes.
const joinEvery = 16

// join puts q, a queue with t's qmu as its lock and outside the log, in t's
// log from the next message on, and reports whether it did: it does when
// the queue lags by less than half of what the log allows it (see demote)
// and no publisher waits for room. A log is made, or made anew while no
// queue is in it, with size slots (a power of 2): the largest ring of the
// queues that may join it, so that the log holds as much as any of them.
// The caller holds qmu.
func (t *Topic[T]) join(q *queue[T], size int) bool {
	if q.tail%joinEvery != 0 || q.closed || q.waiters.Load() != 0 {
		return false
	}
	lg := t.lg
	if lg == nil || (len(lg.subs) == 0 && len(lg.slots) < size) {
		lg = &tlog[T]{slots: make([]logSlot[T], size), mask: uint64(size - 1)}
		t.lg = lg
	}
	lim := min(q.size, uint64(len(lg.slots)))
	if q.tail-q.head.Load() >= lim/2 {
		return false
	}
	q.cmu.Lock()
	q.lg, q.off, q.lim = lg, lg.tail-q.tail, lim
	q.limit, q.inLog = 0, true
	q.cmu.Unlock()
	lg.subs = append(lg.subs, q)
	return true
}

// appendLog gives v to the queues in the log: those that lag by their limit
// leave the log first, and get v in their own ring now, or, when that is
// full, through push after qmu is released (slow gathers them). The caller
// holds qmu.
func (t *Topic[T]) appendLog(v T, hc *msgCtx, slow []*Subscription[T]) []*Subscription[T] {
	lg := t.lg
	for i := 0; i < len(lg.subs); {
		q := lg.subs[i]
		if k := lg.tail - q.off; k >= q.limit {
			q.limit = q.head.Load() + q.lim
			if k >= q.limit {
				q.demote() // removes lg.subs[i]
				if q.tryPut(v, hc, nil) {
					q.added()
				} else {
					slow = append(slow, q.s)
				}
				continue
			}
		}
		i++
	}
	if len(lg.subs) == 0 {
		return slow
	}
	seq := lg.tail
	e := &lg.slots[seq&lg.mask]
	e.v, e.hc, e.left = v, hc, int32(len(lg.subs))
	lg.tail = seq + 1
	lg.cursor.Store(seq + 1)
	for _, q := range lg.subs {
		q.wakeSerial()
	}
	return slow
}
