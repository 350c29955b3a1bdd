// Package benchmarks measures fxbus beside raw channels, a synchronous
// inline call and the in-process publish/subscribe libraries a Go service
// would otherwise pick: github.com/cskr/pubsub/v2,
// github.com/mustafaturan/bus/v3 and watermill's gochannel. Every
// implementation runs the same workloads in the same run, so that the
// comparison in README.md can be rerun by anyone.
//
// It is a module of its own, so that the peers never become dependencies of
// fxbus. The package holds nothing but benchmarks: one file per
// implementation and one of shared scenarios (scenario_bench_test.go).
package benchmarks
