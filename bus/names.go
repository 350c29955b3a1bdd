package bus

import (
	"fmt"
	"strconv"
	"strings"
)

// maxNameLen bounds topic names and patterns; NATS itself accepts longer
// subjects, but a name this long is almost always a bug (an ID or a payload
// that ended up in the name).
const maxNameLen = 255

// NameError reports a topic name or subscription pattern that breaks the
// naming rules. Names are NATS subjects: tokens of ASCII letters, digits, '-'
// and '_', separated by '.'. Patterns may also use '*' for one whole token and
// '>' for the rest of the name as their last token.
type NameError struct {
	Name    string // the name as given
	Pattern bool   // true when the name was given as a subscription pattern
	Reason  string // what is wrong with it
}

// Error quotes the name, says what is wrong and gives the rules.
func (e *NameError) Error() string {
	kind := "topic name"
	rules := "use tokens of letters, digits, '-' and '_' separated by '.', like \"orders.created\""
	if e.Pattern {
		kind = "pattern"
		rules += "; '*' matches one token and '>' the rest"
	}
	return fmt.Sprintf("bus: invalid %s %s: %s (%s)", kind, quote(e.Name), e.Reason, rules)
}

// maxQuote bounds how much of a rejected input an error message quotes.
const maxQuote = 64

// quote returns s quoted, cut to maxQuote bytes with the full length said,
// so that an error about a megabyte of input stays readable.
func quote(s string) string {
	if len(s) <= maxQuote {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:maxQuote]), len(s))
}

// ValidateTopic reports whether name is a valid topic name: no wildcards.
func ValidateTopic(name string) error { return validate(name, false) }

// ValidatePattern reports whether p is a valid subscription pattern: a topic
// name whose tokens may be '*', and whose last token may be '>'.
func ValidatePattern(p string) error { return validate(p, true) }

func validate(name string, pattern bool) error {
	bad := func(format string, args ...any) error {
		return &NameError{Name: name, Pattern: pattern, Reason: fmt.Sprintf(format, args...)}
	}
	if name == "" {
		return bad("it is empty")
	}
	if len(name) > maxNameLen {
		return bad("it is %d bytes long, the limit is %d", len(name), maxNameLen)
	}
	tok, start := 1, 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && name[i] != '.' {
			continue
		}
		t := name[start:i]
		switch {
		case t == "":
			return bad("token %d is empty", tok)
		case t == "*" || t == ">":
			if !pattern {
				return bad("token %d is the wildcard %q, which only subscriptions may use", tok, t)
			}
			if t == ">" && i != len(name) {
				return bad("'>' must be the last token, but token %d is '>'", tok)
			}
		default:
			for j := 0; j < len(t); j++ {
				if !tokenByte(t[j]) {
					return bad("token %d (%s) contains %q", tok, quote(t), rune(t[j]))
				}
			}
		}
		tok++
		start = i + 1
	}
	return nil
}

func tokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// IsPattern reports whether a valid name contains a wildcard token ('*' or
// '>'), so that it names many topics rather than one. It is the one place the
// project's packages decide this.
func IsPattern(name string) bool { return strings.ContainsAny(name, "*>") }

// Match reports whether the topic name matches pattern. Both are assumed valid
// (see ValidateTopic and ValidatePattern); a pattern without wildcards matches
// only the equal name. Match does not allocate.
func Match(pattern, name string) bool {
	for {
		pi := strings.IndexByte(pattern, '.')
		ni := strings.IndexByte(name, '.')
		pt, nt := pattern, name
		if pi >= 0 {
			pt = pattern[:pi]
		}
		if ni >= 0 {
			nt = name[:ni]
		}
		if pt == ">" {
			return true // '>' is last and needs at least one token, which name has
		}
		if pt != "*" && pt != nt {
			return false
		}
		switch {
		case pi < 0 && ni < 0:
			return true
		case pi < 0 || ni < 0:
			return false
		}
		pattern, name = pattern[pi+1:], name[ni+1:]
	}
}
