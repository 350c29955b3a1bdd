package fxtest_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxbus/fxbus/fxtest"
)

// Messages of the tests.
type (
	Order struct {
		ID    string
		Cents int
	}
	Shipment struct{ OrderID string }
	Job      struct{ N int }
)

// fakeTB is a TB that records what a test helper reports, to test that
// fxtest fails tests, and how.
type fakeTB struct {
	name  string
	onLog func(string) // called with each log line, if set

	mu       sync.Mutex
	errs     []string
	logs     []string
	cleanups []func()
	failNow  bool
}

var (
	_ fxtest.TB = (*fakeTB)(nil)
	_ fxtest.TB = (*testing.T)(nil)
	_ fxtest.TB = (*testing.B)(nil)
)

func newFakeTB(name string) *fakeTB { return &fakeTB{name: name} }

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return f.name }

func (f *fakeTB) Logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.logs = append(f.logs, msg)
	onLog := f.onLog
	f.mu.Unlock()
	if onLog != nil {
		onLog(msg)
	}
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

// FailNow ends the goroutine, as testing.T's does; run the code under test
// with run.
func (f *fakeTB) FailNow() {
	f.mu.Lock()
	f.failNow = true
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, fn)
	f.mu.Unlock()
}

// run runs body on its own goroutine, as testing runs a test, so that
// FailNow ends only body; it does not run the cleanups.
func (f *fakeTB) run(t *testing.T, body func(tb fxtest.TB)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	wait(t, done, "the fake test's body")
}

// cleanup runs the registered cleanups, last first, on their own goroutine.
func (f *fakeTB) cleanup(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.runCleanups()
	}()
	wait(t, done, "the fake test's cleanups")
}

func (f *fakeTB) runCleanups() {
	for {
		f.mu.Lock()
		n := len(f.cleanups)
		if n == 0 {
			f.mu.Unlock()
			return
		}
		fn := f.cleanups[n-1]
		f.cleanups = f.cleanups[:n-1]
		f.mu.Unlock()
		fn()
	}
}

func (f *fakeTB) errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

func (f *fakeTB) logLines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.logs)
}

func (f *fakeTB) failedNow() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failNow
}

// wantError checks that tb reported exactly one error, containing each of
// want.
func (f *fakeTB) wantError(t *testing.T, want ...string) {
	t.Helper()
	errs := f.errors()
	if len(errs) != 1 {
		t.Fatalf("the fake test reported %d errors, want 1: %q", len(errs), errs)
	}
	for _, w := range want {
		if !strings.Contains(errs[0], w) {
			t.Errorf("the error\n%s\ndoes not contain %q", errs[0], w)
		}
	}
}

func (f *fakeTB) wantNoError(t *testing.T) {
	t.Helper()
	if errs := f.errors(); len(errs) > 0 {
		t.Errorf("the fake test reported errors: %q", errs)
	}
}

// testTimeout bounds every wait of a test.
const testTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// wait waits for ch to be closed, or fails the test.
func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("%s did not finish within %v", what, testTimeout)
	}
}
