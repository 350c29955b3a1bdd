package quote

import (
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestString(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", `""`},
		{"short", "orders.placed", `"orders.placed"`},
		{"control characters", "a\nb", `"a\nb"`},
		{"exactly Max", strings.Repeat("b", Max), `"` + strings.Repeat("b", Max) + `"`},
		{"1 MiB", long, `"` + strings.Repeat("a", Max) + `"… (1048576 bytes)`},
		// "é" is two bytes: cutting at Max would split the one that straddles it.
		{"no split rune", "a" + strings.Repeat("é", Max), `"a` + strings.Repeat("é", (Max-1)/2) + `"… (129 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestValue(t *testing.T) {
	type order struct{ ID string }
	if got, want := Value(order{"a"}), "{ID:a}"; got != want {
		t.Errorf("Value = %s, want %s", got, want)
	}
	got := Value(order{strings.Repeat("x", 10_000)})
	if want := "{ID:" + strings.Repeat("x", Max-4) + "… (10005 bytes)"; got != want {
		t.Errorf("Value of a long value = %s, want %s", got, want)
	}
}
