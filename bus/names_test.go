package bus

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopic(t *testing.T) {
	long := strings.Repeat("a", maxNameLen+1)
	tests := []struct {
		name   string
		reason string // substring of the error's reason; "" when valid
	}{
		{name: "orders"},
		{name: "orders.created"},
		{name: "a.b-c.d_e.F9"},
		{name: strings.Repeat("a", maxNameLen)},
		{name: "", reason: "it is empty"},
		{name: ".", reason: "token 1 is empty"},
		{name: "a..b", reason: "token 2 is empty"},
		{name: "a.", reason: "token 2 is empty"},
		{name: ".a", reason: "token 1 is empty"},
		{name: "a b", reason: `contains ' '`},
		{name: "orders.créé", reason: "token 2"},
		{name: "a/b", reason: `contains '/'`},
		{name: "a.*", reason: `token 2 is the wildcard "*", which only subscriptions may use`},
		{name: ">", reason: `token 1 is the wildcard ">"`},
		{name: "a*", reason: `contains '*'`},
		{name: long, reason: "the limit is 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTopic(tt.name)
			checkNameErr(t, err, tt.name, false, tt.reason)
		})
	}
}

func TestValidatePattern(t *testing.T) {
	tests := []struct {
		name   string
		reason string
	}{
		{name: "orders"},
		{name: "*"},
		{name: ">"},
		{name: "orders.*"},
		{name: "*.created"},
		{name: "orders.>"},
		{name: "*.*.>"},
		{name: "", reason: "it is empty"},
		{name: "orders.>.x", reason: "'>' must be the last token, but token 2 is '>'"},
		{name: ">.x", reason: "'>' must be the last token"},
		{name: "a.**", reason: `contains '*'`},
		{name: "a.b>", reason: `contains '>'`},
		{name: "a..>", reason: "token 2 is empty"},
		{name: "a.*.", reason: "token 3 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNameErr(t, ValidatePattern(tt.name), tt.name, true, tt.reason)
		})
	}
}

// checkNameErr checks that err is nil when reason is empty, and otherwise a
// *NameError that quotes name and gives reason.
func checkNameErr(t *testing.T, err error, name string, pattern bool, reason string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("%q: unexpected error %v", name, err)
		}
		return
	}
	var ne *NameError
	if !errors.As(err, &ne) {
		t.Fatalf("%q: got %v (%T), want a *NameError", name, err, err)
	}
	if ne.Name != name || ne.Pattern != pattern {
		t.Errorf("NameError{Name: %q, Pattern: %v}, want {%q, %v}", ne.Name, ne.Pattern, name, pattern)
	}
	if !strings.Contains(ne.Reason, reason) {
		t.Errorf("reason %q does not say %q", ne.Reason, reason)
	}
	msg := err.Error()
	if !strings.Contains(msg, quote(name)) {
		t.Errorf("error %q does not quote the name", msg)
	}
	if !strings.Contains(msg, ne.Reason) {
		t.Errorf("error %q does not give the reason", msg)
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a", "a.b", false},
		{"a.b", "a", false},
		{"a.b", "a.b", true},
		{"*", "a", true},
		{"*", "a.b", false},
		{"a.*", "a.b", true},
		{"a.*", "a", false},
		{"a.*", "a.b.c", false},
		{"*.b", "a.b", true},
		{"*.b", "a.c", false},
		{"*.*", "a.b", true},
		{">", "a", true},
		{">", "a.b.c", true},
		{"a.>", "a", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"a.>", "b.c", false},
		{"*.>", "a.b", true},
		{"*.>", "a", false},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{"ab", "a", false},
		{"a", "ab", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
		if got := matchRef(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchRef(%q, %q) = %v, want %v (the reference is wrong)", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Match("a.*.>", "a.b.c.d") }); n != 0 {
		t.Errorf("Match allocates %v times per call", n)
	}
}

// matchRef is the reference for Match: split both on '.' and compare token
// by token.
func matchRef(pattern, name string) bool {
	p, n := strings.Split(pattern, "."), strings.Split(name, ".")
	for i, pt := range p {
		if pt == ">" {
			return i == len(p)-1 && len(n) > i
		}
		if i >= len(n) {
			return false
		}
		if pt != "*" && pt != n[i] {
			return false
		}
	}
	return len(p) == len(n)
}

// TestNameErrorCutsLongInput: an error about a megabyte of input quotes only
// its start, and says how long it was.
func TestNameErrorCutsLongInput(t *testing.T) {
	name := strings.Repeat("x", 1<<20)
	msg := ValidateTopic(name).Error()
	if len(msg) > 400 || !strings.Contains(msg, "1048576 bytes") {
		t.Errorf("error of %d bytes for a 1 MiB name, want a short one that gives the length: %.200s", len(msg), msg)
	}
}
