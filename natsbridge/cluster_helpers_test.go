package natsbridge_test

import (
	"context"
	"flag"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus/natsbridge"
)

// long runs the cluster and fault tests with more events (CI passes it).
var long = flag.Bool("fxbus.long", false, "run the long variants of the cluster and fault tests")

// scaled returns short, or long under -fxbus.long.
func scaled(short, longer int) int {
	if *long {
		return longer
	}
	return short
}

// clusterTimeout bounds the waits of the cluster tests: elections and
// catch-up on a loaded machine take seconds.
const clusterTimeout = 90 * time.Second

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// node is one server of a test cluster, which may be stopped and started
// again on the same ports and store.
type node struct {
	t           testing.TB
	name, dir   string
	port, route int
	routes      []string // the other nodes' route URLs
	leafPort    int      // accepts leaf nodes if not 0
	domain      string   // its JetStream domain, if any

	mu  sync.Mutex
	srv *server.Server
}

func (n *node) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start runs the node; it fails the test if the node does not take clients.
func (n *node) start() {
	n.t.Helper()
	opts := &server.Options{
		ServerName: n.name, Host: "127.0.0.1", Port: n.port,
		JetStream: true, StoreDir: n.dir, JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20,
		JetStreamDomain: n.domain, NoSigs: true, NoLog: true,
	}
	if n.route != 0 {
		opts.Cluster = server.ClusterOpts{Name: "fxbus", Host: "127.0.0.1", Port: n.route}
		opts.Routes = server.RoutesFromStr(strings.Join(n.routes, ","))
	}
	if n.leafPort != 0 {
		opts.LeafNode = server.LeafNodeOpts{Host: "127.0.0.1", Port: n.leafPort}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		n.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(clusterTimeout) {
		n.t.Fatalf("node %s not ready", n.name)
	}
	n.mu.Lock()
	n.srv = s
	n.mu.Unlock()
}

// stop shuts the node down and waits until it has; stopping a stopped node
// does nothing.
func (n *node) stop() {
	n.mu.Lock()
	s := n.srv
	n.srv = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// cluster is a test cluster of embedded servers on 127.0.0.1.
type cluster struct{ nodes []*node }

// startCluster runs size nodes routed to each other until the test ends,
// and waits until JetStream has a meta leader.
func startCluster(t testing.TB, size int) *cluster {
	t.Helper()
	c := &cluster{}
	var routes []string
	for i := range size {
		n := &node{t: t, name: fmt.Sprint("n", i+1), dir: t.TempDir(), port: freePort(t), route: freePort(t)}
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", n.route))
		c.nodes = append(c.nodes, n)
	}
	for i, n := range c.nodes {
		n.routes = append(append([]string{}, routes[:i]...), routes[i+1:]...)
	}
	for _, n := range c.nodes {
		t.Cleanup(n.stop)
		n.start()
	}
	c.waitJetStream(t)
	return c
}

func (c *cluster) urls() []string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.url())
	}
	return out
}

func (c *cluster) node(name string) *node {
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	return nil
}

// client connects a plain client to every node, for the test's own checks.
func (c *cluster) client(t testing.TB) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(strings.Join(c.urls(), ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// waitJetStream polls until a JetStream API call succeeds (the cluster has
// elected a meta leader).
func (c *cluster) waitJetStream(t testing.TB) {
	t.Helper()
	js := c.client(t)
	poll(t, "the cluster's JetStream to answer", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
}

// poll checks cond every 20 ms until it holds, or fails the test after
// clusterTimeout: for server states that nothing signals.
func poll(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", clusterTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamInfo reads a stream's info, or nil while the server cannot say.
func streamInfo(js jetstream.JetStream, name string) *jetstream.StreamInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// readConsumer reads a consumer's info, or nil while the server cannot say.
func readConsumer(js jetstream.JetStream, stream, name string) *jetstream.ConsumerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, name)
	if err != nil {
		return nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil
	}
	return info
}

// onServers configures the bridge to connect to urls and to use one stream
// of the given replicas for the orders.
func onServers(urls []string, replicas int, fn ...func(*natsbridge.Config)) fx.Option {
	return natsbridge.Configure(func(c *natsbridge.Config) {
		c.URLs = urls
		c.Name = "test"
		c.ReconnectWait, c.ReconnectJitter = 50*time.Millisecond, 10*time.Millisecond
		c.Streams = []natsbridge.Stream{{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: replicas}}
		c.DeadLetters.Replicas = replicas
		for _, f := range fn {
			f(c)
		}
	})
}

// sum adds up the values of every series of the named metric that k kept,
// whether or not the app has stopped and unregistered them.
func sum(t testing.TB, k *keeper, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	for _, c := range k.kept {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				total += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}
