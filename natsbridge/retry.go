package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startTry bounds one JetStream request at start, and is the least time
// between two tries of it. While a cluster elects a leader, or when several
// processes make the same stream at once, a request may get no answer at
// all: the next try asks again (every request the start makes may be
// repeated) until the start's context ends.
const startTry = 3 * time.Second

// errNoPeers is the server's error code for "no suitable peers for
// placement": a stream's replicas cannot all be placed on servers that are
// up, as while a node of the cluster restarts.
const errNoPeers jetstream.ErrorCode = 10005

// errRaced is a try that lost a race with another process: try again.
var errRaced = errors.New("another process changed it meanwhile")

// retry runs op, with a context that ends after startTry, until it returns
// nil or an error that a new try cannot cure, or until ctx nearly ends: it
// keeps a tenth of the time left (at most 2 s) so that its error, a
// *noAnswerError naming what, reaches fx before fx gives up on the start
// hook with a bare "context deadline exceeded".
func retry(ctx context.Context, what string, op func(context.Context) error) error {
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-min(time.Until(d)/10, 2*time.Second)))
		defer cancel()
	}
	var last error // of the last try that ctx did not cut short
	for tries := 1; ; tries++ {
		next := time.Now().Add(startTry)
		try, cancel := context.WithDeadline(ctx, next)
		err := op(try)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if ctx.Err() != nil {
			return &noAnswerError{what: what, tries: tries, last: last}
		}
		select {
		case <-time.After(time.Until(next)):
		case <-ctx.Done():
		}
	}
}

// noAnswerError is a start that ran out of time while JetStream did not
// answer, or answered that it could not do it yet.
type noAnswerError struct {
	what  string
	tries int
	last  error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("natsbridge: %s: JetStream still failed at the start's deadline, after %d tries (last: %v): check that every server of the cluster is up and that it has a leader, that Replicas fit the cluster, or give the app longer to start (fx.StartTimeout)", e.what, e.tries, e.last)
}

func (e *noAnswerError) Unwrap() error { return e.last }

// transient reports whether err is what a JetStream request gets while the
// cluster has no leader for it or a node is down, or a race lost with
// another process.
func transient(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, errRaced):
		return true
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return false
	case errors.As(err, &api):
		return api.Code == http.StatusServiceUnavailable || api.ErrorCode == errNoPeers
	}
	return false
}
