// Package busonly shows package bus on its own, without fx: a typed topic,
// a subscriber with its own slow-subscriber policy, a publish. See Example,
// which the README shows.
package busonly
