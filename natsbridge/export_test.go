package natsbridge

// Internals for the external tests.
var (
	DurableName = durableName
	Covers      = covers
	Overlap     = overlap
	Merge       = merge
)

// Transient is transient, for TestTransient.
var Transient = transient
