// Package natsbridge carries fxbus topics across processes on NATS JetStream,
// with a nats-server embedded in the process unless servers are configured.
// Within one process, fxbus.Module's bus is all an app needs.
// An app moves events onto the broker with configuration in its fx.Options,
// not with new handler code: local publishes of exported topics also go to a
// stream, and imported subjects feed the app's ordinary handlers.
//
//	fx.New(
//		fxbus.Module,
//		natsbridge.Module,                                   // embedded JetStream unless Config.URLs is set
//		fxbus.Topic[OrderPlaced]("orders.placed"),
//		natsbridge.Export[OrderPlaced]("orders.>"),          // local publishes also go to the stream
//		natsbridge.Import[OrderPlaced]("orders.placed",      // the stream feeds local handlers
//			natsbridge.Durable("billing")),
//		handlers.Provide(NewBilling),                        // an ordinary handler, unchanged
//	)
//
// No other package of fxbus imports this one: an app that only uses the
// in-process bus never compiles nats code.
//
// # Export
//
// An Export is a bus handler subscription on its pattern (named
// "natsbridge.export") that encodes each local event and publishes it to the
// JetStream subject of the same name asynchronously, with at most InFlight
// publishes waiting for the stream's ack. At the bound the handler waits, its
// queue fills, and the local publishers wait or drop by the subscription's
// policy (Block by default, ExportSubscribeOptions to change it): a slow or
// absent server slows the publishers instead of growing memory. A publish
// that fails (no ack within DefaultAckTimeout, no stream, a reconnect) is
// tried again with the same message, and so the same Nats-Msg-Id, after a
// backoff (PublishRetry); the stream's duplicate window drops a copy whose
// first ack was lost (counted in fxbus_bridge_export_duplicates_total). An
// event that fails every attempt is counted in
// fxbus_bridge_export_failures_total and logged at error with its ce-id.
// Retries may reorder events; an Export keeps publish order otherwise.
//
// # Import
//
// An Import is a durable pull consumer on its subject. Each message is
// decoded and published on the local topic of the same name with
// PublishSync, from a context that carries the publisher's correlation ID,
// and acked once every local handler returned nil. A handler error gives the
// message back with NakWithDelay after the Import's Backoff (the consumer has
// no BackOff of its own: the server would let it replace AckWait); at the
// MaxDeliver-th delivery the message is published, byte for byte with its
// headers, to the dead-letter subject with the Fxbus-Dlq-* headers (original
// subject, stream, stream sequence, consumer, delivery count, last error,
// reason), and acked once the dead-letter stream has acked it; so is a message
// whose handler's error is marked handlers.Permanent, at once. A message that
// does not decode, or whose content-type (or, with EventType, ce-type) is not
// the Import's, goes there at once: it is never retried, and never reaches a
// handler. The consumer's own MaxDeliver is one more than the Import's, so a
// crash during the last delivery still ends in a dead letter.
//
// While handlers run, the import tells the server every third of the AckWait
// that the message is in progress, so a slow handler is not redelivered
// under it. Bound handlers with handlers.Timeout: a handler that never
// returns holds its message.
//
// Who retries: the broker. An imported message's handlers make one call per
// delivery whatever their handlers.Retry, publish no local dead letter, and
// handlers.AttemptFrom returns the delivery count (the import marks
// its publishes for package handlers). Local retries would multiply the broker's
// (5 deliveries × 3 local attempts), and local dead letters would keep a copy
// that the broker then redelivers. Events that the handlers publish in turn
// on other topics retry and dead-letter locally as usual.
//
// Prefetch and MaxAckPending: MaxAckPending (default DefaultMaxAckPending) is
// the real bound on messages delivered and not acked, over every instance of
// the durable; size it at about twice what the instances together handle
// within one AckWait. Prefetch (default DefaultPrefetch, never above
// MaxAckPending) is what one instance pulls ahead: a prefetched message ages
// on the server's AckWait clock, so keep Prefetch × the handlers' time per
// message within half the AckWait. An import's pulls ask the server for an
// idle heartbeat every second: nats.go's Consume can let a pull pass without
// asking again, and after two missed heartbeats it pulls again instead of
// waiting for the pull to expire (30 s).
//
// Groups, order and replay: instances that import a subject with the same
// Durable split its messages; different durables each get all of them. With
// one worker (the default) messages reach the handlers in stream order, but a
// message given back comes again after later ones; Ordered keeps strict
// stream order (one message in flight over the whole durable). DeliverAll
// (the default, so that a consumer deployed after its producer gets the
// backlog), DeliverNew, DeliverLastPerSubject, StartAtSequence and
// StartAtTime choose where a new durable starts; an existing one carries on
// from its ack floor, and asking it to start elsewhere is a start error (the
// server cannot change it: delete the consumer or choose a new Durable).
// Stopping an app never deletes its durables.
//
// No echo: an imported event is not exported again, even when an Export of
// the same app matches its subject (the import marks its publishes). The
// events its handlers publish on other topics are exported as usual. An app
// that both exports and imports one subject still hands its own local
// publishes to its local handlers directly, and gets them again from the
// stream: usually the service that publishes a subject exports it, and the
// services that react to it import it.
//
// # Envelope
//
// Events travel in CloudEvents 1.0 binary content mode: the payload is the
// Codec's encoding of the event (JSON by default), and the headers are
// ce-specversion, ce-id (unique per event; Nats-Msg-Id carries the same
// value), ce-type, ce-source (Config.Source), ce-time (RFC 3339, UTC) and
// content-type, plus Fxbus-Correlation-Id, which the import restores so that
// the far handler sees the publisher's bus.CorrelationIDFrom. The ce-type is
// EventType, or else the Go type's package path and name; name the contracts
// that outlive a refactoring. An import accepts messages without CloudEvents
// headers (from other producers) as long as the payload decodes.
//
// # Streams
//
// With no Config.Streams, the bridge creates the stream DefaultStream with
// the exported patterns and imported subjects, and adds new ones at later
// starts without removing any (another app may use them). Configured streams
// are created at start, or, with Existing, only checked. A stream that
// exists is updated only when a setting the bridge owns (subjects,
// retention, discard, storage, replicas, limits, duplicate window) differs
// from Config.Streams, keeping the others (a description or metadata set by
// hand), so that instances starting at once leave it alone. Every
// stream uses limits retention, so several durables can each read every
// message and a dead-lettered payload stays readable; defaults are file
// storage, 1 replica, DefaultMaxAge, no size or count limit of its own, and
// a DefaultDuplicates window. An Export or Import whose subjects its stream
// does not capture fails the start (ErrNotCovered). Dead letters go to their
// own stream (Config.DeadLetters, DefaultDeadLetterStream, kept
// DefaultDeadLetterMaxAge), on DefaultDeadLetterPrefix.<durable>.<subject>.
//
// # Server
//
// With no Config.URLs the bridge starts a nats-server with JetStream in the
// process: it listens on no port unless Config.Embedded.Listen says where
// (then Bridge.ClientURL is what other processes connect to), leaves the
// process's signals to the app (NoSigs), has explicit memory and disk limits
// (DefaultMaxMemory, DefaultMaxStore), and keeps its store in
// Config.Embedded.StoreDir, by default under os.UserCacheDir. The bridge
// holds an exclusive lock (flock) on the store directory: a second process
// that points at it fails to start (ErrStoreLocked) instead of corrupting it.
// With Config.URLs the bridge connects to those servers and reconnects for
// ever, waiting ReconnectWait plus up to ReconnectJitter between tries and
// buffering up to ReconnectBuffer bytes meanwhile; state changes are logged
// and in fxbus_bridge_connection_state.
//
// # Start and stop
//
// List Module after fxbus.Module. At start: the server, the connection, a
// JetStream round trip, the streams and the exports' publishers; then the
// bus subscribes its handlers (the exports among them); then each import
// checks that a subscription on the bus matches its subject
// (ErrNoSubscriber: otherwise its messages would be acked unhandled) and
// starts consuming. Each JetStream request of the start (the round trip,
// the streams, the consumers) that times out, finds no responders, gets a
// 503 or cannot place its replicas yet, as while a cluster elects a leader
// or a node restarts, is tried again every 3 s until shortly before the
// start's deadline; then the start fails with an error that names the
// stream or consumer and the server's last answer. At stop, in order: the imports stop pulling, give back
// what they pulled ahead (so another instance gets it at once), and finish
// the messages in hand, acking those whose handlers returned nil; the bus
// drains, its exports publishing what it still holds; the bridge waits for
// the stream's acks of every export (keeping a fifth of the time left for
// what follows), drains the connection, and stops the embedded server. No
// goroutine of the bridge outlives the stop.
//
// # Metrics
//
// Given a prometheus.Registerer, Module registers these series on it, beside
// the bus's; without one it registers nothing.
//
//	| name                                     | labels           | meaning                                                        |
//	|------------------------------------------|------------------|----------------------------------------------------------------|
//	| fxbus_bridge_exported_total              | export           | events the stream acked                                        |
//	| fxbus_bridge_export_errors_total         | export           | publish attempts that failed (each retry counts)               |
//	| fxbus_bridge_export_failures_total       | export           | events not exported after every retry, or left at stop         |
//	| fxbus_bridge_export_duplicates_total     | export           | publishes the stream dropped as duplicates                     |
//	| fxbus_bridge_export_skipped_total        | export           | imported events not exported again                             |
//	| fxbus_bridge_export_in_flight            | export           | publishes waiting for the stream's ack (gauge)                 |
//	| fxbus_bridge_imported_total              | consumer         | deliveries, redeliveries included                              |
//	| fxbus_bridge_acked_total                 | consumer         | messages acked (handled, or dead-lettered)                     |
//	| fxbus_bridge_naked_total                 | consumer         | messages given back for a later delivery                       |
//	| fxbus_bridge_redelivered_total           | consumer         | deliveries of a message delivered before                       |
//	| fxbus_bridge_decode_failures_total       | consumer         | messages that did not decode                                   |
//	| fxbus_bridge_dead_lettered_total         | consumer, reason | messages sent to the dead-letter subject (handler, decode)     |
//	| fxbus_bridge_consumer_pending            | consumer, stream | messages not delivered yet: the lag, read at scrape time       |
//	| fxbus_bridge_consumer_ack_pending        | consumer, stream | messages delivered and not acked, read at scrape time          |
//	| fxbus_bridge_connection_state            | state            | 1 for the current state (connected, reconnecting, disconnected, closed) |
//	| fxbus_bridge_reconnects_total            |                  | reconnections                                                  |
//
// PITFALLS.md in this directory lists what users of other Go bridges to
// JetStream ran into, and the test or decision that answers each here.
package natsbridge
