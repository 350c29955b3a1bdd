package fxtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"reflect"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/goleak"
)

// Each app labels the goroutines it may start with a runtime/pprof label of
// its own, "fxtest.app.N" = the test's name: New sets it on the goroutine
// that calls it, and goroutines inherit the labels of the goroutine that
// starts them, so the app's constructors and hooks, the bus's workers that
// the test's publishes start, and what handlers start all carry it. The leak
// check then looks only at the goroutines that carry its label: other
// apps, running in parallel tests, are not in its way, and nothing waits
// for them.
const labelPrefix = "fxtest.app."

// appSeq numbers the apps of the process, to make their labels unique.
var appSeq atomic.Uint64

// testLabels holds, per test name, the labels that the apps of that test set
// on its goroutine. A later app of the same test, or of a subtest, adds its
// label to them instead of replacing them (a goroutine's labels cannot be
// read back), so that a goroutine started after both carries both.
var testLabels sync.Map // test name → context.Context

// labels are the labels an app set on its test's goroutine, and those the
// goroutine had from fxtest before.
type labels struct {
	name          string
	before, after context.Context
	sameTest      bool // before holds labels of earlier apps of the same test
}

// labelGoroutine gives the calling goroutine, and the goroutines it starts
// from now on, the label of app seq of the test called name, beside the
// labels of the earlier apps of that test or of the tests that enclose it.
func labelGoroutine(name string, seq uint64) labels {
	l := labels{name: name, before: context.Background()}
	for n := name; ; {
		if c, ok := testLabels.Load(n); ok {
			l.before, l.sameTest = c.(context.Context), n == name
			break
		}
		i := strings.LastIndexByte(n, '/')
		if i < 0 {
			break
		}
		n = n[:i]
	}
	l.after = pprof.WithLabels(l.before, pprof.Labels(labelPrefix+strconv.FormatUint(seq, 10), name))
	pprof.SetGoroutineLabels(l.after)
	testLabels.Store(name, l.after)
	return l
}

// forget drops the app's labels from those of its test, once the app has
// stopped, unless a later app of the test added its own. The goroutines
// keep theirs.
func (l labels) forget() {
	if l.sameTest {
		testLabels.CompareAndSwap(l.name, l.after, l.before)
		return
	}
	testLabels.CompareAndDelete(l.name, l.after)
}

// undo gives the calling goroutine back the labels it had before New, for
// an app that did not start.
func (l labels) undo() {
	pprof.SetGoroutineLabels(l.before)
	l.forget()
}

// Goroutines that are no app's leak: those running a test (a subtest that
// started after New, say), and those stopping an fxtest app or checking it.
var (
	teardownFunc    = reflect.TypeFor[App]().PkgPath() + ".(*App).cleanup"
	ignoreTests     = goleak.IgnoreAnyFunction("testing.tRunner")
	ignoreTeardowns = goleak.IgnoreAnyFunction(teardownFunc)
)

// leakHint says what to do about goroutines that are not the test's fault.
const leakHint = "If one of them is started once per process by a library, ignore it with " +
	"fxtest.LeakCheck(goleak.IgnoreTopFunction(...)), or turn the check off with fxtest.NoLeakCheck()."

// checkLeaks runs after the app stopped: every goroutine that carries the
// app's label, and no label of an app made earlier (by this test or an
// enclosing one, which stops later and checks it then), is a leak, unless
// LeakCheck's options ignore it. goleak.Find looks, with its retries, while
// the goroutines that are not the app's are ignored by their top function.
func (a *App) checkLeaks() {
	own, others, err := a.findLeaks()
	if err != nil {
		a.tb.Errorf("fxtest: leak check: reading the goroutine profile: %v", err)
		return
	}
	if len(own) == 0 {
		if len(others) > 0 {
			a.tb.Logf("fxtest: leak check inconclusive: %d goroutine(s) started while the app ran may belong to %s, made earlier and still running; its own leak check covers them",
				len(others), describe(others))
		}
		return
	}
	opts := append([]goleak.Option{a.ignore, ignoreTests, ignoreTeardowns}, a.cfg.leakOpts...)
	opts = append(opts, a.ignoreOthers(own)...)
	found := goleak.Find(opts...)
	if found == nil {
		return // LeakCheck's options ignore them, or they ended meanwhile
	}
	if own, _, err := a.findLeaks(); err == nil && len(own) == 0 {
		return // what is left is another app's
	}
	a.tb.Errorf("fxtest: goroutines started while the app ran are still running after it stopped: %v\n%s", found, leakHint)
}

// ignoreOthers returns goleak options that ignore the goroutines running
// now that are not the app's, by their top function, unless one of the
// app's own goroutines has the same top function.
func (a *App) ignoreOthers(own []goroutine) []goleak.Option {
	all, err := goroutines()
	if err != nil {
		return nil
	}
	mine := make(map[string]bool)
	for _, g := range own {
		mine[g.top()] = true
	}
	seen := make(map[string]bool)
	var opts []goleak.Option
	for _, g := range all {
		if t := g.top(); !g.has(a.seq) && !mine[t] && !seen[t] && t != "" {
			seen[t] = true
			opts = append(opts, goleak.IgnoreTopFunction(t))
		}
	}
	return opts
}

// findLeaks returns the goroutines that carry the app's label (apart from
// those running tests or fxtest's cleanups): own when the app's label is
// the oldest fxtest label they carry, others when an earlier app's is.
func (a *App) findLeaks() (own, others []goroutine, err error) {
	all, err := goroutines()
	if err != nil {
		return nil, nil, err
	}
	for _, g := range all {
		if !g.has(a.seq) || g.runs("testing.tRunner") || g.runs(teardownFunc) {
			continue
		}
		if g.apps[0] == a.seq {
			own = append(own, g)
		} else {
			others = append(others, g)
		}
	}
	return own, others, nil
}

// goroutine is a group of goroutines with the same stack and labels, as
// the goroutine profile lists them.
type goroutine struct {
	apps   []uint64          // the fxtest apps whose labels they carry, oldest first
	names  map[uint64]string // the tests of those apps
	frames []string          // function names, innermost first
}

var appLabel = regexp.MustCompile(`"` + regexp.QuoteMeta(labelPrefix) + `(\d+)":"((?:[^"\\]|\\.)*)"`)

// goroutines reads the goroutine profile, with labels.
func goroutines() ([]goroutine, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, err
	}
	var gs []goroutine
	var cur *goroutine
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, " @ 0x"):
			gs = append(gs, goroutine{names: make(map[uint64]string)})
			cur = &gs[len(gs)-1]
		case cur == nil:
		case strings.HasPrefix(line, "# labels: "):
			for _, m := range appLabel.FindAllStringSubmatch(line, -1) {
				seq, _ := strconv.ParseUint(m[1], 10, 64)
				name, _ := strconv.Unquote(`"` + m[2] + `"`)
				cur.apps = append(cur.apps, seq)
				cur.names[seq] = name
			}
			slices.Sort(cur.apps)
		case strings.HasPrefix(line, "#\t0x"):
			if f := strings.Split(line, "\t"); len(f) >= 3 {
				fn, _, _ := strings.Cut(f[2], "+0x")
				cur.frames = append(cur.frames, fn)
			}
		}
	}
	return gs, sc.Err()
}

func (g goroutine) has(seq uint64) bool { return slices.Contains(g.apps, seq) }

func (g goroutine) runs(fn string) bool { return slices.Contains(g.frames, fn) }

// top returns the goroutine's top function as goleak and tracebacks name
// it: the innermost frame outside the runtime's unexported functions.
func (g goroutine) top() string {
	for _, f := range g.frames {
		rest, inRuntime := strings.CutPrefix(f, "runtime.")
		if !inRuntime || (rest != "" && 'A' <= rest[0] && rest[0] <= 'Z') {
			return f
		}
	}
	return ""
}

// describe names the tests of the earlier apps whose labels gs carry, for
// log lines.
func describe(gs []goroutine) string {
	seen := make(map[string]bool)
	var names []string
	for _, g := range gs {
		n := fmt.Sprintf("%q", g.names[g.apps[0]])
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 1 {
		return "the app of test " + names[0]
	}
	return "the apps of tests " + strings.Join(names, ", ")
}
