package bus

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Policy says what the bus does when a subscriber's queue is full. Each
// subscriber has its own, so that one slow consumer of a topic never decides
// the fate of the others. The zero Policy is Block with no maximum wait.
type Policy struct {
	kind    policyKind
	maxWait time.Duration // Block: 0 means wait as long as the publisher's ctx allows
	after   int           // DisconnectAfter: consecutive drops that end the subscription
}

type policyKind uint8

const (
	policyBlock policyKind = iota
	policyDropNewest
	policyDropOldest
	policyDisconnect
)

// Block makes the publisher wait for room in the queue, for as long as its
// context allows and the bus is open. Nothing is lost; a slow subscriber
// slows the publishers of its topic.
func Block() Policy { return Policy{kind: policyBlock} }

// BlockFor is Block with a bound: a message that finds no room within d is
// dropped for this subscriber with reason ReasonTimeout. BlockFor(0) is
// Block(); a negative d is an error when the policy is used.
func BlockFor(d time.Duration) Policy { return Policy{kind: policyBlock, maxWait: d} }

// DropNewest never waits: a message that finds the queue full is dropped with
// reason ReasonFull. Good for metrics and logs.
func DropNewest() Policy { return Policy{kind: policyDropNewest} }

// DropOldest never waits: a message that finds the queue full evicts the
// oldest queued message, which is dropped with reason ReasonEvicted. Good for
// feeds where the latest value matters most.
func DropOldest() Policy { return Policy{kind: policyDropOldest} }

// DisconnectAfter drops like DropNewest and ends the subscription after n
// consecutive drops (the subscription's Err is then ErrDisconnected). The
// consumer re-subscribes when it can. n must be at least 1.
func DisconnectAfter(n int) Policy { return Policy{kind: policyDisconnect, after: n} }

// String returns the policy in the form UnmarshalText reads.
func (p Policy) String() string {
	switch p.kind {
	case policyBlock:
		if p.maxWait > 0 {
			return "block:" + p.maxWait.String()
		}
		return "block"
	case policyDropNewest:
		return "drop-newest"
	case policyDropOldest:
		return "drop-oldest"
	case policyDisconnect:
		return "disconnect:" + strconv.Itoa(p.after)
	}
	return fmt.Sprintf("policy(%d)", p.kind)
}

// MarshalText implements encoding.TextMarshaler.
func (p Policy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: it reads a policy from
// configuration ("block", "block:2s", "drop-newest", "drop-oldest" or
// "disconnect:N"; see String), so that a Policy field of a YAML or JSON
// config, or flag.TextVar, takes these forms. It leaves p unchanged on
// error.
func (p *Policy) UnmarshalText(b []byte) error {
	v, err := parsePolicy(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// parsePolicy reads a policy from configuration: "block", "block:2s",
// "drop-newest", "drop-oldest" or "disconnect:N".
func parsePolicy(s string) (Policy, error) {
	name, arg, hasArg := strings.Cut(s, ":")
	var p Policy
	switch name {
	case "block":
		if !hasArg {
			return Block(), nil
		}
		d, err := time.ParseDuration(arg)
		if err != nil {
			return p, fmt.Errorf("bus: policy %s: %s is not a duration like \"500ms\"", quote(s), quote(arg))
		}
		p = BlockFor(d)
	case "drop-newest", "drop-oldest":
		if hasArg {
			return p, fmt.Errorf("bus: policy %s takes no argument", quote(s))
		}
		if name == "drop-newest" {
			return DropNewest(), nil
		}
		return DropOldest(), nil
	case "disconnect":
		n, err := strconv.Atoi(arg)
		if !hasArg || err != nil {
			return p, fmt.Errorf("bus: policy %s: want disconnect:N with N the number of consecutive drops, like \"disconnect:10\"", quote(s))
		}
		p = DisconnectAfter(n)
	default:
		return p, fmt.Errorf("bus: unknown policy %s: want block, block:DURATION, drop-newest, drop-oldest or disconnect:N", quote(s))
	}
	return p, p.validate()
}

func (p Policy) validate() error {
	switch p.kind {
	case policyBlock:
		if p.maxWait < 0 {
			return fmt.Errorf("bus: policy %s: the maximum wait is %v, it must be positive (or 0 for no bound)", p, p.maxWait)
		}
	case policyDropNewest, policyDropOldest:
	case policyDisconnect:
		if p.after < 1 {
			return fmt.Errorf("bus: policy %s: the number of drops before a disconnect is %d, it must be at least 1", p, p.after)
		}
	default:
		return fmt.Errorf("bus: unknown policy %s", p)
	}
	return nil
}

// DropReason says why a message was not delivered to a subscriber.
type DropReason uint8

// The reasons a message can be dropped for one subscriber. A publisher that
// waited for room and whose wait ended (ReasonTimeout, ReasonCanceled) just
// as the subscription ended counts the message as the end's drop
// (ReasonUnsubscribed, ReasonShutdown, ReasonDisconnect): the end decides.
const (
	ReasonFull         DropReason = iota + 1 // the queue was full (DropNewest, DisconnectAfter)
	ReasonEvicted                            // evicted from a full queue by a newer message (DropOldest)
	ReasonTimeout                            // no room within the BlockFor bound
	ReasonCanceled                           // the publisher's context ended while it waited for room
	ReasonDisconnect                         // the subscription was disconnected by its policy
	ReasonUnsubscribed                       // the subscription ended before the message was delivered
	ReasonShutdown                           // the bus closed before the message was delivered
	numDropReasons
)

var reasonNames = [numDropReasons]string{
	"", "full", "evicted", "timeout", "canceled", "disconnect", "unsubscribed", "shutdown",
}

// DropReasons lists every reason, in order, for exporters.
func DropReasons() []DropReason {
	r := make([]DropReason, 0, numDropReasons-1)
	for i := ReasonFull; i < numDropReasons; i++ {
		r = append(r, i)
	}
	return r
}

// String returns the reason's name as used in stats and metrics labels.
func (r DropReason) String() string {
	if r > 0 && r < numDropReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// MarshalText implements encoding.TextMarshaler, so that JSON maps keyed by
// reason read well.
func (r DropReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }
