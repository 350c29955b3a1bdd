package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// With the bridge on, the HTTP API publishes its orders on TopicSubmitted,
// which goes to the stream only; an import with a durable shared by every
// process of the app takes them back, and a relay publishes each on
// TopicOrders, where the handlers are. So the processes split the orders,
// whichever process took them over HTTP.
const (
	TopicSubmitted = "orders.submitted"
	bridgeStream   = "ORDERS"
	bridgeDurable  = "orders"
)

// bridgeSettings are the flags that put the app on NATS JetStream. Both
// empty: no bridge, the app runs in its process alone.
type bridgeSettings struct {
	Listen   string // run the embedded server, listening on this host:port
	URLs     string // or connect to these servers, comma-separated
	StoreDir string // the embedded server's store
	Replicas int    // replicas of the stream (3 on a three-node cluster)
}

func (b bridgeSettings) on() bool { return b.Listen != "" || b.URLs != "" }

// register adds the bridge's flags to fs.
func (b *bridgeSettings) register(fs *flag.FlagSet) {
	fs.StringVar(&b.Listen, "nats-listen", b.Listen, "run an embedded NATS server with JetStream listening on `host:port`, and share orders through it with other processes of the app")
	fs.StringVar(&b.URLs, "nats-url", b.URLs, "share orders through the NATS `servers` at these URLs (comma-separated, like nats://127.0.0.1:4222) instead")
	fs.StringVar(&b.StoreDir, "nats-store", b.StoreDir, "`dir` of the embedded server's streams (default: the user's cache directory)")
	fs.IntVar(&b.Replicas, "nats-replicas", 1, "`n` replicas of the orders stream: 3 on a three-node cluster")
}

// check says what is wrong with the flags, or nil.
func (b bridgeSettings) check() error {
	switch {
	case b.Listen != "" && b.URLs != "":
		return fmt.Errorf("-nats-listen and -nats-url: give one (a second process connects with -nats-url to the first one's -nats-listen)")
	case b.Replicas < 1 || b.Replicas > 5:
		return fmt.Errorf("-nats-replicas %d: use 1 to 5", b.Replicas)
	case b.Replicas > 1 && b.URLs == "":
		return fmt.Errorf("-nats-replicas %d: replicas need a cluster: give its servers with -nats-url (the embedded server of -nats-listen is one node)", b.Replicas)
	case b.StoreDir != "" && b.Listen == "":
		return fmt.Errorf("-nats-store %s: only for the embedded server, with -nats-listen", b.StoreDir)
	}
	if _, _, err := net.SplitHostPort(b.Listen); b.Listen != "" && err != nil {
		return fmt.Errorf("-nats-listen %q: want host:port, like 127.0.0.1:4222", b.Listen)
	}
	for _, u := range strings.Split(b.URLs, ",") {
		if b.URLs != "" && !strings.Contains(u, "://") {
			return fmt.Errorf("-nats-url %q: %q is not a URL: write each server as nats://host:port, comma-separated, without spaces", b.URLs, u)
		}
	}
	return nil
}

// bridgeShare counts what this process placed and what it handled of the
// orders that every process placed.
type bridgeShare struct {
	on              bool
	placed, handled atomic.Int64
}

// print writes the process's share after the final table.
func (s *bridgeShare) print(w io.Writer) {
	if s.on {
		fmt.Fprintf(w, "nats:       %d orders placed here and exported; %d handled here, taken from the durable %q that the app's processes share\n",
			s.placed.Load(), s.handled.Load(), bridgeDurable)
	}
}

// bridgeOptions puts the app on NATS JetStream when the flags ask for it.
// List it after coreOptions and before serveOptions: it stops after the HTTP
// server and before the bus.
func bridgeOptions(b bridgeSettings, share *bridgeShare) fx.Option {
	if !b.on() {
		return fx.Options()
	}
	share.on = true
	return fx.Options(
		natsbridge.Module,
		natsbridge.Configure(func(c *natsbridge.Config) {
			c.Name = "orders-app"
			if b.URLs != "" {
				c.URLs = strings.Split(b.URLs, ",")
			}
			c.Embedded.Listen, c.Embedded.StoreDir = b.Listen, b.StoreDir
			c.Streams = []natsbridge.Stream{{Name: bridgeStream, Subjects: []string{TopicSubmitted}, Replicas: b.Replicas}}
			c.DeadLetters.Replicas = b.Replicas
		}),
		fxbus.NamedTopic[OrderPlaced](TopicSubmitted, "submitted"),
		natsbridge.Export[OrderPlaced](TopicSubmitted),
		natsbridge.Import[OrderPlaced](TopicSubmitted, natsbridge.Durable(bridgeDurable), natsbridge.AckWait(10*time.Second)),
		fx.Decorate(func(in submitted) fxbus.Publisher[OrderPlaced] { return in.P }), // the API's orders
		fx.Supply(share),
		handlers.Provide(newRelay),
		fx.Invoke(newCatchUp),
	)
}

// submitted is the publisher of TopicSubmitted.
type submitted struct {
	fx.In
	P fxbus.Publisher[OrderPlaced] `name:"submitted"`
}

// newRelay publishes each order that the import took from the stream on
// TopicOrders; the orders placed here reach it too, and are only counted:
// the stream brings them back to one process of the app.
func newRelay(b *bus.Bus, share *bridgeShare) (handlers.Registration, error) {
	orders, err := bus.NewTopic[OrderPlaced](b, TopicOrders)
	if err != nil {
		return handlers.Registration{}, err
	}
	return handlers.RegisterFunc(TopicSubmitted, func(ctx context.Context, o OrderPlaced) error {
		if !natsbridge.Imported(ctx) {
			share.placed.Add(1)
			return nil
		}
		share.handled.Add(1)
		return orders.Publish(ctx, o)
	}, bus.Name("relay")), nil
}

// newCatchUp waits at stop, after the HTTP server has stopped and before the
// import stops, until the durable has taken every order in the stream (this
// process's last exports included) or 5 seconds have passed: the orders
// placed last are handled by some process rather than left for the next run.
func newCatchUp(lc fx.Lifecycle, br *natsbridge.Bridge, log *zap.Logger) {
	lc.Append(fx.Hook{OnStop: func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for quiet := 0; quiet < 3; {
			select {
			case <-ctx.Done():
				log.Warn("stopping before the durable took every order; the next run takes the rest", zap.String("durable", bridgeDurable))
				return nil
			case <-tick.C:
			}
			quiet++
			if !caughtUp(ctx, br.JetStream()) {
				quiet = 0
			}
		}
		return nil
	}})
}

// caughtUp says whether the durable has nothing left to deliver and nothing
// unacked.
func caughtUp(ctx context.Context, js jetstream.JetStream) bool {
	c, err := js.Consumer(ctx, bridgeStream, bridgeDurable)
	if err != nil {
		return false
	}
	info, err := c.Info(ctx)
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}
