// Package decl is a topic declaration as it travels from fxbus.Topic to
// lifecycle.Runner: a name, its message type and where it was declared.
// Apps declare topics with fxbus.Topic, or with bus.NewTopic without fx.
package decl

import (
	"fmt"
	"reflect"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/quote"
)

// Declaration is a topic that an app declares: a name and its message type.
// fxbus.Topic puts one in the fx graph; lifecycle.Runner declares each on
// the bus at Start, and only handlers of declared topics may subscribe.
type Declaration struct {
	name    string
	typ     reflect.Type
	source  string
	declare func(*bus.Bus) error
}

// Declare returns the Declaration of the topic called name that carries T.
func Declare[T any](name string) Declaration {
	return Declaration{
		name: name,
		typ:  reflect.TypeFor[T](),
		declare: func(b *bus.Bus) error {
			_, err := bus.NewTopic[T](b, name)
			return err
		},
	}
}

// Name returns the topic's name.
func (d Declaration) Name() string { return d.name }

// Type returns the topic's message type.
func (d Declaration) Type() reflect.Type { return d.typ }

// WithSource returns d with where it was made (a function and its
// file:line), which errors about it then name; fxbus.Topic records its
// caller.
func (d Declaration) WithSource(source string) Declaration {
	d.source = source
	return d
}

// Source returns where the declaration was made, or "" if nobody said.
func (d Declaration) Source() string { return d.source }

// String describes the declaration as the code that makes it reads, and
// where that code is when known.
func (d Declaration) String() string {
	s := fmt.Sprintf("fxbus.Topic[%s](%s)", d.typ, quote.String(d.name))
	if d.source != "" {
		s += " in " + d.source
	}
	return s
}

// Declare declares the topic on b.
func (d Declaration) Declare(b *bus.Bus) error { return d.declare(b) }
