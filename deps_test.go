package fxbus_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/fxbus/fxbus"

// layer ranks the module's packages: a package may import only packages of
// a lower layer (examples → fxbus → lifecycle → handlers → bus; metrics →
// bus), so that nothing imports a package above it. The internal packages
// sit just above bus, which imports none of them.
var layer = map[string]int{
	"bus":                 0,
	"internal/quote":      1,
	"internal/source":     1,
	"internal/fxgroup":    1,
	"internal/decl":       2,
	"internal/broker":     2,
	"internal/observe":    2,
	"handlers":            3,
	"metrics":             3,
	"lifecycle":           4,
	"":                    5, // the root, fxbus
	"fxtest":              6,
	"natsbridge":          6,
	"otelfxbus":           6,
	"examples/app":        7,
	"examples/busonly":    7,
	"examples/quickstart": 7,
	"examples":            7,
	"torture":             7,
}

// golist runs go list on the module's packages with format and returns its
// lines.
func golist(t *testing.T, args ...string) []string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to run go list")
	}
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestBusImportsOnlyTheStandardLibrary: package bus, with everything it
// depends on, is the standard library only.
func TestBusImportsOnlyTheStandardLibrary(t *testing.T) {
	for _, l := range golist(t, "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "./bus") {
		path, std, _ := strings.Cut(l, " ")
		if std != "true" && path != module+"/bus" {
			t.Errorf("package bus depends on %s, which is not in the standard library", path)
		}
	}
}

// TestPackageDirections: every import between the module's packages goes
// down the layers; the root imports neither fx's fxtest nor the optional
// packages; metrics does not import handlers or lifecycle.
func TestPackageDirections(t *testing.T) {
	lines := golist(t, "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...")
	if len(lines) < len(layer)/2 {
		t.Fatalf("go list found %d packages: %q", len(lines), lines)
	}
	for _, l := range lines {
		fields := strings.Fields(l)
		from := rel(fields[0])
		fromLayer, ok := layer[from]
		if !ok {
			t.Errorf("package %s has no layer in deps_test.go: add it", fields[0])
			continue
		}
		for _, imp := range fields[1:] {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := rel(imp)
			toLayer, ok := layer[to]
			if !ok {
				t.Errorf("%s imports %s, which has no layer in deps_test.go", fields[0], imp)
				continue
			}
			if toLayer >= fromLayer {
				t.Errorf("%s imports %s: a package may import only packages below it (examples → fxbus → lifecycle → handlers → bus; metrics → bus)", name(from), name(to))
			}
		}
	}
}

// TestRootAndLayersLeaveOutOptionalDeps: the root does not pull in NATS or
// OpenTelemetry; lifecycle imports neither fx nor Prometheus itself (the fx
// glue is the root's); metrics depends on neither fx, zap nor handlers.
func TestRootAndLayersLeaveOutOptionalDeps(t *testing.T) {
	for _, tc := range []struct {
		pkg    string
		direct bool // only the package's own imports, not what they import
		banned []string
	}{
		{".", false, []string{"github.com/nats-io/", "go.opentelemetry.io/", module + "/natsbridge", module + "/otelfxbus", module + "/fxtest"}},
		{"./lifecycle", true, []string{"go.uber.org/fx", "github.com/prometheus/", module + "/metrics"}},
		{"./lifecycle", false, []string{"github.com/prometheus/", module + "/metrics"}},
		{"./metrics", false, []string{"go.uber.org/fx", "go.uber.org/zap", module + "/handlers", module + "/lifecycle"}},
	} {
		args := []string{"-deps", tc.pkg}
		if tc.direct {
			args = []string{"-f", "{{range .Imports}}{{.}}\n{{end}}", tc.pkg}
		}
		deps := golist(t, args...)
		for _, b := range tc.banned {
			if i := slices.IndexFunc(deps, func(d string) bool { return d == b || strings.HasPrefix(d, b) }); i >= 0 {
				t.Errorf("%s depends on %s", tc.pkg, deps[i])
			}
		}
	}
}

func rel(path string) string {
	if path == module {
		return ""
	}
	return strings.TrimPrefix(path, module+"/")
}

func name(rel string) string {
	if rel == "" {
		return "fxbus"
	}
	return rel
}
