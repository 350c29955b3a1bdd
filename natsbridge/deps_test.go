package natsbridge_test

import (
	"os/exec"
	"strings"
	"testing"
)

// No package of the module but natsbridge and the example programs imports
// nats code: an app that uses only the in-process bus never compiles it.
func TestNoOtherPackageDependsOnNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-e", "-f", "{{.ImportPath}}", "github.com/fxbus/fxbus/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []string
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "github.com/fxbus/fxbus/natsbridge") && !strings.HasPrefix(p, "github.com/fxbus/fxbus/examples/") {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		t.Fatal("go list found no package")
	}
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)
	deps, err := exec.Command("go", args...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, d := range strings.Fields(string(deps)) {
		if strings.HasPrefix(d, "github.com/nats-io/") || strings.HasPrefix(d, "github.com/fxbus/fxbus/natsbridge") {
			t.Errorf("%s is a dependency of the module's other packages (%s)", d, strings.Join(pkgs, " "))
		}
	}
}
