package fxbus

import (
	"context"
	"reflect"
	"testing"

	"github.com/fxbus/fxbus/bus"
	"github.com/fxbus/fxbus/internal/fxgroup"
	"github.com/fxbus/fxbus/lifecycle"
)

// Struct tags must be literals: check that the module's handler group is the
// one fxgroup.Handlers names.
func TestHandlerGroupTag(t *testing.T) {
	f, ok := reflect.TypeFor[runIn]().FieldByName("Handlers")
	if !ok {
		t.Fatal("runIn has no Handlers field")
	}
	if got, want := f.Tag.Get("group"), fxgroup.Handlers; got != want {
		t.Errorf("runIn.Handlers is in group %q, fxgroup.Handlers is %q", got, want)
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

func TestConfigDefaultsApplyToSubscriptions(t *testing.T) {
	b, err := NewBus(Config{DefaultBuffer: 3, DefaultPolicy: bus.DropOldest()}, bus.WithHooks(lifecycle.NewLog(nil).Hooks()))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	s, err := bus.Subscribe[int](context.Background(), b, "defaults.applied", bus.Name("s"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Subscribe[int](context.Background(), b, "defaults.applied", bus.Name("own"), bus.Buffer(1), bus.WithPolicy(bus.DropNewest())); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, st := range b.Stats().Subscriptions {
		switch st.Name {
		case "s":
			found++
			if st.Buffer != 3 || st.Policy != bus.DropOldest() {
				t.Errorf("default subscription: buffer %d policy %s, want 3 drop-oldest", st.Buffer, st.Policy)
			}
		case "own":
			found++
			if st.Buffer != 1 || st.Policy != bus.DropNewest() {
				t.Errorf("own options: buffer %d policy %s, want 1 drop-newest", st.Buffer, st.Policy)
			}
		}
	}
	if found != 2 {
		t.Errorf("found %d of the 2 subscriptions in Stats", found)
	}
	if s.Pattern() != "defaults.applied" {
		t.Errorf("pattern %q", s.Pattern())
	}
}

func TestConfigRejectsBadDefaults(t *testing.T) {
	for _, c := range []Config{{DefaultBuffer: -1}, {DefaultPolicy: bus.DisconnectAfter(0)}} {
		if _, err := NewBus(c); err == nil {
			t.Errorf("NewBus(%+v): no error", c)
		}
	}
}
