package fxtest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/goleak"
)

// live holds the fxtest apps of this process that have not stopped yet.
//
// It is fxtest's only package-level state, and it has to be: goroutines
// belong to the process, not to a test, so telling one test's goroutines
// from another's needs to know which apps run at the same time. It holds no
// settings; it only decides how long a leak check waits.
var live = newRegistry()

type registry struct {
	mu      sync.Mutex
	apps    map[*App]struct{}
	changed chan struct{} // closed and replaced whenever an app leaves
}

func newRegistry() *registry {
	return &registry{apps: make(map[*App]struct{}), changed: make(chan struct{})}
}

func (r *registry) add(a *App) {
	r.mu.Lock()
	r.apps[a] = struct{}{}
	r.mu.Unlock()
}

func (r *registry) remove(a *App) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.apps[a]; !ok {
		return
	}
	delete(r.apps, a)
	close(r.changed)
	r.changed = make(chan struct{})
}

// others returns the apps other than a that are still running: those a's
// check can wait for, and those of a's own test or of an enclosing test,
// which stop only after a's check, so waiting for them would deadlock.
func (r *registry) others(a *App) (parallel, enclosing []*App) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for o := range r.apps {
		switch {
		case o == a:
		case o.tb == a.tb || o.name == a.name || strings.HasPrefix(a.name, o.name+"/"):
			enclosing = append(enclosing, o)
		default:
			parallel = append(parallel, o)
		}
	}
	return parallel, enclosing
}

// waitGone waits until none of apps is running, or until deadline; it
// returns those still running then.
func (r *registry) waitGone(apps []*App, deadline time.Time) (running []*App) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		r.mu.Lock()
		running = running[:0]
		for _, o := range apps {
			if _, ok := r.apps[o]; ok {
				running = append(running, o)
			}
		}
		changed := r.changed
		r.mu.Unlock()
		if len(running) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return running
		}
	}
}

// Goroutines that are no app's leak: those running a test (a subtest that
// started after New, say), and those stopping an fxtest app or checking it.
var (
	ignoreTests     = goleak.IgnoreAnyFunction("testing.tRunner")
	ignoreTeardowns = goleak.IgnoreAnyFunction(reflect.TypeFor[App]().PkgPath() + ".(*App).cleanup")
)

// leakHint says what to do about goroutines that are not the test's fault.
const leakHint = "If one of them belongs to another test running in parallel that does not use fxtest, " +
	"or is started once per process by a library, ignore it with fxtest.LeakCheck(goleak.IgnoreTopFunction(...)), " +
	"or turn the check off with fxtest.NoLeakCheck()."

// checkLeaks runs after the app stopped: every goroutine started since New
// and still running is a leak, unless it may belong to another app that is
// still running. It waits for the parallel ones to stop before looking, since
// their bus workers run until they do.
func (a *App) checkLeaks() {
	opts := append([]goleak.Option{a.ignore, ignoreTests, ignoreTeardowns}, a.cfg.leakOpts...)
	deadline := time.Now().Add(a.cfg.timeout)
	for {
		if parallel, _ := live.others(a); len(parallel) > 0 {
			a.tb.Logf("fxtest: the leak check waits up to %v for %s, running in parallel, to stop: their goroutines cannot be told from this app's",
				time.Until(deadline).Round(time.Millisecond), describe(parallel))
			if running := live.waitGone(parallel, deadline); len(running) > 0 {
				a.tb.Logf("fxtest: leak check skipped: after %v, %s still running (goleak.VerifyTestMain in TestMain still checks the package at its end)",
					a.cfg.timeout, describe(running))
				return
			}
		}
		err := goleak.Find(opts...)
		if err == nil {
			return
		}
		parallel, enclosing := live.others(a)
		if len(parallel) > 0 {
			continue // apps that started meanwhile: wait for them too
		}
		if len(enclosing) > 0 {
			a.tb.Logf("fxtest: leak check inconclusive: these goroutines may belong to %s, of this test or an enclosing one, still running; its own leak check covers them when it stops:\n%v",
				describe(enclosing), err)
			return
		}
		a.tb.Errorf("fxtest: goroutines started while the app ran are still running after it stopped: %v\n%s", err, leakHint)
		return
	}
}

// describe names the tests of apps, sorted, for log lines.
func describe(apps []*App) string {
	names := make([]string, len(apps))
	for i, o := range apps {
		names[i] = fmt.Sprintf("%q", o.name)
	}
	slices.Sort(names)
	if len(names) == 1 {
		return "the app of test " + names[0]
	}
	return "the apps of tests " + strings.Join(names, ", ")
}
