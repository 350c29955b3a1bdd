package natsbridge_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// keeper registers collectors on a registry and keeps them, so that a test
// can read them after the app has stopped and unregistered them.
type keeper struct {
	*prometheus.Registry
	kept []prometheus.Collector
}

func (k *keeper) Register(c prometheus.Collector) error {
	k.kept = append(k.kept, c)
	return k.Registry.Register(c)
}

func (k *keeper) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := k.Register(c); err != nil {
			panic(err)
		}
	}
}

func withRegistry(k *keeper) fx.Option {
	return fx.Supply(fx.Annotate(k, fx.As(new(prometheus.Registerer))))
}

// The bridge's series sit in the app's registry beside the bus's, and count
// what happened; the consumer's lag is read from the server at scrape time.
func TestMetrics(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	imp := &keeper{Registry: prometheus.NewRegistry()}
	rec := newRecorder()
	impApp := startApp(t, remote(url), withRegistry(imp),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	exp := &keeper{Registry: prometheus.NewRegistry()}
	pub, pubApp := publisherApp(t, remote(url), withRegistry(exp))
	publishN(t, pub, 0, 3)
	rec.wait(t, 3)

	// While running: the connection state, the lag, and the bus's series.
	running := `
# HELP fxbus_bridge_connection_state 1 for the connection's current state, 0 for the others.
# TYPE fxbus_bridge_connection_state gauge
fxbus_bridge_connection_state{state="closed"} 0
fxbus_bridge_connection_state{state="connected"} 1
fxbus_bridge_connection_state{state="disconnected"} 0
fxbus_bridge_connection_state{state="reconnecting"} 0
`
	if err := testutil.GatherAndCompare(imp, strings.NewReader(running), "fxbus_bridge_connection_state"); err != nil {
		t.Error(err)
	}
	families, err := imp.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, n := range []string{"fxbus_bridge_consumer_pending", "fxbus_bridge_consumer_ack_pending", "fxbus_events_published_total"} {
		if !names[n] {
			t.Errorf("no %s in the app's registry", n)
		}
	}

	pubApp.RequireStop()
	impApp.RequireStop()
	afterStop(t, exp, `
# HELP fxbus_bridge_exported_total Events the stream acked, by export pattern.
# TYPE fxbus_bridge_exported_total counter
fxbus_bridge_exported_total{export="orders.>"} 3
# HELP fxbus_bridge_export_in_flight Publishes waiting for the stream's ack, by export pattern.
# TYPE fxbus_bridge_export_in_flight gauge
fxbus_bridge_export_in_flight{export="orders.>"} 0
`, "fxbus_bridge_exported_total", "fxbus_bridge_export_in_flight")
	afterStop(t, imp, `
# HELP fxbus_bridge_imported_total Messages the consumer delivered, redeliveries included.
# TYPE fxbus_bridge_imported_total counter
fxbus_bridge_imported_total{consumer="billing"} 3
# HELP fxbus_bridge_acked_total Messages acked: every local handler returned nil, or the message was dead-lettered.
# TYPE fxbus_bridge_acked_total counter
fxbus_bridge_acked_total{consumer="billing"} 3
`, "fxbus_bridge_imported_total", "fxbus_bridge_acked_total")
}

// afterStop compares the series that k kept with want, once the app has
// stopped and unregistered them.
func afterStop(t *testing.T, k *keeper, want string, names ...string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range k.kept {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}
