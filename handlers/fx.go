package handlers

import (
	"context"
	"fmt"
	"reflect"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus/bus"

	"github.com/fxbus/fxbus/internal/fxgroup"
	"github.com/fxbus/fxbus/internal/quote"
	"github.com/fxbus/fxbus/internal/source"
)

var (
	registrationType  = reflect.TypeFor[Registration]()
	registrationsType = reflect.TypeFor[[]Registration]()
	errorType         = reflect.TypeFor[error]()
)

const (
	groupTag   = `group:"` + fxgroup.Handlers + `"`
	flattenTag = `group:"` + fxgroup.Handlers + `,flatten"`
)

type readerIn struct {
	fx.In
	Reader *fxgroup.Reader `optional:"true"`
}

// requireReader is the check that an app built with registrations runs them.
func requireReader(what string) fx.Option {
	return fx.Invoke(func(in readerIn) error {
		if in.Reader == nil {
			return fmt.Errorf("%s: the app registers handlers but nothing runs them: add fxbus.Module to its fx.Options", what)
		}
		return nil
	})
}

// Provide puts the Registrations that constructors return into the handler
// value group, so that a handler is registered in one line of fx.Options:
//
//	handlers.Provide(NewAuditHandler)
//
// Each constructor is a function whose parameters fx supplies and which
// returns a Registration or a []Registration, optionally followed by an
// error. Anything else makes the app fail to build with an error that says
// what was wrong. For parameter tags, annotate yourself:
// fx.Provide(fx.Annotate(ctor, fx.ParamTags(...), fx.ResultTags(`group:"fxbus.handlers"`))).
func Provide(constructors ...any) fx.Option {
	opts := make([]fx.Option, 0, len(constructors))
	for i, ctor := range constructors {
		tag, err := registrationTag(ctor)
		if err != nil {
			opts = append(opts, fx.Error(fmt.Errorf("handlers.Provide: constructor %d of %d: %w", i+1, len(constructors), err)))
			continue
		}
		opts = append(opts, fx.Provide(fx.Annotate(ctor, fx.ResultTags(tag))))
	}
	opts = append(opts, requireReader("handlers.Provide"))
	return fx.Options(opts...)
}

// registrationTag checks that ctor returns registrations and returns the
// result tag that puts them in the group.
func registrationTag(ctor any) (string, error) {
	t := reflect.TypeOf(ctor)
	if t == nil || t.Kind() != reflect.Func {
		return "", fmt.Errorf("%T is not a function: pass a constructor that returns handlers.Registration or []handlers.Registration", ctor)
	}
	if reflect.ValueOf(ctor).IsNil() {
		return "", fmt.Errorf("the constructor is a nil %s", t)
	}
	if n := t.NumOut(); n == 0 || n > 2 || (n == 2 && t.Out(1) != errorType) {
		return "", fmt.Errorf("%s must return (handlers.Registration) or ([]handlers.Registration), optionally followed by an error", t)
	}
	switch t.Out(0) {
	case registrationType:
		return groupTag, nil
	case registrationsType:
		return flattenTag, nil
	}
	return "", fmt.Errorf("%s returns %s, not handlers.Registration or []handlers.Registration: wrap the handler with handlers.Register, or use handlers.ProvideHandler", t, t.Out(0))
}

// Supply puts ready Registrations into the handler value group, for handlers
// without dependencies:
//
//	handlers.Supply(handlers.RegisterFunc("orders.created", logOrder))
func Supply(regs ...Registration) fx.Option {
	vals := make([]any, 0, len(regs))
	for _, r := range regs {
		vals = append(vals, fx.Annotated{Group: fxgroup.Handlers, Target: r})
	}
	return fx.Options(fx.Supply(vals...), requireReader("handlers.Supply"))
}

// ProvideHandler registers the handler that ctor builds for topic, so that a
// struct handler with dependencies needs no constructor of its own:
//
//	handlers.ProvideHandler[Order]("orders.created", NewAudit, handlers.Retry(3))
//
// where NewAudit(db *DB) *Audit, and *Audit has a method
// Handle(context.Context, Order) error. ctor's parameters are supplied by fx;
// it returns a Handler[T] (or a func(context.Context, T) error), optionally
// followed by an error. The registration's source is ctor.
func ProvideHandler[T any](topic string, ctor any, opts ...bus.SubscribeOption) fx.Option {
	fn, err := handlerConstructor[T](topic, ctor, opts)
	if err != nil {
		return fx.Error(fmt.Errorf("handlers.ProvideHandler[%s](%s): %w", reflect.TypeFor[T](), quote.String(topic), err))
	}
	return fx.Options(
		fx.Provide(fx.Annotate(fn, fx.ResultTags(groupTag))),
		requireReader(fmt.Sprintf("handlers.ProvideHandler[%s](%s)", reflect.TypeFor[T](), quote.String(topic))),
	)
}

// handlerConstructor returns a function with ctor's parameters that calls
// ctor and registers its result.
func handlerConstructor[T any](topic string, ctor any, opts []bus.SubscribeOption) (any, error) {
	want := reflect.TypeFor[T]()
	t := reflect.TypeOf(ctor)
	if t == nil || t.Kind() != reflect.Func {
		return nil, fmt.Errorf("%T is not a function: pass a constructor that returns a handlers.Handler[%s]", ctor, want)
	}
	cv := reflect.ValueOf(ctor)
	if cv.IsNil() {
		return nil, fmt.Errorf("the constructor is a nil %s", t)
	}
	if n := t.NumOut(); n == 0 || n > 2 || (n == 2 && t.Out(1) != errorType) {
		return nil, fmt.Errorf("%s must return a handlers.Handler[%s], optionally followed by an error", t, want)
	}
	out := t.Out(0)
	fnType := reflect.TypeFor[func(context.Context, T) error]()
	if !out.Implements(reflect.TypeFor[Handler[T]]()) && !out.ConvertibleTo(fnType) {
		return nil, fmt.Errorf("%s returns %s, which has no method Handle(context.Context, %s) error", t, out, want)
	}
	at := source.Func(cv.Pointer())
	ins := make([]reflect.Type, t.NumIn())
	for i := range ins {
		ins[i] = t.In(i)
	}
	ft := reflect.FuncOf(ins, []reflect.Type{registrationType, errorType}, t.IsVariadic())
	fn := reflect.MakeFunc(ft, func(args []reflect.Value) []reflect.Value {
		var res []reflect.Value
		if t.IsVariadic() {
			res = cv.CallSlice(args)
		} else {
			res = cv.Call(args)
		}
		if len(res) == 2 && !res[1].IsNil() {
			return []reflect.Value{reflect.Zero(registrationType), res[1]}
		}
		var h Handler[T]
		switch v := res[0]; {
		case v.Type().Implements(reflect.TypeFor[Handler[T]]()):
			if !isNilValue(v) {
				h = v.Interface().(Handler[T])
			}
		default:
			if !isNilValue(v) {
				h = Func[T](v.Convert(fnType).Interface().(func(context.Context, T) error))
			}
		}
		reg := newRegistration(topic, h, opts, at)
		if err := reg.Err(); err != nil {
			// Fail the app's construction, not only its start.
			return []reflect.Value{reflect.Zero(registrationType), reflect.ValueOf(&err).Elem()}
		}
		return []reflect.Value{reflect.ValueOf(reg), reflect.Zero(errorType)}
	})
	return fn.Interface(), nil
}

func isNilValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Func, reflect.Map, reflect.Chan, reflect.Slice, reflect.Interface:
		return v.IsNil()
	}
	return false
}
