package bus

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// runner is a handler queue as the worker pool sees it: run handles its
// messages until it has none left, or until yield says to let another
// runner have the worker.
type runner interface{ run(yield func() bool) }

// pool runs handler queues on worker goroutines. A submitted runner goes to
// an idle worker, or to a new one while there are fewer than limit, or else
// waits in the run queue for the next worker that frees up. An idle worker
// parks on its own channel. A reaper, running while there are workers,
// looks at the parked ones every idle period and stops those that stayed
// parked since its last look, so a worker exits after one to two idle
// periods with nothing to do.
type pool struct {
	limit int
	idle  time.Duration

	waiting atomic.Int32 // len(runq), read without the lock

	mu      sync.Mutex
	runq    []runner  // waiting for a worker, oldest first
	parked  []*worker // idle workers, most recently parked last
	workers int
	reaping bool // the reaper runs
	stopped bool
	quit    chan struct{} // closed by stop: the reaper exits
	wg      sync.WaitGroup
}

// worker is a parked worker as the pool sees it.
type worker struct {
	wake  chan runner // a submit hands the parked worker its runner here
	parks uint64      // how many times it parked, under the pool's lock
	seen  uint64      // parks when the reaper last looked
}

func newPool(limit int, idle time.Duration) *pool {
	return &pool{limit: limit, idle: idle, quit: make(chan struct{})}
}

// never is the yield of a runner that has nothing to give way to.
func never() bool { return false }

// submit has r run on a worker. Once the pool has stopped, r runs on the
// caller's goroutine: its subscription has ended, so it only settles what it
// held.
func (p *pool) submit(r runner) {
	p.mu.Lock()
	switch {
	case p.stopped:
		p.mu.Unlock()
		r.run(never)
	case len(p.parked) > 0:
		w := p.parked[len(p.parked)-1]
		p.parked = p.parked[:len(p.parked)-1]
		p.mu.Unlock()
		w.wake <- r // buffered: never waits
	case p.workers < p.limit:
		p.workers++
		p.wg.Add(1)
		if !p.reaping {
			p.reaping = true
			p.wg.Add(1)
			go p.reap()
		}
		p.mu.Unlock()
		go p.work(r)
	default:
		p.runq = append(p.runq, r)
		p.waiting.Store(int32(len(p.runq)))
		p.mu.Unlock()
	}
}

// contended reports whether a runner waits for a worker: a runner that
// still has messages then gives its worker up after its batch.
func (p *pool) contended() bool { return p.waiting.Load() > 0 }

func (p *pool) work(r runner) {
	defer p.wg.Done()
	w := &worker{wake: make(chan runner, 1)}
	yield := p.contended // one func value for all runs, not one per run
	for r != nil {
		r.run(yield)
		r = p.next(w)
	}
}

// next returns the worker's next runner: the oldest waiting one, or the
// one a submit hands it while it is parked; nil when the worker is to exit
// (the pool stopped, or the reaper found it idle).
func (p *pool) next(w *worker) runner {
	p.mu.Lock()
	if len(p.runq) > 0 {
		r := p.runq[0]
		p.runq[0] = nil
		p.runq = p.runq[1:]
		p.waiting.Store(int32(len(p.runq)))
		p.mu.Unlock()
		return r
	}
	if p.stopped {
		p.workers--
		p.mu.Unlock()
		return nil
	}
	w.parks++
	p.parked = append(p.parked, w)
	p.mu.Unlock()
	return <-w.wake
}

// reap stops, every idle period, the workers that stayed parked since the
// last look; it exits with the last worker, or when the pool stops.
func (p *pool) reap() {
	defer p.wg.Done()
	tick := time.NewTicker(p.idle)
	defer tick.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-tick.C:
		}
		p.mu.Lock()
		p.parked = slices.DeleteFunc(p.parked, func(w *worker) bool {
			idle := w.parks == w.seen
			w.seen = w.parks
			if idle {
				p.workers--
				w.wake <- nil
			}
			return idle
		})
		done := p.workers == 0
		if done {
			p.reaping = false
		}
		p.mu.Unlock()
		if done {
			return
		}
	}
}

// stop makes every worker exit once it has nothing to run, and waits for
// them unless wait is false (a handler that ignores its context would hold
// its worker for ever). Runners submitted after stop run on the caller.
func (p *pool) stop(wait bool) {
	p.mu.Lock()
	p.stopped = true
	for _, w := range p.parked {
		p.workers--
		w.wake <- nil
	}
	p.parked = nil
	p.mu.Unlock()
	close(p.quit)
	if wait {
		p.wg.Wait()
	}
}

// size returns the number of workers and of idle ones, for tests.
func (p *pool) size() (workers, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workers, len(p.parked)
}

// activity counts a bus's handler activations, submitted or running, so
// that WaitIdle can wait for none: a queue submits one when it receives a
// message and has none, and the activation ends only once its queue is
// empty, so none means that no queue holds a message and no handler runs.
type activity struct {
	n    atomic.Int64
	mu   sync.Mutex
	idle chan struct{} // closed when n reaches 0; made by a waiter
}

func (a *activity) add() { a.n.Add(1) }

func (a *activity) done() {
	if a.n.Add(-1) != 0 {
		return
	}
	a.mu.Lock()
	if a.idle != nil && a.n.Load() == 0 {
		close(a.idle)
		a.idle = nil
	}
	a.mu.Unlock()
}

// wait returns a channel closed when no activation is left, or nil if none
// is left now.
func (a *activity) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n.Load() == 0 {
		return nil
	}
	if a.idle == nil {
		a.idle = make(chan struct{})
	}
	return a.idle
}
