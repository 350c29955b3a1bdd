package natsbridge

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"reflect"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/fxbus/fxbus/bus"
)

// The headers of an exported event: CloudEvents 1.0 in binary content mode
// (the event's attributes in headers, its data as the payload), the
// correlation ID of its chain, and Nats-Msg-Id for the stream's duplicate
// window. NATS headers are case-sensitive: these are the exact names.
const (
	HeaderSpecVersion   = "ce-specversion" // always "1.0"
	HeaderID            = "ce-id"          // unique per event; retries of one export keep it
	HeaderType          = "ce-type"        // the event's type name (EventType)
	HeaderSource        = "ce-source"      // the exporting app (Config.Source)
	HeaderTime          = "ce-time"        // when it was exported, RFC 3339 in UTC
	HeaderContentType   = "content-type"   // the Codec's content type
	HeaderCorrelationID = "Fxbus-Correlation-Id"
	HeaderMsgID         = jetstream.MsgIDHeader // "Nats-Msg-Id", equal to ce-id
)

// HeaderPropagator carries a trace across the bridge: Inject writes the
// trace of an exported event's context into its headers (W3C traceparent
// and tracestate with package otelfxbus), Extract puts the trace of an
// imported message's headers into the context its handlers get. Provide one
// in the fx graph (otelfxbus.Headers) and the bridge uses it; without one
// no trace header is written or read. It must be safe for concurrent use.
type HeaderPropagator interface {
	Inject(ctx context.Context, h map[string][]string)
	Extract(ctx context.Context, h map[string][]string) context.Context
}

// The headers a dead letter adds to the original message's headers (the
// payload is the original's, byte for byte). None ends in "Nats-Msg-Id",
// which old servers would take for a deduplication ID.
const (
	HeaderDLQSubject    = "Fxbus-Dlq-Subject"    // the subject the message was published on
	HeaderDLQStream     = "Fxbus-Dlq-Stream"     // the stream that held it
	HeaderDLQSequence   = "Fxbus-Dlq-Sequence"   // its sequence number in that stream
	HeaderDLQConsumer   = "Fxbus-Dlq-Consumer"   // the durable consumer that gave up
	HeaderDLQDeliveries = "Fxbus-Dlq-Deliveries" // how many times it was delivered
	HeaderDLQError      = "Fxbus-Dlq-Error"      // the last handler error, or the decode error
	HeaderDLQReason     = "Fxbus-Dlq-Reason"     // "handler" or "decode"
)

const specVersion = "1.0"

var specVersionValue = []string{specVersion}

// envelope is what an export writes around each event of one type, and
// what an import checks: the values shared by every message, made once.
type envelope struct {
	typ         []string
	source      []string
	contentType []string
	strictType  bool // an import that was given EventType checks ce-type
}

func newEnvelope(typ, source string, c Codec, strict bool) envelope {
	return envelope{
		typ:         []string{typ},
		source:      []string{source},
		contentType: []string{c.ContentType()},
		strictType:  strict,
	}
}

// message returns the NATS message of one exported event.
func (e *envelope) message(subject, id string, corr bus.CorrelationID, now time.Time, data []byte) *nats.Msg {
	ids := []string{id}
	h := nats.Header{
		HeaderSpecVersion:   specVersionValue,
		HeaderID:            ids,
		HeaderType:          e.typ,
		HeaderSource:        e.source,
		HeaderTime:          {now.UTC().Format(time.RFC3339Nano)},
		HeaderContentType:   e.contentType,
		HeaderCorrelationID: {corr.String()},
		HeaderMsgID:         ids,
	}
	return &nats.Msg{Subject: subject, Header: h, Data: data}
}

// incoming is what an import reads from a message's headers.
type incoming struct {
	corr    bus.CorrelationID // zero: the message carried none
	eventID string
}

// read checks a message's headers against what the import expects. A
// message from a producer that sets no CloudEvents headers is accepted; one
// that names another spec version, content type or (with EventType) event
// type is not.
func (e *envelope) read(h nats.Header) (incoming, error) {
	var in incoming
	if v := first(h, HeaderSpecVersion); v != "" && v != specVersion {
		return in, fmt.Errorf("%s is %q, want %q", HeaderSpecVersion, v, specVersion)
	}
	if v := first(h, HeaderContentType); v != "" && v != e.contentType[0] {
		return in, fmt.Errorf("%s is %q, but the import's codec reads %q", HeaderContentType, v, e.contentType[0])
	}
	if e.strictType {
		if v := first(h, HeaderType); v != e.typ[0] {
			return in, fmt.Errorf("%s is %q, want %q", HeaderType, v, e.typ[0])
		}
	}
	in.eventID = first(h, HeaderID)
	if v := first(h, HeaderCorrelationID); v != "" {
		// An ID that does not parse is not worth losing the event for: the
		// bus gives the message a new one.
		_ = in.corr.UnmarshalText([]byte(v))
	}
	return in, nil
}

// first returns the first value of a header, by its exact name.
func first(h nats.Header, name string) string {
	if v := h[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// ids makes event IDs: a random prefix per bridge and a counter, so that
// they are unique without a random read per event.
type ids struct {
	prefix string
	n      atomic.Uint64
}

func newIDs() *ids {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return &ids{prefix: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]) + "-"}
}

func (g *ids) next() string { return g.prefix + strconv.FormatUint(g.n.Add(1), 10) }

// typeName is the default event type of T: its package path and name, like
// "github.com/acme/shop/orders.OrderPlaced". It changes when the type moves
// or is renamed: give long-lived contracts an EventType of their own.
func typeName[T any]() string {
	t := reflect.TypeFor[T]()
	if t.Name() == "" || t.PkgPath() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}
