package bus

import (
	"errors"
	"strings"
	"testing"
)

// FuzzValidate checks the name rules on any input: validation never panics,
// errors are *NameErrors that quote the input, every valid topic name is a
// valid pattern that matches itself, and patterns without wildcards behave
// like topic names.
func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"", ".", "a", "orders.created", "a..b", "a.", "*", ">", "a.*", "a.>",
		"a.>.b", "*.*.>", "a b", "a\x00b", "ö.b", "a-b_c.D9", strings.Repeat("x.", 128),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terr, perr := ValidateTopic(s), ValidatePattern(s)
		for _, err := range []error{terr, perr} {
			if err == nil {
				continue
			}
			var ne *NameError
			if !errors.As(err, &ne) || ne.Name != s || ne.Reason == "" {
				t.Fatalf("%q: error %v (%T) is not a *NameError for the input", s, err, err)
			}
		}
		if terr == nil {
			if perr != nil {
				t.Fatalf("%q is a valid topic name but not a valid pattern: %v", s, perr)
			}
			if IsPattern(s) {
				t.Fatalf("%q is a valid topic name but isPattern says it has wildcards", s)
			}
			if !Match(s, s) {
				t.Fatalf("Match(%q, %q) = false", s, s)
			}
			if s == "" || len(s) > maxNameLen || strings.Contains(s, "..") || s[0] == '.' || s[len(s)-1] == '.' {
				t.Fatalf("%q accepted as a topic name", s)
			}
			for i := 0; i < len(s); i++ {
				if s[i] != '.' && !tokenByte(s[i]) {
					t.Fatalf("%q accepted with byte %q", s, s[i])
				}
			}
		}
		if perr == nil && !IsPattern(s) && terr != nil {
			t.Fatalf("%q is a valid pattern without wildcards but not a valid topic name: %v", s, terr)
		}
		if perr == nil {
			// '>' may only be the last token, '*' and '>' only whole tokens.
			toks := strings.Split(s, ".")
			for i, tok := range toks {
				if strings.Contains(tok, ">") && (tok != ">" || i != len(toks)-1) {
					t.Fatalf("%q accepted with token %q at %d", s, tok, i)
				}
				if strings.Contains(tok, "*") && tok != "*" {
					t.Fatalf("%q accepted with token %q", s, tok)
				}
			}
		}
	})
}

// FuzzMatch compares Match with matchRef, a plain split on '.', for every
// valid pattern and topic name. Match must not panic on invalid input either.
func FuzzMatch(f *testing.F) {
	for _, p := range [][2]string{
		{"a", "a"}, {"a.*", "a.b"}, {"a.>", "a"}, {">", "a.b.c"}, {"*.b", "a.b"},
		{"*", "a.b"}, {"a.*.c", "a.b.c"}, {"a.b", "a.b.c"}, {"ab", "a"}, {"a..b", "a.b"},
	} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := Match(pattern, name) // must not panic, whatever the input
		if ValidatePattern(pattern) != nil || ValidateTopic(name) != nil {
			return
		}
		if want := matchRef(pattern, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", pattern, name, got, want)
		}
		if !IsPattern(pattern) && got != (pattern == name) {
			t.Fatalf("Match(%q, %q) = %v for a pattern without wildcards", pattern, name, got)
		}
	})
}
