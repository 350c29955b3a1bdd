package otelfxbus_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/handlers"
	"github.com/fxbus/fxbus/otelfxbus"
)

// publishAllocs returns the allocations of one synchronous publish to one
// handler in an app with opts, and whether the handler saw a span.
func publishAllocs(t *testing.T, opts ...fx.Option) (float64, bool) {
	t.Helper()
	var orders fxbus.Publisher[Order]
	sawSpan := false
	newApp(t, append(opts, fxbus.Topic[Order]("orders"), fx.Populate(&orders),
		handlers.Supply(handlers.RegisterFunc("orders", func(ctx context.Context, _ Order) error {
			sawSpan = sawSpan || trace.SpanContextFromContext(ctx).IsValid()
			return nil
		})))...)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if err := orders.Publish(ctx, Order{}); err != nil {
			t.Fatal(err)
		}
	})
	return allocs, sawSpan
}

// TestOffIsFree: with no TracerProvider in the graph and none set globally,
// or with a no-op one, the module records nothing and a publish allocates
// what it does without the module.
func TestOffIsFree(t *testing.T) {
	plain, _ := publishAllocs(t)
	noProvider, saw := publishAllocs(t, otelfxbus.Module)
	if saw || noProvider != plain {
		t.Errorf("no provider: span seen %v, %v allocations per publish, want none and %v (the plain bus)", saw, noProvider, plain)
	}
	noopTP := fx.Supply(fx.Annotate(noop.NewTracerProvider(), fx.As(new(trace.TracerProvider))))
	withNoop, saw := publishAllocs(t, noopTP, otelfxbus.Module)
	if saw || withNoop != plain {
		t.Errorf("no-op provider: span seen %v, %v allocations per publish, want none and %v", saw, withNoop, plain)
	}
}

// TestPlainBusDoesNotCompileOTel: the module's packages other than
// otelfxbus (and the examples) do not depend on OpenTelemetry, so an app
// that does not use tracing does not compile it.
func TestPlainBusDoesNotCompileOTel(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}}", "github.com/fxbus/fxbus/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "github.com/fxbus/fxbus/otelfxbus") && !strings.HasPrefix(p, "github.com/fxbus/fxbus/examples/") {
			pkgs = append(pkgs, p)
		}
	}
	deps, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(deps)) {
		if strings.HasPrefix(d, "go.opentelemetry.io/") || strings.HasPrefix(d, "github.com/fxbus/fxbus/otelfxbus") {
			t.Errorf("%s is a dependency of the module's other packages", d)
		}
	}
}
