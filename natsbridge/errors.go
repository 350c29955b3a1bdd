package natsbridge

import "errors"

var (
	// ErrStoreLocked is wrapped by the start error of an embedded server whose
	// store directory another process (or another app in this one) holds.
	ErrStoreLocked = errors.New("natsbridge: store directory locked")

	// ErrNoSubscriber is wrapped by the start error of an Import whose subject
	// no subscription of the bus matches: its messages would be acked with
	// nobody handling them.
	ErrNoSubscriber = errors.New("natsbridge: imported subject has no subscriber on the bus")

	// ErrNotCovered is wrapped by the start error of an Export or Import whose
	// subjects the stream it uses does not capture.
	ErrNotCovered = errors.New("natsbridge: subject outside the stream")
)

// decodeError is a message that cannot become an event: it goes to the
// dead-letter subject at once instead of being retried.
type decodeError struct{ err error }

func (e *decodeError) Error() string { return "decode: " + e.err.Error() }
func (e *decodeError) Unwrap() error { return e.err }
