package torture

import (
	"flag"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// loadDuration is how long TestLoad runs in all, shared between its
// GOMAXPROCS subtests.
var loadDuration = flag.Duration("torture.duration", 20*time.Second,
	"how long TestLoad runs in all, shared between its GOMAXPROCS subtests (3s with -short unless set)")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// flagSet reports whether the flag called name was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
