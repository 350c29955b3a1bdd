package natsbridge_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/natsbridge"
)

// testTimeout bounds every wait, so that a bug fails a test instead of
// hanging the run.
const testTimeout = 20 * time.Second

// Order is the event of these tests.
type Order struct {
	ID string `json:"id"`
	N  int    `json:"n"`
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// startServer runs a JetStream server on a free loopback port, as another
// process would, until the test ends (or stop is called), and returns its URL.
func startServer(t testing.TB, dir string) (url string, stop func()) {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: dir,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20, NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(testTimeout) {
		t.Fatal("test server not ready")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	t.Cleanup(stop)
	return s.ClientURL(), stop
}

// jsClient connects a plain client to url for the test's own checks.
func jsClient(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// remote configures the bridge to connect to url.
func remote(url string, fn ...func(*natsbridge.Config)) fx.Option {
	return natsbridge.Configure(func(c *natsbridge.Config) {
		c.URLs = []string{url}
		c.Name = "test"
		for _, f := range fn {
			f(c)
		}
	})
}

// embeddedIn configures the bridge to run its server in dir.
func embeddedIn(dir string) fx.Option {
	return natsbridge.Configure(func(c *natsbridge.Config) {
		c.Name = "test"
		c.Embedded.StoreDir = dir
		c.Embedded.MaxMemory = 64 << 20
		c.Embedded.MaxStore = 256 << 20
	})
}

// newApp builds an app with the bus and the bridge, listed in that order,
// and stops it when the test ends if the test did not.
func newApp(t testing.TB, opts ...fx.Option) *fxtest.App {
	t.Helper()
	app := fxtest.New(t, append([]fx.Option{fx.NopLogger, fxbus.Module, natsbridge.Module}, opts...)...)
	return app
}

// fxtestApp builds an app of exactly opts (and no fx log).
func fxtestApp(t testing.TB, opts ...fx.Option) *fxtest.App {
	t.Helper()
	return fxtest.New(t, append([]fx.Option{fx.NopLogger}, opts...)...)
}

// startApp starts an app and registers its stop.
func startApp(t testing.TB, opts ...fx.Option) *fxtest.App {
	t.Helper()
	app := newApp(t, opts...)
	app.RequireStart()
	t.Cleanup(func() { _ = app.Stop(context.Background()) })
	return app
}

// publisherApp starts an app that exports orders.> and returns its publisher.
func publisherApp(t testing.TB, opts ...fx.Option) (fxbus.Publisher[Order], *fxtest.App) {
	t.Helper()
	var pub fxbus.Publisher[Order]
	app := startApp(t, append([]fx.Option{
		fxbus.Topic[Order]("orders.placed"),
		natsbridge.Export[Order]("orders.>"),
		fx.Populate(&pub),
	}, opts...)...)
	return pub, app
}

// recorder is a handler that records what it handled.
type recorder struct {
	mu      sync.Mutex
	got     []Order
	corr    []bus.CorrelationID
	byID    map[string]int
	ch      chan Order
	failFor func(ctx context.Context, o Order) error
}

func newRecorder() *recorder {
	return &recorder{byID: make(map[string]int), ch: make(chan Order, 10000)}
}

func (r *recorder) Handle(ctx context.Context, o Order) error {
	if r.failFor != nil {
		if err := r.failFor(ctx, o); err != nil {
			return err
		}
	}
	id, _ := bus.CorrelationIDFrom(ctx)
	r.mu.Lock()
	r.got = append(r.got, o)
	r.corr = append(r.corr, id)
	r.byID[o.ID]++
	r.mu.Unlock()
	r.ch <- o
	return nil
}

// wait receives n handled events, or fails the test.
func (r *recorder) wait(t testing.TB, n int) []Order {
	t.Helper()
	out := make([]Order, 0, n)
	deadline := time.After(testTimeout)
	for len(out) < n {
		select {
		case o := <-r.ch:
			out = append(out, o)
		case <-deadline:
			t.Fatalf("handled %d events, want %d", len(out), n)
		}
	}
	return out
}

func (r *recorder) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.byID))
	for k, v := range r.byID {
		out[k] = v
	}
	return out
}

// publishN publishes orders o-<from>..o-<to-1>.
func publishN(t testing.TB, pub fxbus.Publisher[Order], from, to int) {
	t.Helper()
	ctx := testCtx(t)
	for i := from; i < to; i++ {
		if err := pub.Publish(ctx, Order{ID: fmt.Sprint("o-", i), N: i}); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// streamMsgs returns how many messages the stream holds.
func streamMsgs(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(testCtx(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// envelopeMsg is a message as an export writes it, made by hand.
func envelopeMsg(subject, id, data string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header[natsbridge.HeaderSpecVersion] = []string{"1.0"}
	m.Header[natsbridge.HeaderID] = []string{id}
	m.Header[natsbridge.HeaderContentType] = []string{"application/json"}
	m.Header[jetstream.MsgIDHeader] = []string{id}
	m.Data = []byte(data)
	return m
}

// checkLeaks fails the test if a goroutine is left running once its
// cleanups (registered after this call, so run before it) are done.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}
