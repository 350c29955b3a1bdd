package benchmarks

import (
	"testing"

	"go.uber.org/goleak"
)

// Every implementation's goroutines must be gone once its row is done: each
// setup closes what it started in a cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
