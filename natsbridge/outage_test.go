package natsbridge_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/natsbridge"
)

// startServerOn runs a JetStream server on 127.0.0.1:port in dir until the
// test ends or stop is called.
func startServerOn(t testing.TB, dir string, port int) (stop func()) {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20, NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(testTimeout) {
		t.Fatal("test server not ready")
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			s.Shutdown()
			s.WaitForShutdown()
		}
	}
	t.Cleanup(stop)
	return stop
}

// While the server is down the export's bound holds: its in-flight
// publishes and queue fill, and then the local publisher waits (Block)
// instead of memory growing. Once the server is back, every event that
// Publish accepted is stored exactly once.
func TestExportBackpressureAcrossOutage(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	addr, stop := startServer(t, dir)
	u, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())

	var pub fxbus.Publisher[Order]
	app := startApp(t,
		remote(addr, func(c *natsbridge.Config) { c.ReconnectWait, c.ReconnectJitter = 20*time.Millisecond, time.Millisecond }),
		fxbus.Topic[Order]("orders.placed"),
		natsbridge.Export[Order]("orders.>",
			natsbridge.InFlight(4),
			natsbridge.ExportSubscribeOptions(bus.Buffer(4)),
			natsbridge.PublishRetry(10, 20*time.Millisecond, 200*time.Millisecond)),
		fx.Populate(&pub),
	)
	publishN(t, pub, 0, 10)

	stop()
	accepted := 10
	for ; accepted < 1000; accepted++ {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := pub.Publish(ctx, Order{ID: fmt.Sprint("o-", accepted)})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// In flight (4), in the handler (1) and queued (4), plus those that
	// were in flight when the server went.
	if accepted-10 > 4+1+4+10 {
		t.Errorf("%d publishes accepted while the server was down: the bound did not hold", accepted-10)
	}
	t.Logf("the publisher waited after %d events while the server was down", accepted-10)

	startServerOn(t, dir, port)
	app.RequireStop() // waits for the stream's acks of every export

	_, js := jsClient(t, addr)
	if n := streamMsgs(t, js, natsbridge.DefaultStream); n != uint64(accepted) {
		t.Errorf("stream holds %d messages, want the %d that Publish accepted, once each", n, accepted)
	}
}
