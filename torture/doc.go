// Package torture holds fxbus's torture suite: tests, and nothing else, that
// hold the bus to its promises (the invariants listed in package bus's
// documentation, under "Inside") under load, under faults and under hostile
// input.
//
//   - Load (TestLoad): many publishers and subscribers on several topics,
//     every slow-subscriber policy and every fan-out shape at once,
//     subscribers joining and leaving, publishers' contexts cancelled in the
//     middle of a publish, at GOMAXPROCS 1, 2 and 8. Afterwards each
//     subscriber's own record of what it received and of what OnDrop told it
//     must agree with the bus's Stats message by message. The run lasts
//     -torture.duration in all (20s by default, 3s with -short):
//
//     go test -race -run TestLoad ./torture/ -torture.duration=5m
//
//   - Faults: handlers that panic, hang past their timeout or publish in
//     loops; a stop deadline that expires during a drain; Stop while
//     publishes and subscribes are in flight, Stop twice, Publish after
//     Stop. No panic may escape, nothing may hang, every undelivered message
//     is counted with its reason and no goroutine is left behind (goleak).
//
//   - Bad input: fuzz targets for topic names, patterns and options (seeded
//     from testdata/fuzz), and misuse of the fx API, whose errors must name
//     the culprit.
//
// The suite runs within go test ./..., and its fuzz targets run in CI (.ci/run)
// for 30 seconds each.
package torture
