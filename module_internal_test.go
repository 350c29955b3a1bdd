package fxbus

import (
	"reflect"
	"testing"

	"github.com/fxbus/fxbus/handlers"
)

// Struct tags must be literals: check that the module's handler group is the
// one handlers.Group names.
func TestHandlerGroupTag(t *testing.T) {
	f, ok := reflect.TypeFor[runIn]().FieldByName("Handlers")
	if !ok {
		t.Fatal("runIn has no Handlers field")
	}
	if got, want := f.Tag.Get("group"), handlers.Group; got != want {
		t.Errorf("runIn.Handlers is in group %q, handlers.Group is %q", got, want)
	}
	f, _ = reflect.TypeFor[runIn]().FieldByName("Topics")
	if got := f.Tag.Get("group"); got != topicGroup {
		t.Errorf("runIn.Topics is in group %q, Topic supplies %q", got, topicGroup)
	}
	f, _ = reflect.TypeFor[configIn]().FieldByName("Configure")
	if got := f.Tag.Get("group"); got != configGroup {
		t.Errorf("configIn.Configure is in group %q, Configure supplies %q", got, configGroup)
	}
}
