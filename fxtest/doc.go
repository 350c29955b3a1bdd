// Package fxtest tests apps built on fxbus deterministically: no sleeps, no
// flaky waits. For an fx app without the bus, reach for go.uber.org/fx/fxtest
// instead; a test that needs both imports this one under another name:
//
//	import (
//		"go.uber.org/fx/fxtest"
//		busfxtest "github.com/fxbus/fxbus/fxtest"
//	)
//
// New builds the app from the test's fx options and fxbus.Module, with the
// bus in synchronous mode, starts it, and stops it when the test ends,
// failing the test if it does not build, start or stop:
//
//	func TestValidator(t *testing.T) {
//		var orders fxbus.Publisher[Order]
//		fxtest.New(t,
//			fxbus.Topic[Order]("orders.placed"),
//			handlers.Supply(handlers.Register[Order]("orders.placed", Validator{})),
//			fx.Populate(&orders),
//		)
//		err := orders.Publish(ctx, Order{ID: "b"}) // the handler has run
//		if !errors.Is(err, errNoAmount) { ... }
//	}
//
// In synchronous mode Publish returns once every handler has handled the
// message, with the handlers' joined errors, so a test asserts right after
// publishing. A handler's own publishes are synchronous too, so a chain of
// events has run when the first Publish returns (except messages a handler
// publishes to a subscription of its own chain; see bus.Topic.PublishSync).
// RequirePublish fails the test when a handler fails. With the Async option
// the bus runs as in production; App.WaitIdle, Recorder.WaitN and the test
// doubles' WaitN(app, n) then wait for the handlers, each within the app's
// deadline (DefaultTimeout, or the Timeout option).
//
// # Retries without waiting
//
// A handler with handlers.Retry waits its backoff between attempts, in a
// test as in production (0.3 s for one message dead-lettered after three
// attempts with the default backoff). The NoRetryWait option makes every
// handler retry at once: the same attempts, in the same order, without the
// waits.
//
// # What was published
//
// A Recorder records every message of a topic, in order, with its
// correlation ID: Record subscribes one on a running app, NewRecorder and
// its Option subscribe one at start, to see what components publish in
// their start hooks. Messages, Values and Len read it; WaitN waits for
// messages; AssertNone checks that none came.
//
// # Test doubles
//
// Spy, Flaky and Blocker are handlers (handlers.Handler[T]) that record
// their calls, with correlation ID and attempt number: Spy succeeds, Flaky
// fails its first n calls (to test handlers.Retry and dead letters), and
// Blocker holds each call until the test releases it, reporting its start
// on a channel (to test slow-subscriber policies and shutdown). Spy and
// Blocker are ready as zero values: new(fxtest.Spy[Order]).
//
// # Leaked goroutines
//
// When the app has stopped, New's cleanup fails the test if a goroutine
// that the app started is still running (go.uber.org/goleak; turn it off
// with NoLeakCheck, ignore known goroutines with LeakCheck). Parallel tests
// share one process, so the app's goroutines are told from others' by a
// runtime/pprof label that New sets on its goroutine and that the
// goroutines started from it inherit: the check looks only at the app's
// own, waits for no other app, ignores goroutines that run tests, and only
// logs goroutines that also carry the label of an app made earlier by the
// same or an enclosing test, whose check covers them later; see New.
//
// # Parallel tests
//
// Apps, recorders and doubles share nothing, so tests that use them may
// call t.Parallel (before New). The only package state is a counter that
// numbers the apps' labels and, per test name, the labels its apps set, so
// that a second app of a test, or an app of a subtest, adds its label to
// the earlier ones.
//
// # Outside go test
//
// New takes a TB, the part of testing.TB it uses, so that examples, and
// tests of test helpers, can pass their own.
package fxtest
