// Package quote quotes what an error rejects, cut to a length a reader can
// take in: an error about a 1 MiB topic name shows its first bytes and says
// how long it was, instead of the whole megabyte.
package quote

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Max is how many bytes of the input String and Value show.
const Max = 64

// String returns s quoted as %q quotes it. A longer s is cut at a rune
// boundary after at most Max bytes and followed by its length:
// "orders.aaaa"… (1048576 bytes).
func String(s string) string {
	if len(s) <= Max {
		return strconv.Quote(s)
	}
	return strconv.Quote(cut(s)) + fmt.Sprintf("… (%d bytes)", len(s))
}

// Value formats v as %+v does, cut like String (without the quotes).
func Value(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) <= Max {
		return s
	}
	return cut(s) + fmt.Sprintf("… (%d bytes)", len(s))
}

// cut returns the longest prefix of s of at most Max bytes that does not
// split a rune.
func cut(s string) string {
	n := Max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
