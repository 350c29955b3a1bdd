package natsbridge_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/fx/fxtest"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// Several instances of a service start at the same moment against a three
// node cluster, each making sure of the same R3 stream and the dead-letter
// stream: all of them start, and the stream exists once with the
// configuration they asked for. A few rounds, each with a new stream.
func TestClusterConcurrentStarts(t *testing.T) {
	checkLeaks(t)
	c := startCluster(t, 3)
	js := c.client(t)
	const instances = 4
	for round := range scaled(3, 10) {
		name := fmt.Sprint("ORDERS_", round)
		apps := make([]*fxtest.App, instances)
		for i := range apps {
			apps[i] = newApp(t,
				onServers(c.urls(), 3, func(cfg *natsbridge.Config) {
					cfg.Streams[0].Name = name
					cfg.Streams[0].MaxAge = time.Hour
				}),
				fxbus.Topic[Order]("orders.placed"),
				natsbridge.Export[Order]("orders.>"),
				natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
				handlers.Supply(handlers.Register[Order]("orders.placed", newRecorder())),
			)
		}
		errs, slowest := startAll(apps)
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: instance %d did not start: %v", round, i, err)
			}
		}
		info := streamInfo(js, name)
		switch {
		case info == nil:
			t.Errorf("round %d: no stream %s", round, name)
		case info.Config.Replicas != 3 || !slices.Equal(info.Config.Subjects, []string{"orders.>"}) || info.Config.MaxAge != time.Hour:
			t.Errorf("round %d: stream %s has replicas %d, subjects %v, max age %v; want 3, [orders.>], 1h",
				round, name, info.Config.Replicas, info.Config.Subjects, info.Config.MaxAge)
		}
		for _, app := range apps {
			_ = app.Stop(context.Background())
		}
		deleteStream(t, js, name) // the next round's stream captures the same subjects
		if t.Failed() {
			return
		}
		t.Logf("round %d: %d instances started at once, the slowest in %v", round, instances, slowest.Round(time.Millisecond))
	}
}

// startAll starts the apps at the same moment and returns their errors and
// the longest start.
func startAll(apps []*fxtest.App) ([]error, time.Duration) {
	errs := make([]error, len(apps))
	took := make([]time.Duration, len(apps))
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	for i, app := range apps {
		ready.Add(1)
		done.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
			defer cancel()
			ready.Done()
			<-gate
			started := time.Now()
			errs[i] = app.Start(ctx)
			took[i] = time.Since(started)
		})
	}
	ready.Wait()
	close(gate)
	done.Wait()
	return errs, slices.Max(took)
}

// deleteStream deletes a stream of the cluster.
func deleteStream(t testing.TB, js jetstream.JetStream, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if err := js.DeleteStream(ctx, name); err != nil {
		t.Fatalf("delete stream %s: %v", name, err)
	}
}

// A start whose stream the cluster cannot place (five replicas on three
// servers) retries until the start's deadline, then fails with an error that
// names the stream, the server's reason and what to check. A start during
// an outage of two nodes of three, when the cluster has no leader, retries
// until they are back, and succeeds.
func TestClusterStartRetries(t *testing.T) {
	checkLeaks(t)
	c := startCluster(t, 3)
	app := func(replicas int) *fxtest.App {
		a := newApp(t, onServers(c.urls(), replicas),
			fxbus.Topic[Order]("orders.placed"),
			natsbridge.Export[Order]("orders.>"),
		)
		t.Cleanup(func() { _ = a.Stop(context.Background()) })
		return a
	}

	const deadline = 7 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	started := time.Now()
	err := app(5).Start(ctx)
	took := time.Since(started)
	if err == nil {
		t.Fatal("started with an R5 stream on three servers")
	}
	for _, want := range []string{`stream "ORDERS"`, "at the start's deadline", "no suitable peers", "every server of the cluster is up"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if took < deadline/2 {
		t.Errorf("gave up after %v: want tries until near the start's deadline (%v)", took, deadline)
	}
	t.Logf("after %v: %v", took.Round(time.Millisecond), err)

	c.nodes[1].stop()
	c.nodes[2].stop()
	second := app(3)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
		defer cancel()
		done <- second.Start(ctx)
	}()
	c.nodes[1].start()
	c.nodes[2].start()
	if err := <-done; err != nil {
		t.Fatalf("a start while two nodes came back: %v", err)
	}
	if info := streamInfo(c.client(t), "ORDERS"); info == nil || info.Config.Replicas != 3 {
		t.Errorf("stream ORDERS: %+v, want 3 replicas", info)
	}
}
