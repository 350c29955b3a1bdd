// Package metrics exports a bus's counters and its handlers' durations to
// Prometheus, so that no drop and no lag goes unseen. An fx app gets it from
// fxbus.Module by providing a prometheus.Registerer; reach for New only
// without fx, and for package otelfxbus for traces.
//
// New registers one collector on the registry the app provides (never on
// prometheus.DefaultRegisterer by itself). The counters and gauges are read
// from the bus's Stats at scrape time: publishing costs nothing more with
// metrics than without. Only handler calls are recorded as they happen,
// through the handler observer that Observer returns, bound once per
// subscription so that each call is one histogram observation and one
// counter increment, with no label lookup and no allocation.
//
// # Metrics
//
// Names and labels are a public contract (METRICS.md holds the same table):
//
//	| name                                 | type      | labels                           | meaning                                                                                          |
//	|--------------------------------------|-----------|----------------------------------|--------------------------------------------------------------------------------------------------|
//	| `fxbus_events_published_total`       | counter   | `topic`                          | events accepted by Publish or PublishSync on the topic, routed to a subscriber or not            |
//	| `fxbus_events_unrouted_total`        | counter   | `topic`                          | of those, the events that no subscription matched                                                |
//	| `fxbus_events_delivered_total`       | counter   | `topic`, `subscriber`            | events the subscriber took: received from its channel, or handled by its handler (any outcome)   |
//	| `fxbus_events_dropped_total`         | counter   | `topic`, `subscriber`, `reason`  | events not delivered to the subscriber, by reason                                                |
//	| `fxbus_subscriber_disconnects_total` | counter   | `topic`, `subscriber`            | subscriptions ended by their DisconnectAfter policy                                              |
//	| `fxbus_subscribers`                  | gauge     | `topic`                          | live subscriptions attached to the topic now, wildcard ones included                             |
//	| `fxbus_queue_depth`                  | gauge     | `topic`, `subscriber`            | events waiting in the subscriber's queue or being handled: the in-process consumer lag           |
//	| `fxbus_queue_capacity`               | gauge     | `topic`, `subscriber`            | the subscriber's queue size (Buffer): waiting events beyond it are blocked or dropped by policy |
//	| `fxbus_handler_duration_seconds`     | histogram | `topic`, `subscriber`            | duration of each handler call (each attempt), in seconds; classic buckets and a native histogram |
//	| `fxbus_handler_calls_total`          | counter   | `topic`, `subscriber`, `outcome` | handler calls (each attempt), by what the call did: a panic counts as a panic whatever came next |
//	| `fxbus_handler_failures_total`       | counter   | `topic`, `subscriber`, `then`    | failed handler calls, by what became of the message: retried, or where it went when given up     |
//
// The labels:
//
//   - topic: the topic name on per-topic metrics. On per-subscriber metrics,
//     the topic name or pattern the subscription was made for, like
//     "orders.>": a pattern subscription has one series, whatever the
//     topics it matches.
//   - subscriber: the subscription's name (bus.Name, or the
//     stable default derived from the code), never an ID, so that label
//     values stay bounded.
//   - reason: the bus's drop reasons (bus.DropReasons): full, evicted,
//     timeout, canceled, disconnect, unsubscribed, shutdown; and
//     dead-letter-unhandled, counted per dead-letter topic with
//     subscriber="" when a dead letter is published there and nothing
//     subscribes to it (an unrouted publish on a topic that a handler
//     observed by the Metrics reported as its dead-letter topic, in
//     the call it reported).
//   - outcome: ok, error, panic, timeout: what the call
//     did, whatever happened to the message next. A message that panics
//     three times and is then dead-lettered counts outcome="panic" three
//     times.
//   - then: what became of the message after a failed call: retried, dead-lettered (to a dead-letter topic that
//     something subscribes to), dead-letter-unread (to one that nothing
//     subscribes to: lost), dead-letter-failed (the dead letter could not
//     be published: lost), discarded (handlers.NoDeadLetters). The message
//     above counts then="retried" twice and then="dead-lettered" once.
//
// # Accounting
//
// Every subscriber has a series for every reason, zeros included, and
// keeps its series after its subscription ends: the bus keeps counting per
// topic (or pattern) and name, so a subscriber that subscribes again under
// the same name carries on, and counters only grow. For a subscriber of one
// topic (no wildcard, no queue group) that was there for every publish,
// once publishing stops:
//
//	fxbus_events_published_total = fxbus_events_delivered_total + sum(fxbus_events_dropped_total) + fxbus_queue_depth
//
// Handler series exist for handlers run by a lifecycle.Runner whose
// Options.Observer is Observer() (fxbus.Module sets it when the app has a
// prometheus.Registerer); fxbus_events_delivered_total counts messages, while
// fxbus_handler_calls_total counts attempts.
//
// # In tests
//
// Collector returns the fxbus collector, for prometheus/testutil's
// CollectAndCount, CollectAndLint and CollectAndCompare; Series narrows it
// to one series, for testutil.ToFloat64. New with a nil Registerer makes a
// Metrics that is registered nowhere; fxbus.Module provides the
// *metrics.Metrics it exports.
//
// # Several buses on one registry
//
// Two apps in one test binary often share a registry. The second New on a
// registry finds the first one's collector (prometheus.AlreadyRegisteredError)
// and joins it: the collector serves a set of buses, and series with the same
// labels are summed. Give each bus its own ConstLabels (for example
// {"bus": "orders"}) to export them side by side instead. Close takes a bus
// out: its share of the sums goes (Prometheus's rate() reads the decrease as
// a counter reset), and so do the handler series that no other bus on the
// registry shares; when the last bus leaves, the collector is unregistered.
//
// # Useful queries
//
//	sum by (topic, subscriber, reason) (rate(fxbus_events_dropped_total[5m])) > 0
//	fxbus_queue_depth / fxbus_queue_capacity > 0.8
//	histogram_quantile(0.99, sum by (le, topic, subscriber) (rate(fxbus_handler_duration_seconds_bucket[5m])))
//
// Package metrics depends on client_golang and bus; not on fx, zap or
// handlers.
package metrics
