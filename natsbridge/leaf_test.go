package natsbridge_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// startLeaf runs a server without JetStream of its own that joins the hub
// at leafURL as a leaf node, until the test ends, and returns its client
// URL once JetStream answers through it. Its clients' JetStream is the hub's
// domain "hub" (JsAccDefaultDomain; default_js_domain in a server config):
// without it the leaf answers "jetstream not enabled" itself.
func startLeaf(t testing.TB, leafURL string) string {
	t.Helper()
	u, err := url.Parse(leafURL)
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{
		ServerName: "leaf", Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true,
		JsAccDefaultDomain: map[string]string{"$G": "hub"}, // its clients' JetStream is the hub's
		LeafNode:           server.LeafNodeOpts{Remotes: []*server.RemoteLeafOpts{{URLs: []*url.URL{u}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	if !s.ReadyForConnections(clusterTimeout) {
		t.Fatal("leaf not ready")
	}
	poll(t, "the leaf to join the hub", func() bool { return s.NumLeafNodes() == 1 })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "the hub's JetStream to answer through the leaf", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err == nil
	})
	return s.ClientURL()
}

// A server that joins a hub as a leaf node: an app connected to the leaf
// exports, and an app connected to the hub consumes every event from the
// hub's stream.
func TestLeafExportsReachHub(t *testing.T) {
	checkLeaks(t)
	hub := &node{t: t, name: "hub", domain: "hub", dir: t.TempDir(), port: freePort(t), leafPort: freePort(t)}
	t.Cleanup(hub.stop)
	hub.start()
	leaf := startLeaf(t, fmt.Sprintf("nats-leaf://127.0.0.1:%d", hub.leafPort))
	n := scaled(300, 3000)

	rec := newRecorder()
	rec.ch = make(chan Order, n)
	startApp(t, onServers([]string{hub.url()}, 1),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	pub, pubApp := publisherApp(t, onServers([]string{leaf}, 1))
	started := time.Now()
	publishN(t, pub, 0, n)
	pubApp.RequireStop()
	exported := time.Since(started)

	got := rec.wait(t, n)
	took := time.Since(started)
	seen := map[string]bool{}
	for _, o := range got {
		seen[o.ID] = true
	}
	if len(seen) != n {
		t.Errorf("the hub handled %d distinct events of the %d exported on the leaf", len(seen), n)
	}
	t.Logf("%d events exported on the leaf, all acked by the hub's stream in %v, all handled on the hub in %v: %.0f events/s end to end (under -race)",
		n, exported.Round(time.Millisecond), took.Round(time.Millisecond), float64(n)/took.Seconds())
}
