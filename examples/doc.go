// Package examples holds fxbus's runnable examples, one directory each:
//
//   - app: a small order service that shows every part of fxbus (go run ./examples/app);
//   - quickstart: the smallest fxbus app, the README's quickstart;
//   - busonly: package bus on its own, without fx.
//
// The tests of this package check that README.md shows the code of these
// examples, and the root package's ExampleModule, exactly as they are, so
// that the README cannot drift from code that compiles and runs.
package examples
