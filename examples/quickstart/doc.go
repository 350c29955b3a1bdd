// Command quickstart is the smallest fxbus app, the quickstart of the
// README: one topic, one handler, one publisher. Run it with
//
//	go run ./examples/quickstart
//
// It prints "order placed: A-1" and runs until Ctrl-C; then the bus drains
// and the app stops.
package main
