package natsbridge

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/fxbus/fxbus/bus"
)

// Defaults of an Export.
const (
	DefaultInFlight       = 1024             // publishes waiting for the stream's ack, per Export
	DefaultExportAttempts = 6                // tries of one publish, the first included
	DefaultAckTimeout     = 10 * time.Second // how long one publish waits for the stream's ack
)

// Defaults of an Import.
const (
	DefaultAckWait       = 30 * time.Second // the server redelivers a message not acked within it
	DefaultMaxAckPending = 1000             // delivered but unacked messages, per durable consumer
	DefaultPrefetch      = 128              // messages the client pulls ahead, per Import
	DefaultAttempts      = 5                // deliveries of a failing message before it is dead-lettered
)

// DefaultBackoff is how long an import waits before a failed message is
// delivered again, by failed delivery (the last value repeats); each wait
// loses up to a fifth of its length at random so that messages that failed
// together do not come back together.
var DefaultBackoff = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second, 2 * time.Minute}

// ExportOption configures an Export.
type ExportOption interface{ applyExport(*exportSpec) }

// ImportOption configures an Import.
type ImportOption interface{ applyImport(*importSpec) }

// Option configures an Export or an Import alike.
type Option interface {
	ExportOption
	ImportOption
}

type exportOption func(*exportSpec)

func (f exportOption) applyExport(s *exportSpec) { f(s) }

type importOption func(*importSpec)

func (f importOption) applyImport(s *importSpec) { f(s) }

// both is an Option that sets the envelope of either side.
type both func(*envelopeSpec)

func (f both) applyExport(s *exportSpec) { f(&s.envelopeSpec) }
func (f both) applyImport(s *importSpec) { f(&s.envelopeSpec) }

// envelopeSpec is what Export and Import share: how the event is written.
type envelopeSpec struct {
	eventType string // "" until the default is applied
	strict    bool   // EventType was given
	codec     Codec
	errs      []string
}

// EventType sets the ce-type of the events: an export writes it, an import
// dead-letters messages that carry another one. The default is the Go type's
// package path and name ("github.com/acme/shop/orders.OrderPlaced"), which an
// import does not check (another service may declare the same event in
// another package); name long-lived contracts, like "com.acme.order.placed".
func EventType(name string) Option {
	return both(func(s *envelopeSpec) {
		if name == "" {
			s.errs = append(s.errs, "EventType: empty name")
			return
		}
		s.eventType, s.strict = name, true
	})
}

// WithCodec sets the Codec of the events, instead of Config.Codec (JSON by
// default).
func WithCodec(c Codec) Option {
	return both(func(s *envelopeSpec) {
		if c == nil {
			s.errs = append(s.errs, "WithCodec: nil Codec")
			return
		}
		s.codec = c
	})
}

type exportSpec struct {
	envelopeSpec
	pattern   string
	name      string
	inFlight  int
	attempts  int
	backoff   [2]time.Duration // initial, ceiling
	subscribe []bus.SubscribeOption
}

func newExportSpec(pattern string, opts []ExportOption) exportSpec {
	s := exportSpec{
		pattern:  pattern,
		name:     "natsbridge.export",
		inFlight: DefaultInFlight,
		attempts: DefaultExportAttempts,
		backoff:  [2]time.Duration{100 * time.Millisecond, 5 * time.Second},
	}
	for _, o := range opts {
		if o == nil {
			s.errs = append(s.errs, "nil option")
			continue
		}
		o.applyExport(&s)
	}
	return s
}

func (s *exportSpec) err() error {
	if err := bus.ValidatePattern(s.pattern); err != nil {
		s.errs = append(s.errs, err.Error())
	}
	if len(s.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(s.errs, "; "))
}

// InFlight bounds how many of the export's publishes may wait for the
// stream's ack at once (default DefaultInFlight). At the bound the export's
// bus subscription stops taking messages, its queue fills, and the local
// publishers wait or drop by its policy (ExportSubscribeOptions): memory does
// not grow with a slow or absent server.
func InFlight(n int) ExportOption {
	return exportOption(func(s *exportSpec) {
		if n < 1 {
			s.errs = append(s.errs, fmt.Sprintf("InFlight(%d): want at least 1", n))
			return
		}
		s.inFlight = n
	})
}

// PublishRetry sets how many times a publish the stream did not ack is tried
// in all (the first included; default DefaultExportAttempts), waiting from
// initial, doubling up to ceiling, in between (default 100ms to 5s). Every
// try carries the same Nats-Msg-Id, so a publish whose ack was lost is stored
// once. The start fails if attempts × DefaultAckTimeout plus the waits is
// longer than the stream's duplicate window (2 minutes by default), where a
// late retry could be stored twice.
func PublishRetry(attempts int, initial, ceiling time.Duration) ExportOption {
	return exportOption(func(s *exportSpec) {
		if attempts < 1 || initial <= 0 || ceiling < initial {
			s.errs = append(s.errs, fmt.Sprintf("PublishRetry(%d, %v, %v): want attempts >= 1 and 0 < initial <= ceiling", attempts, initial, ceiling))
			return
		}
		s.attempts, s.backoff = attempts, [2]time.Duration{initial, ceiling}
	})
}

// ExportName names the export's bus subscription in stats and metrics
// (default "natsbridge.export"); two exports of overlapping patterns need
// different names.
func ExportName(name string) ExportOption {
	return exportOption(func(s *exportSpec) { s.name = name })
}

// ExportSubscribeOptions passes options to the export's bus subscription:
// bus.Buffer, and bus.WithPolicy for what local publishers do while the
// export is at its InFlight bound (bus.Block, the default, makes them wait).
func ExportSubscribeOptions(opts ...bus.SubscribeOption) ExportOption {
	return exportOption(func(s *exportSpec) { s.subscribe = append(s.subscribe, opts...) })
}

type importSpec struct {
	envelopeSpec
	subject       string
	durable       string
	stream        string
	workers       int
	ackWait       time.Duration
	maxAckPending int
	prefetch      int
	attempts      int
	backoff       []time.Duration
	ordered       bool
	deliver       jetstream.DeliverPolicy
	startSeq      uint64
	startTime     time.Time
	deadLetter    string
}

func newImportSpec(subject string, opts []ImportOption) importSpec {
	s := importSpec{
		subject:       subject,
		workers:       1,
		ackWait:       DefaultAckWait,
		maxAckPending: DefaultMaxAckPending,
		prefetch:      DefaultPrefetch,
		attempts:      DefaultAttempts,
		backoff:       DefaultBackoff,
	}
	for _, o := range opts {
		if o == nil {
			s.errs = append(s.errs, "nil option")
			continue
		}
		o.applyImport(&s)
	}
	if s.ordered {
		s.workers, s.maxAckPending, s.prefetch = 1, 1, 1
	}
	s.prefetch = min(s.prefetch, s.maxAckPending)
	return s
}

func (s *importSpec) err() error {
	if err := bus.ValidatePattern(s.subject); err != nil {
		s.errs = append(s.errs, err.Error())
	}
	if s.durable != "" {
		if err := validName("Durable", s.durable); err != nil {
			s.errs = append(s.errs, err.Error())
		}
	}
	if len(s.errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(s.errs, "; "))
}

// validName checks a stream or consumer name: JetStream forbids '.', '*',
// '>', path separators and white space in them.
func validName(what, name string) error {
	if name == "" || strings.ContainsAny(name, ".*>/\\ \t\r\n") {
		return fmt.Errorf("%s %q: use letters, digits, '-' and '_' (no '.', '*', '>', '/', '\\' or spaces)", what, name)
	}
	return nil
}

// Durable names the import's durable consumer. Instances of a service that
// import a subject with the same durable name split its messages (a consumer
// group); imports with different names each get every message. The consumer
// outlives the app: the next start carries on where it stopped. The default
// is Config.Name, '_', and the subject with '.' as '~', '*' as '+' and '>'
// as '#' ("orders.placed" in app "billing": "billing_orders~placed").
func Durable(name string) ImportOption {
	return importOption(func(s *importSpec) { s.durable = name })
}

// FromStream names the stream the import consumes; by default it is the
// stream of Config.Streams (or the default stream) that captures the subject.
func FromStream(name string) ImportOption {
	return importOption(func(s *importSpec) { s.stream = name })
}

// Workers sets how many messages the import hands to the bus at once
// (default 1, in stream order while none fails). Ordered ignores it.
func Workers(n int) ImportOption {
	return importOption(func(s *importSpec) {
		if n < 1 {
			s.errs = append(s.errs, fmt.Sprintf("Workers(%d): want at least 1", n))
			return
		}
		s.workers = n
	})
}

// AckWait sets how long the server waits for a delivered message's ack
// before delivering it again (default DefaultAckWait). While the local
// handlers run, the import tells the server every third of it that the
// message is in progress, so a long handler is not redelivered under it;
// crash recovery takes about one AckWait, so do not raise it for slow
// handlers.
func AckWait(d time.Duration) ImportOption {
	return importOption(func(s *importSpec) {
		if d < time.Second {
			s.errs = append(s.errs, fmt.Sprintf("AckWait(%v): want at least 1s", d))
			return
		}
		s.ackWait = d
	})
}

// MaxAckPending bounds the messages delivered to the durable consumer and not
// yet acked, over all the instances that share it (default
// DefaultMaxAckPending). It is the prefetch knob of seed section 8: size it
// at about twice what the instances together handle within one AckWait;
// larger, a slow instance hoards messages that others could handle.
func MaxAckPending(n int) ImportOption {
	return importOption(func(s *importSpec) {
		if n < 1 {
			s.errs = append(s.errs, fmt.Sprintf("MaxAckPending(%d): want at least 1", n))
			return
		}
		s.maxAckPending = n
	})
}

// Prefetch sets how many messages this instance pulls ahead of its handlers
// (default DefaultPrefetch, never above MaxAckPending). A prefetched message
// ages on the server's AckWait clock: keep Prefetch × the handlers' time per
// message within half the AckWait.
func Prefetch(n int) ImportOption {
	return importOption(func(s *importSpec) {
		if n < 1 {
			s.errs = append(s.errs, fmt.Sprintf("Prefetch(%d): want at least 1", n))
			return
		}
		s.prefetch = n
	})
}

// MaxDeliver sets how many deliveries a message whose handlers fail gets
// before it goes to the dead-letter subject (default DefaultAttempts). The
// consumer's own MaxDeliver is one more, so that a crash during the last
// delivery still leads to a dead letter rather than a stranded message.
func MaxDeliver(n int) ImportOption {
	return importOption(func(s *importSpec) {
		if n < 1 {
			s.errs = append(s.errs, fmt.Sprintf("MaxDeliver(%d): want at least 1", n))
			return
		}
		s.attempts = n
	})
}

// Backoff sets the waits before a failed message is delivered again, by
// failed delivery, the last repeating (default DefaultBackoff). The import
// naks with this delay (NakWithDelay); it sets no consumer BackOff, which
// would replace AckWait.
func Backoff(waits ...time.Duration) ImportOption {
	return importOption(func(s *importSpec) {
		if len(waits) == 0 {
			s.errs = append(s.errs, "Backoff: no waits")
			return
		}
		for _, w := range waits {
			if w < 0 {
				s.errs = append(s.errs, fmt.Sprintf("Backoff(%v): negative wait", waits))
				return
			}
		}
		s.backoff = waits
	})
}

// Ordered delivers the subject's messages one at a time in stream order:
// MaxAckPending, Prefetch and Workers 1, over every instance of the durable.
// A failing message holds up the ones behind it until it is handled or
// dead-lettered. Slower: use it only for what needs the order.
func Ordered() ImportOption {
	return importOption(func(s *importSpec) { s.ordered = true })
}

// DeliverAll starts a new durable at the stream's first message: the default,
// so that a consumer deployed after its producer gets the backlog. Where to
// start matters only when the durable is created; an existing one carries on
// from its ack floor.
func DeliverAll() ImportOption {
	return importOption(func(s *importSpec) { s.deliver = jetstream.DeliverAllPolicy })
}

// DeliverNew starts a new durable with the messages published after it was
// created.
func DeliverNew() ImportOption {
	return importOption(func(s *importSpec) { s.deliver = jetstream.DeliverNewPolicy })
}

// DeliverLastPerSubject starts a new durable with the last message of each
// subject the import's subject matches, then everything after.
func DeliverLastPerSubject() ImportOption {
	return importOption(func(s *importSpec) { s.deliver = jetstream.DeliverLastPerSubjectPolicy })
}

// StartAtSequence starts a new durable at the stream's message number seq.
func StartAtSequence(seq uint64) ImportOption {
	return importOption(func(s *importSpec) {
		if seq == 0 {
			s.errs = append(s.errs, "StartAtSequence(0): sequences start at 1")
			return
		}
		s.deliver, s.startSeq = jetstream.DeliverByStartSequencePolicy, seq
	})
}

// StartAtTime starts a new durable at the first message stored at or after t.
func StartAtTime(t time.Time) ImportOption {
	return importOption(func(s *importSpec) {
		if t.IsZero() {
			s.errs = append(s.errs, "StartAtTime: zero time")
			return
		}
		s.deliver, s.startTime = jetstream.DeliverByStartTimePolicy, t
	})
}

// DeadLetterSubject sets the subject of the import's dead letters. The
// default is Config.DeadLetters' prefix, the durable's name and the original
// subject: "fxbus.dead-letter.billing.orders.placed". A stream must capture
// it (the dead-letter stream does for the default).
func DeadLetterSubject(subject string) ImportOption {
	return importOption(func(s *importSpec) { s.deadLetter = subject })
}
