// Package fxgroup names the fx value group that carries an app's handler
// registrations between the project's packages, and marks the apps that run
// them. Apps never name these: they use
// handlers.Provide and fxbus.Topic.
package fxgroup

// Handlers is the fx value group of handlers.Registration values that
// fxbus.Module subscribes.
const Handlers = "fxbus.handlers"

// Reader marks an fx app in which something runs the registrations of
// Handlers: fxbus.Module supplies one. handlers.Provide, Supply and
// ProvideHandler check for it when the app is built, so that handlers
// registered in an app without fxbus.Module are an error instead of never
// running.
type Reader struct{}
