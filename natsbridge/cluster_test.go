package natsbridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// publishRange publishes orders o-<from>..o-<to-1> and says when it passed
// mark; for a goroutine, so it returns its error instead of failing the test.
func publishRange(pub fxbus.Publisher[Order], from, mark, to int, passed chan<- struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	for i := from; i < to; i++ {
		if i == mark {
			close(passed)
		}
		if err := pub.Publish(ctx, Order{ID: fmt.Sprint("o-", i), N: i}); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
	}
	return nil
}

// An R3 stream on three embedded nodes: the stream's leader is shut down
// while the bridge exports, and started again later. Every event that the
// bridge had acked by the stream is stored once (a retry whose ack was lost
// is dropped by the duplicate window on its ce-id) and handled by the
// importing durable; none is lost, and any handled twice is one that the
// consumer redelivered.
func TestClusterNodeLoss(t *testing.T) {
	checkLeaks(t)
	c := startCluster(t, 3)
	js := c.client(t)
	n := scaled(1500, 10000)

	rec := newRecorder()
	rec.ch = make(chan Order, n*2) // not read: counts() says what was handled
	impReg := &keeper{Registry: prometheus.NewRegistry()}
	startApp(t, onServers(c.urls(), 3), withRegistry(impReg),
		natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing"), natsbridge.AckWait(2*time.Second)),
		handlers.Supply(handlers.Register[Order]("orders.placed", rec)),
	)
	expReg := &keeper{Registry: prometheus.NewRegistry()}
	var pub fxbus.Publisher[Order]
	pubApp := startApp(t, onServers(c.urls(), 3), withRegistry(expReg),
		fxbus.Topic[Order]("orders.placed"),
		natsbridge.Export[Order]("orders.>", natsbridge.InFlight(64)),
		fx.Populate(&pub),
	)

	publishN(t, pub, 0, n/3)
	info := streamInfo(js, "ORDERS")
	if info == nil || info.Cluster == nil || info.Cluster.Leader == "" {
		t.Fatalf("the stream has no leader: %+v", info)
	}
	victim := c.node(info.Cluster.Leader)
	passed, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- publishRange(pub, n/3, 2*n/3, n, passed) }()

	killed := time.Now()
	victim.stop()
	seq := info.State.LastSeq
	poll(t, "the stream to store exports again without its leader", func() bool {
		i := streamInfo(js, "ORDERS")
		return i != nil && i.Cluster != nil && i.Cluster.Leader != "" && i.Cluster.Leader != victim.name && i.State.LastSeq > seq
	})
	recovered := time.Since(killed)

	select {
	case <-passed:
	case err := <-done:
		done <- err
	}
	victim.start()
	restarted := time.Now()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	pubApp.RequireStop() // waits for the stream's acks of every export
	acked := time.Since(killed)

	exported := sum(t, expReg, "fxbus_bridge_exported_total")
	failures := sum(t, expReg, "fxbus_bridge_export_failures_total")
	if failures != 0 || exported != float64(n) {
		t.Errorf("exported %v of %d, %v failed", exported, n, failures)
	}
	handled := waitHandled(t, js, "billing", rec, n)
	poll(t, "the restarted node to catch up", func() bool { return replicasCurrent(js, "ORDERS", 2) })
	caughtUp := time.Since(restarted)

	if m := streamInfo(js, "ORDERS").State.Msgs; m != uint64(n) {
		t.Errorf("the stream holds %d messages, want %d: each export once", m, n)
	}
	twice := handled - n
	redelivered := int(sum(t, impReg, "fxbus_bridge_redelivered_total"))
	if twice > redelivered {
		t.Errorf("%d events handled more than once, but the consumer redelivered only %d", twice, redelivered)
	}
	t.Logf("R3 cluster, stream leader %s shut down after %d of %d events: %d exported, %v publish retries, "+
		"%v retries dropped as duplicates by the stream; exports stored again %v after the shutdown, all acked %v after it; "+
		"restarted node current %v after its restart; %d handled by the durable, %d redelivered, %d handled twice",
		victim.name, n/3, n, int(exported), sum(t, expReg, "fxbus_bridge_export_errors_total"),
		sum(t, expReg, "fxbus_bridge_export_duplicates_total"), recovered.Round(time.Millisecond), acked.Round(time.Millisecond),
		caughtUp.Round(time.Millisecond), handled, redelivered, twice)
}

// waitHandled waits until every one of the n orders was handled and the
// durable has nothing pending or unacked, and returns how many handler calls
// there were in all. It fails the test if an order was never handled.
func waitHandled(t testing.TB, js jetstream.JetStream, durable string, rec *recorder, n int) int {
	t.Helper()
	poll(t, fmt.Sprintf("%d events handled", n), func() bool {
		if len(rec.counts()) < n {
			return false
		}
		ci := readConsumer(js, "ORDERS", durable)
		return ci != nil && ci.NumPending == 0 && ci.NumAckPending == 0
	})
	total := 0
	counts := rec.counts()
	for i := range n {
		k := counts[fmt.Sprint("o-", i)]
		if k == 0 {
			t.Errorf("o-%d never handled", i)
		}
		total += k
	}
	return total
}

// replicasCurrent says whether the stream's leader and want followers are
// all current.
func replicasCurrent(js jetstream.JetStream, stream string, want int) bool {
	i := streamInfo(js, stream)
	if i == nil || i.Cluster == nil || i.Cluster.Leader == "" || len(i.Cluster.Replicas) != want {
		return false
	}
	for _, r := range i.Cluster.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}
