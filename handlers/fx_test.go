package handlers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/fxgroup"
	"go.uber.org/fx"
)

// store is a dependency that handlers share.
type store struct {
	mu   sync.Mutex
	seen []string
}

func (s *store) add(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, v)
}

func (s *store) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.seen))
}

// mailer is a struct handler with a dependency.
type mailer struct{ st *store }

func newMailer(st *store) *mailer { return &mailer{st: st} }

func (m *mailer) Handle(_ context.Context, o order) error {
	m.st.add("mail order")
	return nil
}

func newAuditHandler(st *store) Registration {
	return RegisterFunc("orders.created", func(_ context.Context, o order) error {
		st.add("audit order")
		return nil
	}, bus.Name("audit"))
}

func newPaymentHandlers(st *store) ([]Registration, error) {
	return []Registration{
		RegisterFunc("payments.requested", func(context.Context, payment) error { st.add("charge payment"); return nil }, bus.Name("charge")),
		RegisterFunc("payments.requested", func(context.Context, payment) error { st.add("ledger payment"); return nil }, bus.Name("ledger")),
	}, nil
}

type groupParams struct {
	fx.In
	Registrations []Registration `group:"fxbus.handlers"`
}

// Registrations of several message types, from constructors of one, several
// or ready values, arrive through the one group.
func TestFxGroup(t *testing.T) {
	st := &store{}
	var regs []Registration
	app := fx.New(
		fx.NopLogger,
		fx.Supply(&fxgroup.Reader{}), // this test reads the group itself
		fx.Supply(st),
		Provide(newAuditHandler, newPaymentHandlers),
		ProvideHandler[order]("orders.created", newMailer, bus.Name("mail")),
		Supply(
			RegisterFunc("orders.created", func(context.Context, order) error { st.add("count order"); return nil }, bus.Name("count")),
			RegisterFunc("a.first", func(context.Context, int) error { return nil }, bus.Name("first")),
		),
		fx.Invoke(func(p groupParams) { regs = p.Registrations }),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	sortRegs(regs)
	var got []string
	for _, r := range regs {
		got = append(got, r.Topic()+"/"+r.Name()+"/"+r.typ.String())
	}
	want := []string{
		"a.first/first/int",
		"orders.created/audit/handlers.order",
		"orders.created/count/handlers.order",
		"orders.created/mail/handlers.order",
		"payments.requested/charge/handlers.payment",
		"payments.requested/ledger/handlers.payment",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("registrations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if src := regs[3].source; !strings.HasPrefix(src, "handlers.newMailer (fx_test.go:") {
		t.Errorf("ProvideHandler source = %q, want the constructor", src)
	}

	b := newBus(t)
	for _, r := range regs {
		mustSubscribe(t, b, r, Env{})
	}
	ctx := testCtx(t)
	if err := mustTopic[order](t, b, "orders.created").PublishSync(ctx, order{ID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := mustTopic[payment](t, b, "payments.requested").PublishSync(ctx, payment{OrderID: 1}); err != nil {
		t.Fatal(err)
	}
	wantSeen := []string{"audit order", "charge payment", "count order", "ledger payment", "mail order"}
	if got := st.all(); !slices.Equal(got, wantSeen) {
		t.Errorf("handled %v, want %v", got, wantSeen)
	}
}

// Mistakes in what is handed to the helpers fail the app's construction
// with an error that says what was wrong.
func TestFxBadConstructors(t *testing.T) {
	errCtor := errors.New("no database")
	tests := []struct {
		name string
		opt  fx.Option
		want string
	}{
		{"not a function", Provide(42), "int is not a function"},
		{"nil function", Provide((func() Registration)(nil)), "nil func() handlers.Registration"},
		{"wrong result", Provide(func() int { return 0 }), "returns int, not handlers.Registration"},
		{"no result", Provide(func() {}), "must return"},
		{"second result not error", Provide(func() (Registration, int) { return Registration{}, 0 }), "must return"},
		{"constructor error", Provide(func() (Registration, error) { return Registration{}, errCtor }), "no database"},
		{"handler: not a function", ProvideHandler[order]("t", "x"), "string is not a function"},
		{"handler: bad option", ProvideHandler[order]("t", func() *auditor { return &auditor{} }, bus.Name("x"), Retry(0)), "handlers.Retry(0)"},
		{"handler: no Handle", ProvideHandler[payment]("t", func() *auditor { return &auditor{} }), "no method Handle(context.Context, handlers.payment) error"},
		{"handler: nil result", ProvideHandler[order]("t", func() *auditor { return nil }), "handler is nil"},
		{"handler: error", ProvideHandler[order]("t", func() (*auditor, error) { return nil, errCtor }), "no database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fx.New(fx.NopLogger, fx.Supply(&fxgroup.Reader{}), tt.opt, fx.Invoke(func(groupParams) {}))
			err := app.Err()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("app error: %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// ProvideHandler takes a constructor of a func too, and a variadic one.
func TestProvideHandlerShapes(t *testing.T) {
	st := &store{}
	var regs []Registration
	app := fx.New(
		fx.NopLogger,
		fx.Supply(&fxgroup.Reader{}), // this test reads the group itself
		fx.Supply(st),
		ProvideHandler[order]("o", func(st *store) func(context.Context, order) error {
			return func(context.Context, order) error { st.add("func"); return nil }
		}, bus.Name("fn")),
		ProvideHandler[order]("o", func(st *store, more ...int) *mailer { return newMailer(st) }, bus.Name("variadic")),
		fx.Invoke(func(p groupParams) { regs = p.Registrations }),
	)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	sortRegs(regs)
	b := newBus(t)
	for _, r := range regs {
		mustSubscribe(t, b, r, Env{})
	}
	if err := mustTopic[order](t, b, "o").PublishSync(testCtx(t), order{}); err != nil {
		t.Fatal(err)
	}
	if got := st.all(); !slices.Equal(got, []string{"func", "mail order"}) {
		t.Errorf("handled %v", got)
	}
}

// Registrations in an app where nothing reads the group (no fxbus.Module)
// are an error when the app is built, that says what to add; with a
// fxgroup.Reader the same app builds.
func TestRegistrationsWithoutReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  fx.Option
		want string
	}{
		{"Provide", Provide(newAuditHandler), "handlers.Provide"},
		{"Supply", Supply(RegisterFunc("t", func(context.Context, int) error { return nil })), "handlers.Supply"},
		{"ProvideHandler", ProvideHandler[order]("orders.created", newMailer), `handlers.ProvideHandler[handlers.order]("orders.created")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(fx.NopLogger, fx.Supply(&store{}), tc.opt)
			err := app.Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "add fxbus.Module") {
				t.Fatalf("app error: %v, want one naming %s and saying to add fxbus.Module", err, tc.want)
			}
			app = fx.New(fx.NopLogger, fx.Supply(&store{}, &fxgroup.Reader{}), tc.opt)
			if err := app.Err(); err != nil {
				t.Fatalf("with a fxgroup.Reader: %v", err)
			}
		})
	}
}
