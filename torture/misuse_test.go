package torture

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/handlers"
)

// Job and Order are the message types of the fx tests.
type (
	Job   struct{ N int }
	Order struct{ ID string }
)

// here returns "file:line" of its caller, as registration sources print it.
func here() string {
	_, file, line, _ := runtime.Caller(1)
	return fmt.Sprintf("%s:%d", file[strings.LastIndexByte(file, '/')+1:], line)
}

// TestMisuse: what a user sees when the fx wiring is wrong. Each mistake
// fails the app, at New or at Start, with an error that names the culprit
// (the topic, the types, the handler and where it was registered) and says
// what to do.
func TestMisuse(t *testing.T) {
	okJob := func(context.Context, Job) error { return nil }
	okOrder := func(context.Context, Order) error { return nil }
	regUndeclared, atUndeclared := handlers.RegisterFunc("jobs.new", okJob, bus.Name("h")), here()
	regMismatch, atMismatch := handlers.RegisterFunc("jobs", okOrder, bus.Name("h")), here()
	for _, tc := range []struct {
		name    string
		opts    []fx.Option
		atNew   bool     // the app fails to build, before Start
		want    []string // in the error
		comment string
	}{
		{
			name: "topic declared twice with different types",
			opts: []fx.Option{fxbus.Module, fxbus.Topic[Job]("jobs"), fxbus.Topic[Order]("jobs")},
			want: []string{`"jobs"`, "torture.Job", "torture.Order", `fxbus.Topic[torture.`, "one message type per topic name"},
		},
		{
			name: "topic declared twice with different types, both publishers used",
			opts: []fx.Option{
				fxbus.Module, fxbus.Topic[Job]("jobs"), fxbus.Topic[Order]("jobs"),
				fx.Invoke(func(fxbus.Publisher[Job], fxbus.Publisher[Order]) {}),
			},
			atNew: true,
			want:  []string{`"jobs"`, "torture.Job", "torture.Order", "one message type per topic name"},
		},
		{
			name: "handler for an undeclared topic",
			opts: []fx.Option{fxbus.Module, fxbus.Topic[Job]("jobs"), handlers.Supply(regUndeclared)},
			want: []string{`handler "h"`, `"jobs.new"`, "torture.Job", atUndeclared, `add fxbus.Topic[torture.Job]("jobs.new")`},
		},
		{
			name: "handler of another type than its topic",
			opts: []fx.Option{fxbus.Module, fxbus.Topic[Job]("jobs"), handlers.Supply(regMismatch)},
			want: []string{`handler "h"`, `"jobs"`, "torture.Job", "torture.Order", atMismatch},
		},
		{
			name:  "Module listed twice",
			opts:  []fx.Option{fxbus.Module, fxbus.Module},
			atNew: true,
			want:  []string{"*bus.Bus", "already provided"},
		},
		{
			name:  "publisher without Module",
			opts:  []fx.Option{fxbus.Topic[Job]("jobs"), fx.Invoke(func(fxbus.Publisher[Job]) {})},
			atNew: true,
			want:  []string{`fxbus.Topic[torture.Job]("jobs") in torture.TestMisuse (misuse_test.go:`, "the app has no *bus.Bus: add fxbus.Module"},
		},
		{
			// A handler registration is a value in a group that only
			// Module reads: without it the app does not build, instead of
			// building and never running the handler.
			name:  "handler without Module",
			opts:  []fx.Option{handlers.Supply(regUndeclared)},
			atNew: true,
			want:  []string{"handlers.Supply", "nothing runs them", "add fxbus.Module"},
		},
		{
			name:  "handler with a constructor, without Module",
			opts:  []fx.Option{handlers.ProvideHandler[Job]("jobs", func() handlers.Func[Job] { return okJob })},
			atNew: true,
			want:  []string{`handlers.ProvideHandler[torture.Job]("jobs")`, "add fxbus.Module"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(append([]fx.Option{fx.NopLogger}, tc.opts...)...)
			err := app.Err()
			switch {
			case tc.atNew && err == nil:
				t.Fatal("fx.New succeeded, want an error")
			case !tc.atNew && err != nil:
				t.Fatalf("fx.New: %v", err)
			case !tc.atNew:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err = app.Start(ctx)
				if err == nil {
					_ = app.Stop(ctx)
					t.Fatal("Start succeeded, want an error")
				}
			}
			t.Logf("the user sees: %v", err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not contain %q", w)
				}
			}
			goleak.VerifyNone(t)
		})
	}
}

// TestMisuseBus: misuse of the bare bus fails with an error that says what
// to do, never a panic: a nil context, a nil handler, a topic of another
// type, options of another type.
func TestMisuseBus(t *testing.T) {
	b := bus.New()
	defer func() {
		if err := closeBus(t, b, testTimeout); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	top, err := bus.NewTopic[Job](b, "jobs")
	if err != nil {
		t.Fatal(err)
	}
	var nilCtx context.Context
	for _, tc := range []struct {
		name string
		do   func() error
		want []string
	}{
		{"Publish with a nil context", func() error { return top.Publish(nilCtx, Job{}) }, []string{"nil context"}},
		{"PublishSync with a nil context", func() error { return top.PublishSync(nilCtx, Job{}) }, []string{"nil context"}},
		{"Subscribe with a nil context", func() error { _, err := top.Subscribe(nilCtx); return err }, []string{"nil context"}},
		{"Handle with a nil function", func() error { _, err := top.Handle(context.Background(), nil); return err }, []string{"nil handler"}},
		{"topic of another type", func() error { _, err := bus.NewTopic[Order](b, "jobs"); return err },
			[]string{`"jobs"`, "torture.Job", "torture.Order"}},
		{"subscribe with another type", func() error { _, err := bus.Subscribe[Order](context.Background(), b, "jobs"); return err },
			[]string{`"jobs"`, "torture.Job", "torture.Order"}},
		{"OrderingKey of another type", func() error {
			_, err := top.Subscribe(context.Background(), bus.QueueGroup("g"), bus.OrderingKey(func(Order) string { return "" }))
			return err
		}, []string{"OrderingKey", "torture.Order", "torture.Job"}},
		{"OnDrop of another type", func() error {
			_, err := top.Subscribe(context.Background(), bus.OnDrop(func(bus.Message[Order], bus.DropReason) {}))
			return err
		}, []string{"OnDrop", "torture.Order", "torture.Job"}},
		{"OrderingKey without a group", func() error {
			_, err := top.Subscribe(context.Background(), bus.OrderingKey(func(Job) string { return "" }))
			return err
		}, []string{"QueueGroup"}},
		{"nil option", func() error { _, err := top.Subscribe(context.Background(), nil); return err }, []string{"nil SubscribeOption"}},
		{"nil bus", func() error { _, err := bus.Subscribe[Job](context.Background(), nil, "jobs"); return err }, []string{"nil *Bus"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panicked: %v", r)
					}
				}()
				err = tc.do()
			}()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
