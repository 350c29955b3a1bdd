package bus

import (
	"context"
	"errors"
	"slices"
	"time"
)

// WaitIdle waits until no queue holds a message and no handler runs, or ctx
// ends. It does not stop publishers; it is for tests and for shutdown.
//
// Handler queues signal when their last activation ends. A channel gives no
// signal when its reader takes a message, so while a channel subscription
// holds messages WaitIdle looks again after a pause (20 µs, doubling up to
// 2 ms).
func (b *Bus) WaitIdle(ctx context.Context) error {
	if ctx == nil {
		return errors.New("bus: WaitIdle: nil context")
	}
	pause := 20 * time.Microsecond
	for {
		if idle := b.work.wait(); idle != nil {
			select {
			case <-idle:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !b.channelsHold() {
			if b.work.wait() == nil {
				return nil // no handler ran meanwhile: idle
			}
			continue
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, 2*time.Millisecond)
	}
}

// channelsHold reports whether a channel subscription holds a message.
func (b *Bus) channelsHold() bool {
	b.mu.Lock()
	subs := slices.Concat(b.subs, b.ending)
	b.mu.Unlock()
	for _, s := range subs {
		if s.info().conc == 0 && s.queued() != 0 {
			return true
		}
	}
	return false
}

// Close shuts the bus down: it refuses new publishes except those made by
// handlers, waits until every queue is empty and no handler runs (handlers'
// own publishes are still delivered), then ends every subscription in reverse
// order of subscription, closing channels, and waits for the bus's
// goroutines.
//
// If ctx ends first, Close cancels the handlers' contexts, counts what is
// still queued as dropped with reason ReasonShutdown, closes everything anyway
// and returns a *ShutdownError that names each subscriber and its count.
// Calling Close again waits for the first call and returns nil.
func (b *Bus) Close(ctx context.Context) error {
	if ctx == nil {
		// Refused before anything starts: a panic half-way would leave the
		// bus draining for ever, and later Close calls returning nil.
		return errors.New("bus: Close: nil context: pass one whose deadline bounds the drain")
	}
	first := false
	b.closeOnce.Do(func() { first = true })
	if !first {
		<-b.closed
		return nil
	}
	defer close(b.closed)
	b.state.Store(stateDraining)
	drainErr := b.WaitIdle(ctx)
	b.mu.Lock()
	subs := slices.Concat(b.ending, b.subs)
	// Noted before handlers' publishes are refused: a handler that publishes
	// without end may catch up within moments once they are.
	before := make([]closing, len(subs))
	for i, s := range subs {
		before[i] = closing{
			dropped: s.info().dropped[ReasonShutdown].Load(),
			busy:    drainErr != nil && s.queued() > 0,
		}
	}
	b.state.Store(stateClosed)
	b.mu.Unlock()
	for i := len(subs) - 1; i >= 0; i-- {
		subs[i].end(ReasonShutdown, ErrClosed)
	}
	// Only now cancel the handlers' contexts: the subscriptions have ended,
	// so no queued message reaches a handler with a cancelled context; it is
	// counted as dropped instead.
	b.life.cancel()
	leftovers, stuck := b.awaitEnds(subs, before)
	b.pool.stop(!stuck)
	if drainErr == nil && len(leftovers) == 0 {
		return nil
	}
	return &ShutdownError{Cause: drainErr, Leftovers: leftovers}
}

// closing is what Close noted of a subscription before ending it.
type closing struct {
	dropped uint64 // its shutdown drops so far
	busy    bool   // it still had work when the drain gave up
}

// awaitEnds waits, up to the kill grace in all, for every subscription to
// finish, and returns what each lost and whether a handler is stuck.
func (b *Bus) awaitEnds(subs []subscription, before []closing) (leftovers []Leftover, stuck bool) {
	grace := time.NewTimer(b.cfg.killGrace)
	defer grace.Stop()
	expired := false
	for i, s := range subs {
		c := s.info()
		if !expired {
			select {
			case <-c.finished:
			case <-grace.C:
				expired = true
			}
		}
		running := !ended(c.finished)
		n := c.dropped[ReasonShutdown].Load() - before[i].dropped
		if running {
			stuck = true
			// What the stuck activation took but has not started: it is
			// dropped with ReasonShutdown once its handler returns.
			n += s.held()
		}
		if n > 0 || running || before[i].busy {
			leftovers = append(leftovers, Leftover{Topic: c.pattern, Subscriber: c.name, Count: n, Running: running})
		}
	}
	return leftovers, stuck
}
