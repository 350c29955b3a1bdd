// Package lifecycle runs an fxbus bus inside an application's lifecycle:
// it subscribes the handlers at start and shuts the bus down, in order, at
// stop. An fx app uses fxbus.Module, which wires it in together with the
// metrics; reach for lifecycle only to run the bus without fx, calling a
// Runner's Start and Stop yourself.
//
// # Start
//
// Start declares the app's topics (Options.Topics, which fxbus.Topic fills),
// then checks every handler registration before subscribing any: a topic
// name that breaks the naming rules, or a topic that nothing declared, is an
// error that names the handler and says what to add. Exempt from the
// declaration are wildcard patterns, topics already on the bus before Start
// (declared by a bridge, or with bus.NewTopic), and handlers of
// handlers.DeadLetter values, whose topics the failing handlers declare.
// Then it subscribes the handlers sorted by topic and name, so that the
// order does not depend on how fx collected them. If one fails (a type that
// does not match the topic's, a duplicate name, invalid options), Start
// closes the subscriptions it made, closes the bus and returns an error that
// names the handler and the cause.
//
// # Stop
//
// Stop closes the bus (bus.Bus.Close): publishes from outside handlers are
// refused with bus.ErrClosed, the bus drains until no queue holds a message
// and no handler runs, while the handlers' own publishes (chains of events)
// are still delivered, then every subscription is closed in reverse order of
// subscription and Stop waits for the bus's workers. No goroutine of the bus
// outlives Stop, unless a handler ignores its cancelled context for longer
// than the bus's KillGrace (it is then reported as running). If the drain
// runs out of time, the handlers' contexts are cancelled, what is still
// queued is dropped with reason shutdown, and Stop logs and returns a
// *bus.ShutdownError that names each subscriber and its count.
//
// The drain ends at Options.DrainTimeout, and in any case before the stop
// context's deadline, keeping KillGrace plus a tenth of the time left (at
// most half of it) in reserve: fx abandons the whole stop at its deadline
// (app.Stop then returns only the context's error and skips the hooks left),
// so the bus's report and the hooks of what the handlers depend on need that
// time.
//
// In an fx app, where the hook that runs Start and Stop sits decides what
// stops around it: fx runs OnStop hooks in reverse order of OnStart, so
// fxbus.Module appends it from the invoke that consumes the handler group,
// not from the bus's constructor. Components built after that invoke, such
// as publishers and servers, then stop before the bus, and what the
// handlers depend on, built before it, stops after the bus has drained.
// Without fx, stop what publishes before calling Stop.
//
// # Logging
//
// A Log writes through a zap logger. From the bus's hooks (Log.Hooks): drops
// that the subscriber's policy exists to make (full, evicted, timeout) at
// info, other drops and disconnects at warn, and, on a topic that handlers
// are registered for (New tells the Log which), a message that reached
// no subscription at warn, saying whether it was published before the
// handlers were subscribed. From the handler calls it observes:
// handler panics at error, with the correlation ID and the panic's stack as
// the entry's stack trace, whatever happens to the message next; dead
// letters that nothing subscribes to (nobody will read them) and dead
// letters that could not be published at error; other dead letters and
// other failures after which the message is given up at warn. A Runner adds
// each subscription at debug and shutdown losses at error. Warnings and
// errors, and the policy's drops, are rate-limited per subscriber and kind
// of event, with a count of the lines held back, so that a storm cannot
// flood the log; the Log starts no goroutine.
//
// # Metrics
//
// lifecycle does not know about metrics: pass the observer of a
// *metrics.Metrics as Options.Observer, and register and close the Metrics
// around Start and Stop (fxbus.Module does this when the app has a
// prometheus.Registerer).
package lifecycle
