// Command app is a small order service built on fxbus, showing every part
// of it.
//
// An HTTP API on 127.0.0.1 accepts orders (POST /orders) and publishes an
// OrderPlaced event for each. Its handlers show the slow-subscriber
// policies and fan-out shapes side by side:
//
//   - audit must see every order: Block, with a large buffer;
//   - inventory is a queue group of four workers that split the orders, the
//     SKU as ordering key, and each publishes InventoryReserved (a chain of
//     events), which confirm handles;
//   - analytics may lose events: DropOldest with a buffer of 8, and slower
//     than the orders come;
//   - email fails now and then: it retries with a short backoff and
//     dead-letters what it gives up on, which email-dead-letters records.
//
// GET /metrics serves the Prometheus metrics and GET /debug/fxbus the bus's
// stats as JSON. Logs go to stderr through zap; analytics' evictions, which
// its policy allows, are an info line a second, not a warning per order.
//
// Run it with
//
//	go run ./examples/app
//
// A built-in traffic generator POSTs orders to the server, a snapshot a
// second (in lines of at most 120 columns) shows what every subscriber
// received, dropped and still holds, and after
// -duration (or on Ctrl-C, SIGINT or SIGTERM) the app stops in order: the
// generator, the HTTP server, then the bus, which drains every queue. The
// final table shows, per subscriber, that published = delivered + dropped
// + queued, that nothing is queued after the drain, and that only the
// policies that allow drops dropped anything. The exit status is 1 if
// anything was lost or the app failed, 2 for a mistake in the command line.
package main
