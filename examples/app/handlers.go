package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// The handlers of orders.placed, each with the policy its job calls for:
//
//	audit        Block, large buffer: must see every order
//	inventory-N  queue group "inventory", SKU as ordering key: each order
//	             reserved once, a SKU always by the same worker; publishes
//	             InventoryReserved (a chain)
//	analytics    DropOldest, buffer 8, slow: may lose events, keeps the latest
//	email        fails now and then: retried, then dead-lettered
//
// and of the follow-ups: confirm (inventory.reserved) and email-dead-letters
// (orders.placed.dead-letter).

func newAudit(st *Store, log *zap.Logger) handlers.Registration {
	log = log.Named("audit")
	return handlers.RegisterFunc(TopicOrders, func(ctx context.Context, o OrderPlaced) error {
		if ce := log.Check(zap.DebugLevel, "order audited"); ce != nil {
			id, _ := bus.CorrelationIDFrom(ctx)
			ce.Write(zap.String("order", o.ID), zap.Stringer("correlation_id", id))
		}
		return st.audit(o)
	},
		bus.Name("audit"),
		bus.Buffer(1024), bus.WithPolicy(bus.Block()),
	)
}

// inventoryWorker reserves stock and publishes InventoryReserved.
type inventoryWorker struct {
	name     string
	store    *Store
	reserved fxbus.Publisher[InventoryReserved]
}

func (w *inventoryWorker) Handle(ctx context.Context, o OrderPlaced) error {
	if err := w.store.reserve(o, w.name); err != nil {
		return err
	}
	// Publishing with the handler's context carries the correlation ID on,
	// and is accepted while the bus drains at stop.
	return w.reserved.Publish(ctx, InventoryReserved{OrderID: o.ID, SKU: o.SKU, Quantity: o.Quantity, Worker: w.name})
}

// skuKey is the inventory group's ordering key: the orders of one SKU go to
// one worker, in publish order, so two workers never race on one SKU.
func skuKey(o OrderPlaced) string { return o.SKU }

func newInventory(s settings, st *Store, reserved fxbus.Publisher[InventoryReserved]) []handlers.Registration {
	regs := make([]handlers.Registration, 0, s.InventoryWorkers)
	for i := 1; i <= s.InventoryWorkers; i++ {
		w := &inventoryWorker{name: fmt.Sprintf("inventory-%d", i), store: st, reserved: reserved}
		regs = append(regs, handlers.Register[OrderPlaced](TopicOrders, w,
			bus.Name(w.name),
			bus.QueueGroup("inventory"), bus.OrderingKey(skuKey),
		))
	}
	return regs
}

// feed is where the analytics handler sends each order: a dashboard's API
// in a real service. Tests replace it.
type feed interface {
	Handle(ctx context.Context, o OrderPlaced) error
}

// slowFeed is slower than the orders come, so the analytics handler's
// queue fills up and DropOldest evicts.
type slowFeed struct {
	delay time.Duration
	store *Store
}

func (f *slowFeed) Handle(ctx context.Context, o OrderPlaced) error {
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return f.store.track(o)
}

func newFeed(s settings, st *Store) feed { return &slowFeed{delay: s.AnalyticsDelay, store: st} }

func newAnalytics(s settings, f feed) handlers.Registration {
	return handlers.Register[OrderPlaced](TopicOrders, f,
		bus.Name("analytics"),
		bus.Buffer(s.AnalyticsBuffer), bus.WithPolicy(bus.DropOldest()),
	)
}

// The mail server's answers. Both are worth a retry; errors a retry cannot
// fix would be wrapped with handlers.Permanent to dead-letter at once.
var (
	errMailBusy = errors.New("smtp: 451 try again later")
	errMailDown = errors.New("smtp: 421 service not available")
)

// mailer sends the order confirmation email. It fails deterministically:
// every EmailFailEvery-th order's first attempt (the retry succeeds) and
// every EmailDeadEvery-th order's every attempt (it is dead-lettered).
type mailer struct {
	store     *Store
	failEvery int64
	deadEvery int64
}

func (m *mailer) Handle(ctx context.Context, o OrderPlaced) error {
	attempt := handlers.AttemptFrom(ctx)
	switch {
	case m.deadEvery > 0 && o.Number%m.deadEvery == 0:
		return fmt.Errorf("email for %s: %w", o.ID, errMailDown)
	case m.failEvery > 0 && o.Number%m.failEvery == 0 && attempt == 1:
		return fmt.Errorf("email for %s: %w", o.ID, errMailBusy)
	}
	return m.store.emailed(o, attempt)
}

func newEmail(s settings, st *Store) handlers.Registration {
	return handlers.Register[OrderPlaced](TopicOrders,
		&mailer{store: st, failEvery: s.EmailFailEvery, deadEvery: s.EmailDeadEvery},
		bus.Name("email"),
		handlers.Retry(s.EmailAttempts, handlers.Backoff(5*time.Millisecond, 20*time.Millisecond)),
		handlers.Timeout(time.Second),
		bus.Concurrency(4), // a message in its backoff does not hold up the others
	)
}

// newDeadLetters handles what the handlers of orders.placed gave up on: here
// it records them for a person to follow up.
func newDeadLetters(st *Store, log *zap.Logger) handlers.Registration {
	log = log.Named("dead-letters")
	return handlers.RegisterFunc(TopicOrders+handlers.DeadLetterSuffix,
		func(ctx context.Context, d handlers.DeadLetter[OrderPlaced]) error {
			log.Info("gave up on order, kept for follow-up",
				zap.String("order", d.Message.ID),
				zap.String("handler", d.Subscriber),
				zap.Int("attempts", d.Attempts),
				zap.String("error", d.Err),
				zap.Stringer("correlation_id", d.CorrelationID))
			return st.deadLetter(d)
		},
		bus.Name("email-dead-letters"),
		handlers.NoDeadLetters(), // no dead letters of dead letters
	)
}

// newConfirm ends the chain: the order is confirmed once its stock is
// reserved.
func newConfirm(st *Store) handlers.Registration {
	return handlers.RegisterFunc(TopicReserved, func(ctx context.Context, r InventoryReserved) error {
		return st.confirm(r)
	}, bus.Name("confirm"))
}

var errStoreClosed = errors.New("store: closed")

// Store stands in for the database the handlers write to. It closes at stop,
// after the bus has drained: a handler that ran later would get
// errStoreClosed, and the run would report it.
type Store struct {
	mu          sync.Mutex
	closed      bool
	audited     []string       // order IDs, in the order audited
	reservedN   int            // orders reserved
	reserved    map[string]int // units per SKU
	skuWorker   map[string]string
	splitSKUs   int // SKUs reserved by two workers: the ordering key rules it out
	confirmed   int
	tracked     int
	emails      int
	emailRetry  int // emails sent on a retry
	deadLetters []handlers.DeadLetter[OrderPlaced]
}

func newStore(lc fx.Lifecycle, log *zap.Logger) *Store {
	st := &Store{reserved: map[string]int{}, skuWorker: map[string]string{}}
	lc.Append(fx.StopHook(func() {
		st.mu.Lock()
		st.closed = true
		st.mu.Unlock()
		snap := st.Snapshot()
		log.Info("store closed",
			zap.Int("audited", snap.Audited), zap.Int("confirmed", snap.Confirmed),
			zap.Int("emails", snap.Emails), zap.Int("dead_letters", snap.DeadLetters))
	}))
	return st
}

func (st *Store) write(fn func()) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		return errStoreClosed
	}
	fn()
	return nil
}

func (st *Store) audit(o OrderPlaced) error {
	return st.write(func() { st.audited = append(st.audited, o.ID) })
}

func (st *Store) reserve(o OrderPlaced, worker string) error {
	return st.write(func() {
		st.reservedN++
		st.reserved[o.SKU] += o.Quantity
		if w, ok := st.skuWorker[o.SKU]; !ok {
			st.skuWorker[o.SKU] = worker
		} else if w != worker {
			st.splitSKUs++
		}
	})
}

func (st *Store) confirm(InventoryReserved) error { return st.write(func() { st.confirmed++ }) }

func (st *Store) track(OrderPlaced) error { return st.write(func() { st.tracked++ }) }

func (st *Store) emailed(_ OrderPlaced, attempt int) error {
	return st.write(func() {
		st.emails++
		if attempt > 1 {
			st.emailRetry++
		}
	})
}

func (st *Store) deadLetter(d handlers.DeadLetter[OrderPlaced]) error {
	return st.write(func() { st.deadLetters = append(st.deadLetters, d) })
}

// StoreSnapshot is what the store holds at one moment.
type StoreSnapshot struct {
	Audited     int
	Reserved    int // orders reserved
	SKUs        int
	Workers     map[string]int // SKUs per inventory worker
	SplitSKUs   int
	Confirmed   int
	Tracked     int
	Emails      int
	EmailRetry  int
	DeadLetters int
}

// Snapshot copies the store's counts.
func (st *Store) Snapshot() StoreSnapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := StoreSnapshot{
		Audited: len(st.audited), Reserved: st.reservedN, SKUs: len(st.reserved), Workers: map[string]int{},
		SplitSKUs: st.splitSKUs, Confirmed: st.confirmed, Tracked: st.tracked,
		Emails: st.emails, EmailRetry: st.emailRetry, DeadLetters: len(st.deadLetters),
	}
	for _, w := range st.skuWorker {
		s.Workers[w]++
	}
	return s
}

// DeadLetters returns the dead letters received so far.
func (st *Store) DeadLetters() []handlers.DeadLetter[OrderPlaced] {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]handlers.DeadLetter[OrderPlaced](nil), st.deadLetters...)
}

// Audited returns the audited order IDs, in order.
func (st *Store) Audited() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]string(nil), st.audited...)
}
