package examples

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// region returns the text of src from the first from to the first to after
// it (to included), or to the end when to is "".
func region(t *testing.T, src, from, to string) string {
	t.Helper()
	i := strings.Index(src, from)
	if i < 0 {
		t.Fatalf("%q not found", from)
	}
	if to == "" {
		return src[i:]
	}
	j := strings.Index(src[i:], to)
	if j < 0 {
		t.Fatalf("%q not found after %q", to, from)
	}
	return src[i : i+j+len(to)]
}

// dedent removes one leading tab from every line.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n")
}

// TestREADMEShowsTheCode checks that every piece of code README.md shows is,
// character for character, code that compiles and runs in this repository.
func TestREADMEShowsTheCode(t *testing.T) {
	readme := readFile(t, "../README.md")
	tests := []struct {
		name     string
		file     string
		from, to string
		dedent   bool
	}{
		{"quickstart", "quickstart/main.go", "type OrderPlaced", "", false},
		{"bus on its own", "busonly/example_test.go", "type Order struct", "", false},
		{"ExampleModule", "../example_test.go", "// Order and Shipment are", "// store: closed with 3 orders, 3 shipments, 3 audited\n}\n", false},
		{"the email handler", "app/handlers.go", "func (m *mailer) Handle", "\n}\n", false},
		{"the email registration", "app/handlers.go", "func newEmail", "\n}\n", false},
		{"the dead-letter handler", "app/handlers.go", "func newDeadLetters", "\n}\n", false},
		{"testing with fxtest", "app/app_test.go", "func startApp(", "\n}\n", false},
		{"tracing", "app/trace.go", "return fx.Options(\n\t\totelfxbus.Module,", "\n\t)\n", true},
		{"fxtest example", "../fxtest/example_test.go", "func TestValidator(", "\n}\n", false},
		{"metrics table", "../metrics/METRICS.md", "| name ", "\n\n", false},
		{"labels table", "../metrics/METRICS.md", "| label | values |", "\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := region(t, readFile(t, tt.file), tt.from, tt.to)
			if tt.dedent {
				want = dedent(want)
			}
			want = strings.TrimRight(want, "\n")
			if !strings.Contains(readme, want) {
				t.Errorf("README.md does not show %s as it is in %s:\n%s", tt.name, tt.file, want)
			}
		})
	}
	for _, cmd := range []string{"go run ./examples/app", "go test -race ./...", "go get github.com/fxbus/fxbus"} {
		if !strings.Contains(readme[:min(len(readme), 1500)], cmd) {
			t.Errorf("README.md does not give %q near the top", cmd)
		}
	}
	ci := readFile(t, "../.ci/run")
	if !strings.Contains(ci, "\ngo test -race ./...\n") {
		t.Errorf(".ci/run does not run the README's test command")
	}
}

// api is the exported API of the repository's packages: "pkg.Name" and
// "Type.Member" (methods and struct fields).
type api struct {
	names   map[string]bool // "bus.Topic"
	members map[string]bool // "Topic.Publish", "Config.Synchronous"
	types   map[string]bool // "Topic"
}

func loadAPI(t *testing.T) api {
	t.Helper()
	a := api{names: map[string]bool{}, members: map[string]bool{}, types: map[string]bool{}}
	pkgs := map[string]string{"fxbus": "..", "bus": "../bus", "handlers": "../handlers",
		"lifecycle": "../lifecycle", "metrics": "../metrics", "fxtest": "../fxtest", "otelfxbus": "../otelfxbus"}
	fset := token.NewFileSet()
	for pkg, dir := range pkgs {
		entries, err := os.ReadDir(dir)
		if os.IsNotExist(err) {
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil {
						a.names[pkg+"."+d.Name.Name] = true
						continue
					}
					a.members[recvType(d.Recv.List[0].Type)+"."+d.Name.Name] = true
				case *ast.GenDecl:
					for _, s := range d.Specs {
						switch s := s.(type) {
						case *ast.TypeSpec:
							a.names[pkg+"."+s.Name.Name] = true
							a.types[s.Name.Name] = true
							if st, ok := s.Type.(*ast.StructType); ok {
								for _, f := range st.Fields.List {
									for _, n := range f.Names {
										a.members[s.Name.Name+"."+n.Name] = true
									}
								}
							}
						case *ast.ValueSpec:
							for _, n := range s.Names {
								a.names[pkg+"."+n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	return a
}

func recvType(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StarExpr:
		return recvType(e.X)
	case *ast.IndexExpr:
		return recvType(e.X)
	case *ast.IndexListExpr:
		return recvType(e.X)
	case *ast.Ident:
		return e.Name
	}
	return ""
}

var (
	qualified = regexp.MustCompile(`\b(fxbus|bus|handlers|lifecycle|metrics|fxtest|otelfxbus)\.([A-Z]\w*)(?:\[[^\]]*\])?(?:\.([A-Z]\w*))?`)
	member    = regexp.MustCompile("`([A-Z]\\w*)\\.([A-Z]\\w*)")
)

// TestREADMENamesExist checks that every fxbus API name README.md mentions
// exists: a renamed function fails this test instead of misleading a reader.
func TestREADMENamesExist(t *testing.T) {
	readme := readFile(t, "../README.md")
	a := loadAPI(t)
	var missing []string
	for _, m := range qualified.FindAllStringSubmatch(readme, -1) {
		if !a.names[m[1]+"."+m[2]] {
			missing = append(missing, m[0])
		} else if m[3] != "" && !a.members[m[2]+"."+m[3]] {
			missing = append(missing, m[0])
		}
	}
	for _, m := range member.FindAllStringSubmatch(readme, -1) {
		if a.types[m[1]] && !a.members[m[1]+"."+m[2]] {
			missing = append(missing, m[1]+"."+m[2])
		}
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	if len(missing) > 0 {
		t.Errorf("README.md mentions names that do not exist: %s", strings.Join(missing, ", "))
	}
	if n := len(qualified.FindAllString(readme, -1)); n < 50 {
		t.Errorf("found only %d qualified names in README.md; is the pattern broken?", n)
	}
}
