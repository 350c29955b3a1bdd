package natsbridge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// BenchmarkEndToEnd moves b.N events from a publisher to a handler through
// JetStream, with an ack per event, on one embedded server reached in
// process: through the bridge (Export, then Import into a bus handler), and
// with plain nats.go jetstream code doing the same (JSON, Nats-Msg-Id, async
// publish with the same bound, a pull consumer with the same prefetch, an
// ack per message). msg/s is the figure to compare. The mixed rows (a bridge
// on one side, plain code on the other) tell which side costs what.
func BenchmarkEndToEnd(b *testing.B) {
	for _, c := range []struct {
		name     string
		producer func(*testing.B, *server.Server) func(int)
		consumer func(*testing.B, *server.Server, func())
	}{
		{"impl=bridge", bridgeProducer, bridgeConsumer},
		{"impl=plain", plainProducer, plainConsumer},
		{"impl=plain-envelope", plainEnvelopeProducer, plainConsumer},
		{"impl=export-plain", bridgeProducer, plainConsumer},
		{"impl=plain-import", plainProducer, bridgeConsumer},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := benchServer(b)
			var handled atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			c.consumer(b, s, func() {
				if handled.Add(1) == n {
					close(done)
				}
			})
			publish := c.producer(b, s)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				publish(i)
			}
			<-done
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
		})
	}
}

// benchServer runs a fresh embedded server until the benchmark ends.
func benchServer(b *testing.B) *server.Server {
	s, err := server.NewServer(&server.Options{
		DontListen: true, JetStream: true, StoreDir: b.TempDir(), NoSigs: true, NoLog: true,
		JetStreamMaxMemory: 256 << 20, JetStreamMaxStore: 1 << 30,
	})
	if err != nil {
		b.Fatal(err)
	}
	s.Start()
	b.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(testTimeout) {
		b.Fatal("server not ready")
	}
	js := plainJS(b, s)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: natsbridge.DefaultStream, Subjects: []string{"orders.>"}}); err != nil {
		b.Fatal(err)
	}
	return s
}

func inProcess(s *server.Server) fx.Option {
	return natsbridge.Configure(func(c *natsbridge.Config) {
		c.Name = "bench"
		c.URLs = []string{"nats://in-process"}
		c.ConnectOptions = []nats.Option{nats.InProcessServer(s)}
	})
}

// startBench starts an app until the benchmark ends.
func startBench(b *testing.B, opts ...fx.Option) {
	app := fx.New(append([]fx.Option{fx.NopLogger, fxbus.Module, natsbridge.Module}, opts...)...)
	if err := app.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = app.Stop(context.Background()) })
}

func bridgeConsumer(b *testing.B, s *server.Server, handled func()) {
	startBench(b, inProcess(s),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("bench")),
		handlers.Supply(handlers.RegisterFunc("orders.placed", func(context.Context, Order) error {
			handled()
			return nil
		})),
	)
}

func bridgeProducer(b *testing.B, s *server.Server) func(int) {
	var pub fxbus.Publisher[Order]
	startBench(b, inProcess(s),
		fxbus.Topic[Order]("orders.placed"),
		natsbridge.Export[Order]("orders.>"),
		fx.Populate(&pub),
	)
	ctx := context.Background()
	return func(i int) {
		if err := pub.Publish(ctx, Order{ID: "o", N: i}); err != nil {
			b.Fatal(err)
		}
	}
}

func plainJS(b *testing.B, s *server.Server) jetstream.JetStream {
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(natsbridge.DefaultInFlight))
	if err != nil {
		b.Fatal(err)
	}
	return js
}

func plainConsumer(b *testing.B, s *server.Server, handled func()) {
	js := plainJS(b, s)
	cons, err := js.CreateOrUpdateConsumer(context.Background(), natsbridge.DefaultStream, jetstream.ConsumerConfig{
		Durable: "bench", FilterSubject: "orders.placed", AckPolicy: jetstream.AckExplicitPolicy,
		MaxAckPending: natsbridge.DefaultMaxAckPending,
	})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var o Order
		if err := json.Unmarshal(m.Data(), &o); err != nil {
			b.Error(err)
		}
		_ = m.Ack()
		handled()
	}, jetstream.PullMaxMessages(natsbridge.DefaultPrefetch))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Stop(); <-cc.Closed() })
}

func plainProducer(b *testing.B, s *server.Server) func(int) {
	js := plainJS(b, s)
	b.Cleanup(func() { <-js.PublishAsyncComplete() })
	return func(i int) {
		data, err := json.Marshal(Order{ID: "o", N: i})
		if err != nil {
			b.Fatal(err)
		}
		m := nats.NewMsg("orders.placed")
		m.Header.Set(jetstream.MsgIDHeader, fmt.Sprint("id-", i))
		m.Data = data
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
}

// plainEnvelopeProducer is plainProducer with the headers an export writes.
func plainEnvelopeProducer(b *testing.B, s *server.Server) func(int) {
	js := plainJS(b, s)
	b.Cleanup(func() { <-js.PublishAsyncComplete() })
	corr := "0123456789abcdef0123456789abcdef"
	return func(i int) {
		data, err := json.Marshal(Order{ID: "o", N: i})
		if err != nil {
			b.Fatal(err)
		}
		id := fmt.Sprint("ABCDEFGHIJKLMNOP-", i)
		m := nats.NewMsg("orders.placed")
		m.Header[natsbridge.HeaderSpecVersion] = []string{"1.0"}
		m.Header[natsbridge.HeaderID] = []string{id}
		m.Header[natsbridge.HeaderType] = []string{"github.com/fxbus/fxbus/natsbridge_test.Order"}
		m.Header[natsbridge.HeaderSource] = []string{"/fxbus/bench"}
		m.Header[natsbridge.HeaderTime] = []string{time.Now().UTC().Format(time.RFC3339Nano)}
		m.Header[natsbridge.HeaderContentType] = []string{"application/json"}
		m.Header[natsbridge.HeaderCorrelationID] = []string{corr}
		m.Header[jetstream.MsgIDHeader] = []string{id}
		m.Data = data
		if _, err := js.PublishMsgAsync(m); err != nil {
			b.Fatal(err)
		}
	}
}
