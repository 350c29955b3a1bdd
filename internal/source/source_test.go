package source

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func where() string { return Caller(0) }

func TestCaller(t *testing.T) {
	if got := where(); !strings.HasPrefix(got, "source.TestCaller (source_test.go:") {
		t.Errorf("Caller(0) = %q, want the caller of where", got)
	}
}

type T struct{}

func (T) M() {}

func TestNames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"github.com/a/b.(*T).M-fm", "b.(*T).M"},
		{"main.main", "main.main"},
		{"a/b/c.F.func1", "c.F.func1"},
	} {
		if got := Short(tc.in); got != tc.want {
			t.Errorf("Short(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := TypeName[map[string]T](); got != "map[string]source.T" {
		t.Errorf("TypeName = %q", got)
	}
	if got := FuncName(0); got != "func" {
		t.Errorf("FuncName(0) = %q, want func", got)
	}
	if got := Func(0); got != "?" {
		t.Errorf("Func(0) = %q, want ?", got)
	}
}
