package natsbridge_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/natsbridge"
)

// startErr builds and starts an app that must fail, and returns the error.
func startErr(t *testing.T, opts ...fx.Option) error {
	t.Helper()
	app := fx.New(append([]fx.Option{fx.NopLogger, fxbus.Module, natsbridge.Module}, opts...)...)
	if err := app.Err(); err != nil {
		return err
	}
	err := app.Start(testCtx(t))
	if err == nil {
		_ = app.Stop(context.Background())
		t.Fatal("the app started")
	}
	return err
}

// badConfig is a configuration that must fail the start: the error must
// match is (if set) and say each of want.
type badConfig struct {
	name  string
	setup func(t *testing.T) []fx.Option
	is    error
	want  []string
}

func badConfigs() []badConfig {
	handler := handlers.Supply(handlers.RegisterFunc("orders.placed", func(context.Context, Order) error { return nil }))
	return []badConfig{
		{"bad URL", func(t *testing.T) []fx.Option {
			return []fx.Option{remote("nats://127.0.0.1:1")}
		}, nil, []string{"nats://127.0.0.1:1", "check Config.URLs"}},
		{"unwritable store dir", func(t *testing.T) []fx.Option {
			file := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(file, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return []fx.Option{embeddedIn(filepath.Join(file, "store"))}
		}, nil, []string{"cannot be created", "set Config.Embedded.StoreDir"}},
		{"store dir locked by another server", func(t *testing.T) []fx.Option {
			dir := t.TempDir()
			startApp(t, embeddedIn(dir))
			return []fx.Option{embeddedIn(dir)}
		}, natsbridge.ErrStoreLocked, []string{"in use by pid", "own Config.Embedded.StoreDir"}},
		{"export outside the stream", func(t *testing.T) []fx.Option {
			return []fx.Option{embeddedIn(t.TempDir()),
				natsbridge.Configure(func(c *natsbridge.Config) {
					c.Streams = []natsbridge.Stream{{Name: "PAYMENTS", Subjects: []string{"payments.>"}}}
				}),
				fxbus.Topic[Order]("orders.placed"),
				natsbridge.Export[Order]("orders.>"),
			}
		}, natsbridge.ErrNotCovered, []string{`"orders.>"`, "PAYMENTS [payments.>]", "Subjects"}},
		{"import outside its stream", func(t *testing.T) []fx.Option {
			return []fx.Option{embeddedIn(t.TempDir()),
				natsbridge.Configure(func(c *natsbridge.Config) {
					c.Streams = []natsbridge.Stream{{Name: "ORDERS", Subjects: []string{"orders.paid"}}}
				}),
				natsbridge.Import[Order]("orders.placed", natsbridge.FromStream("ORDERS")),
				handler,
			}
		}, natsbridge.ErrNotCovered, []string{`"ORDERS"`, `"orders.placed"`}},
		{"export retries longer than the duplicate window", func(t *testing.T) []fx.Option {
			return []fx.Option{embeddedIn(t.TempDir()),
				fxbus.Topic[Order]("orders.placed"),
				natsbridge.Export[Order]("orders.>", natsbridge.PublishRetry(20, time.Second, 10*time.Second)),
			}
		}, nil, []string{"duplicate window", "PublishRetry"}},
		{"existing stream missing", func(t *testing.T) []fx.Option {
			return []fx.Option{embeddedIn(t.TempDir()),
				natsbridge.Configure(func(c *natsbridge.Config) {
					c.Streams = []natsbridge.Stream{{Name: "ORDERS", Existing: true}}
				}),
			}
		}, nil, []string{`stream "ORDERS" does not exist`}},
		{"import without subscriber", func(t *testing.T) []fx.Option {
			return []fx.Option{embeddedIn(t.TempDir()), natsbridge.Import[Order]("orders.placed")}
		}, natsbridge.ErrNoSubscriber, []string{"register a handler", "after fxbus.Module"}},
		{"two imports share a durable", func(t *testing.T) []fx.Option {
			return []fx.Option{embeddedIn(t.TempDir()),
				natsbridge.Import[Order]("orders.placed", natsbridge.Durable("billing")),
				natsbridge.Import[Order]("orders.paid", natsbridge.Durable("billing")),
				handler,
			}
		}, nil, []string{`share the durable "billing"`}},
		{"bad durable name", func(t *testing.T) []fx.Option {
			return []fx.Option{natsbridge.Import[Order]("orders.placed", natsbridge.Durable("a.b"))}
		}, nil, []string{`Durable "a.b"`}},
		{"bad listen address", func(t *testing.T) []fx.Option {
			return []fx.Option{embeddedIn(t.TempDir()), natsbridge.Configure(func(c *natsbridge.Config) { c.Embedded.Listen = "nowhere" })}
		}, nil, []string{`Listen "nowhere"`, "host:port"}},
	}
}

// Bad configuration fails the app's start with an error that says what to
// fix; nothing is left running.
func TestBadConfigFailsStart(t *testing.T) {
	for _, tc := range badConfigs() {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			err := startErr(t, tc.setup(t)...)
			t.Logf("%v", err)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v: want one that matches %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// Export and Import without Module fail the app's build instead of doing
// nothing.
func TestWithoutModule(t *testing.T) {
	app := fx.New(fx.NopLogger, fxbus.Module,
		fxbus.Topic[Order]("orders.placed"),
		natsbridge.Export[Order]("orders.>"))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "has no natsbridge.Module") {
		t.Errorf("error %v: want one that says the module is missing", err)
	}
}
