// Package fxgroup names the fx value group that carries an app's handler
// registrations between the project's packages, and marks the apps that run
// them. Apps never name these: they use
// handlers.Provide and fxbus.Topic.
package fxgroup

import "reflect"

// Handlers is the fx value group of handlers.Registration values that
// fxbus.Module subscribes.
const Handlers = "fxbus.handlers"

// Reader marks an fx app in which something runs the registrations of
// Handlers: fxbus.Module supplies one. handlers.Provide, Supply and
// ProvideHandler check for it when the app is built, so that handlers
// registered in an app without fxbus.Module are an error instead of never
// running.
type Reader struct{}

// Info is what the project's packages read of a handlers.Registration, with
// its Info method: the message type, where it was made, and whether it takes
// dead letters (its topic is then declared by the handlers that give up on
// messages).
type Info struct {
	Type        reflect.Type
	Source      string
	DeadLetters bool
}
