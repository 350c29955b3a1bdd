// Package fxbus is a typed publish/subscribe event bus for applications built
// with go.uber.org/fx: Module, Topic and Publisher are what an app wires.
// Reach for package handlers to register handlers, for package bus (with
// lifecycle) to use the bus without fx, and for fxtest to test an app.
//
// An app adds Module, declares its topics with Topic (or NamedTopic, for two
// topics of one message type), registers its handlers (with package
// handlers), and asks for a Publisher[T] wherever it publishes:
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
// topics already on the bus are exempt) makes the start fail with an error
// that names the handler; nothing stays subscribed. A handlers.Registration
// provided with plain fx.Provide, outside the handler group, makes the app
// fail to build with an error that says to use handlers.Provide.
//
// Nothing published through a Publisher is lost to the start order: what
// is published before the handlers are subscribed (from a constructor, from
// an OnStart hook that runs before the module's, before app.Start) is held
// and released, in publish order, right after they are, so modules may be
// listed in any order. The module's start hook runs after the OnStart hooks
// of everything the handlers depend on, since it is appended by the invoke
// that builds the handlers. PublishSync before the start fails with
// ErrNotStarted; Config.StartBuffer bounds what is held. *bus.Bus is the
// engine and does not wait: a message published through it on a topic with
// handlers before they are subscribed reaches none, and is logged.
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
// drops that a subscriber's policy makes (DropOldest's evictions, say) at
// info as a summary at most once a second, other drops, disconnects, dead
// letters and failed handler calls at warn, and handler panics (with the
// correlation ID and the stack), dead letters that nothing subscribes to
// and dead letters that could not be published at error; warnings and
// errors are rate-limited per subscriber. Give it a prometheus.Registerer
// and it registers the bus's metrics there (package metrics); it never uses
// the global registry on its own. The module provides neither, but provides
// the bus's *metrics.Metrics, for prometheus/testutil.
//
// # Without fx
//
// NewBus and lifecycle.New are the plain constructors Module uses: make a
// lifecycle.Log, a bus with NewBus, a lifecycle.Runner for the handler
// registrations with the same Log (and Config's DrainTimeout and KillGrace in
// its Options), and call the Runner's Start and Stop.
package fxbus
