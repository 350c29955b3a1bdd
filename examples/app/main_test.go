package main

import (
	"os"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// runMainEnv makes the test binary run main instead of the tests, with the
// flags in argsEnv, so that a test can start the real program and send it a
// signal.
const (
	runMainEnv = "FXBUS_EXAMPLE_APP_RUN_MAIN"
	argsEnv    = "FXBUS_EXAMPLE_APP_ARGS"
)

func flagArgs() []string { return strings.Fields(os.Getenv(argsEnv)) }

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Args = append(os.Args[:1], flagArgs()...)
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
