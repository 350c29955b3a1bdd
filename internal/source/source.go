// Package source names code for error messages and default names: a
// function as "pkg.Func", a place as "pkg.Func (file.go:12)", a type as
// reflect prints it. It is the one copy of these helpers for the project's
// packages but bus, which imports only the standard library.
package source

import (
	"fmt"
	"reflect"
	"runtime"
	"strings"
)

// Caller returns where the caller of the function that calls Caller is:
// "pkg.Func (file.go:12)", or "an unknown caller". skip counts further
// frames to pass over, 0 for none.
func Caller(skip int) string {
	var pc [1]uintptr
	if runtime.Callers(3+skip, pc[:]) == 0 {
		return "an unknown caller"
	}
	f, _ := runtime.CallersFrames(pc[:]).Next()
	return fmt.Sprintf("%s (%s:%d)", Short(f.Function), base(f.File), f.Line)
}

// Func returns where the function at pc is defined, as Caller does, or "?".
func Func(pc uintptr) string {
	f := runtime.FuncForPC(pc)
	if f == nil {
		return "?"
	}
	file, line := f.FileLine(f.Entry())
	return fmt.Sprintf("%s (%s:%d)", Short(f.Name()), base(file), line)
}

// FuncName returns the short name of the function at pc ("pkg.Func"), or
// "func".
func FuncName(pc uintptr) string {
	if fn := runtime.FuncForPC(pc); fn != nil {
		return Short(fn.Name())
	}
	return "func"
}

// Short cuts a full function name to its last path element, without the
// "-fm" suffix of method values: "github.com/a/b.(*T).M-fm" is "b.(*T).M".
func Short(name string) string {
	return strings.TrimSuffix(base(name), "-fm")
}

// TypeName returns T as reflect prints it, like "orders.Placed".
func TypeName[T any]() string { return reflect.TypeFor[T]().String() }

func base(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
