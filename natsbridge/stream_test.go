package natsbridge_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/natsbridge"
)

// A stream the bridge made is updated at the next start only when a setting
// the bridge owns changed in Config.Streams, and then only those settings:
// what someone else set on it (here its description and metadata) stays.
func TestStreamUpdatedOnlyWhenOwnedSettingsChange(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	_, js := jsClient(t, url)
	run := func(maxAge time.Duration) []string {
		t.Helper()
		core, logs := observer.New(zapcore.InfoLevel)
		app := startApp(t, remote(url, func(c *natsbridge.Config) {
			c.Streams = []natsbridge.Stream{{Name: "ORDERS", Subjects: []string{"orders.>"}, MaxAge: maxAge}}
		}),
			fx.Supply(zap.New(core)),
			fxbus.Topic[Order]("orders.placed"),
			natsbridge.Export[Order]("orders.>"),
		)
		app.RequireStop()
		var changes []string
		for _, e := range logs.FilterMessage("updated stream").FilterField(zap.String("stream", "ORDERS")).All() {
			for _, c := range e.ContextMap()["changes"].([]any) {
				changes = append(changes, fmt.Sprint(c))
			}
		}
		return changes
	}

	if got := run(time.Hour); got != nil {
		t.Errorf("the first start updated the stream it made: %v", got)
	}
	s, err := js.Stream(testCtx(t), "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	cfg.Description, cfg.Metadata = "orders, kept by ops", map[string]string{"owner": "ops"}
	if _, err := js.UpdateStream(testCtx(t), cfg); err != nil {
		t.Fatal(err)
	}
	if got := run(time.Hour); got != nil {
		t.Errorf("a start with the same configuration updated the stream: %v", got)
	}
	if got, want := run(2*time.Hour), []string{"max age: 1h0m0s -> 2h0m0s"}; !slices.Equal(got, want) {
		t.Errorf("changes = %v, want %v", got, want)
	}
	info := streamInfo(js, "ORDERS")
	if info.Config.MaxAge != 2*time.Hour || info.Config.Description != "orders, kept by ops" || info.Config.Metadata["owner"] != "ops" {
		t.Errorf("stream: max age %v, description %q, metadata %v; want 2h and what ops set",
			info.Config.MaxAge, info.Config.Description, info.Config.Metadata)
	}
}

// Apps that export different subjects with the default stream each add
// theirs to it, keeping what the others added.
func TestDefaultStreamGrows(t *testing.T) {
	checkLeaks(t)
	url, _ := startServer(t, t.TempDir())
	_, js := jsClient(t, url)
	for _, pattern := range []string{"orders.>", "payments.>", "orders.>"} {
		app := startApp(t, remote(url), fxbus.Topic[Order]("orders.placed"), natsbridge.Export[Order](pattern))
		app.RequireStop()
	}
	info := streamInfo(js, natsbridge.DefaultStream)
	if info == nil || !slices.Equal(slices.Sorted(slices.Values(info.Config.Subjects)), []string{"orders.>", "payments.>"}) {
		t.Errorf("the default stream: %+v, want it to capture orders.> and payments.>", info)
	}
}
