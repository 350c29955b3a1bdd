// Package fxbus is a typed publish/subscribe event bus for applications built
// with go.uber.org/fx.
//
// An app adds Module, declares its topics with Topic (or NamedTopic, for two
// topics of one message type), registers its handlers (package handlers puts
// them in the value group handlers.Group), and asks for a Publisher[T]
// wherever it publishes:
//
//	fx.New(
//		fxbus.Module,
//		fxbus.Topic[Order]("orders.placed"),
//		fxbus.Topic[Shipment]("shipments.created"),
//		fx.Provide(NewStore, NewCheckout), // Checkout publishes with a fxbus.Publisher[Order]
//		handlers.ProvideHandler[Order]("orders.placed", NewOrderSaver), // a struct with dependencies
//		handlers.Provide(NewAudit, NewNotifier), // constructors of handlers.Registration
//		fx.Invoke(func(*Checkout) {}),
//	)
//
// See ExampleModule for the whole program.
//
// # Start and stop
//
// At start the module declares the topics and subscribes every handler. A
// handler whose topic name is invalid, whose message type differs from its
// topic's, whose name is taken on its topic, whose options are invalid, or
// whose topic no Topic declared (wildcard patterns, dead-letter topics and
// topics already on the bus are exempt) makes the start fail with an error that names the handler; nothing stays
// subscribed.
//
// At stop, in this order: the components built after the bus (publishers,
// servers) stop first; then the bus refuses publishes from outside handlers,
// drains every queue while the handlers' own publishes are still delivered,
// closes the subscriptions in reverse order and waits for its workers; then
// what the handlers depend on (databases, clients) stops. If fx's stop
// deadline (or Config.DrainTimeout) hits first, the bus closes anyway and
// the stop fails with a *bus.ShutdownError that names each subscriber and
// how many messages it lost. See package lifecycle.
//
// # Logs and metrics
//
// Give the app a *zap.Logger and the module logs subscriptions at debug,
// drops, disconnects, dead letters and failed handler calls at warn, and
// handler panics at error with the correlation ID and the stack; warnings
// and errors are rate-limited per subscriber. Give it a prometheus.Registerer and it registers
// the bus's metrics there (package metrics); it never uses the global
// registry on its own. The module provides neither.
//
// # Without fx
//
// NewBus and lifecycle.New are the plain constructors Module uses: make a
// lifecycle.Log, a bus with NewBus, a lifecycle.Runner for the handler
// registrations with the same Log (and Config's DrainTimeout and KillGrace in
// its Options), and call the Runner's Start and Stop.
package fxbus
