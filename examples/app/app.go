package main

import (
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
)

// The app's topics. The dead-letter topic of orders is
// TopicOrders + handlers.DeadLetterSuffix.
const (
	TopicOrders   = "orders.placed"
	TopicReserved = "inventory.reserved"
)

// OrderPlaced is published by the HTTP API for each accepted order.
type OrderPlaced struct {
	ID       string    `json:"id"`
	Number   int64     `json:"number"` // 1, 2, 3... in the order the API accepted them
	SKU      string    `json:"sku"`
	Quantity int       `json:"quantity"`
	Email    string    `json:"email"`
	PlacedAt time.Time `json:"placed_at"`
}

// InventoryReserved is published by the inventory workers once they have
// reserved an order's stock: the second link of a chain of events.
type InventoryReserved struct {
	OrderID  string `json:"order_id"`
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
	Worker   string `json:"worker"`
}

// settings is what the flags set, plus the knobs tests turn.
type settings struct {
	Addr     string        // where the HTTP server listens
	Rate     float64       // orders per second from the traffic generator; 0: none
	Duration time.Duration // how long to run; 0: until SIGINT or SIGTERM
	LogLevel zapcore.Level
	Bridge   bridgeSettings // NATS JetStream across processes; off by default
	Trace    bool           // write every span to stdout (OpenTelemetry)

	InventoryWorkers int           // members of the inventory queue group
	AnalyticsBuffer  int           // the analytics feed's queue (DropOldest)
	AnalyticsDelay   time.Duration // how long the analytics feed takes per event
	EmailFailEvery   int64         // every Nth order's first email attempt fails
	EmailDeadEvery   int64         // every Nth order's email fails every attempt
	EmailAttempts    int           // attempts per email, the first included
	DrainTimeout     time.Duration // how long the bus may drain at stop
}

func defaultSettings() settings {
	return settings{
		Addr:             "127.0.0.1:0",
		Rate:             100,
		Duration:         5 * time.Second,
		LogLevel:         zapcore.InfoLevel,
		InventoryWorkers: 4,
		AnalyticsBuffer:  8,
		AnalyticsDelay:   20 * time.Millisecond,
		EmailFailEvery:   10,
		EmailDeadEvery:   40,
		EmailAttempts:    3,
		DrainTimeout:     5 * time.Second,
	}
}

// coreOptions is the app without its HTTP server and traffic generator: the
// bus, the topics, the handlers, the store they write to, the metrics
// registry and the HTTP handler. Tests build on it.
func coreOptions(s settings, logger *zap.Logger) fx.Option {
	return fx.Options(
		fx.Supply(s, logger),
		fx.WithLogger(func(l *zap.Logger) fxevent.Logger {
			fl := &fxevent.ZapLogger{Logger: l.Named("fx")}
			fl.UseLogLevel(zapcore.DebugLevel) // fx's own events only at debug
			return fl
		}),

		fxbus.Module,
		fxbus.Configure(func(c *fxbus.Config) { c.DrainTimeout = s.DrainTimeout }),
		fxbus.Topic[OrderPlaced](TopicOrders),
		fxbus.Topic[InventoryReserved](TopicReserved),

		fx.Provide(
			newRegistry,
			// The module registers the bus's metrics on the Registerer
			// when there is one; the same registry serves /metrics.
			func(r *prometheus.Registry) prometheus.Registerer { return r },
			newStore,
			newFeed,
			newOrderAPI,
			newMux,
		),
		handlers.Provide(
			newAudit,
			newInventory,
			newAnalytics,
			newEmail,
			newDeadLetters,
			newConfirm,
		),
	)
}

// serveOptions adds the HTTP server, built after the bus so that it stops
// before the bus drains.
func serveOptions() fx.Option {
	return fx.Options(
		fx.Provide(newServer),
		fx.Invoke(func(*server) {}),
	)
}

// trafficOptions adds the traffic generator and the progress line. The
// generator is built after the server, whose address it needs, so it stops
// first: no order is in flight when the server and then the bus stop.
func trafficOptions(out io.Writer) fx.Option {
	return fx.Options(
		fx.Supply(output{out}),
		fx.Provide(newTraffic),
		fx.Invoke(func(*traffic) {}),
		fx.Invoke(newProgress),
	)
}

func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// newLogger writes human-readable lines to w (stderr) from level up.
func newLogger(w io.Writer, level zapcore.Level) *zap.Logger {
	enc := zap.NewDevelopmentEncoderConfig()
	enc.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core)
}

// output is where progress lines go (stdout): one writer shared by the
// progress goroutine and run, so writes never interleave.
type output struct{ io.Writer }

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
