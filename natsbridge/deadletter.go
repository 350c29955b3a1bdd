package natsbridge

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// deadLetterTimeout bounds the wait for the dead-letter stream's ack.
const deadLetterTimeout = 5 * time.Second

// deadLetterSubject returns the dead-letter subject of the messages of
// subject; pattern is the dead-letter subject format (see consumer.dlq).
func deadLetterSubject(pattern, subject string) string {
	if !strings.Contains(pattern, "%s") {
		return pattern
	}
	return fmt.Sprintf(pattern, subject)
}

// deadLetter publishes m, byte for byte with its headers, to the dead-letter
// subject with what happened to it, waits for the stream's ack, and then
// acks m. If the dead letter cannot be stored, m is given back instead, to
// come again after the backoff: it is never dropped.
func (c *consumer) deadLetter(m jetstream.Msg, meta *jetstream.MsgMetadata, reason string, cause error) {
	dl := &nats.Msg{
		Subject: deadLetterSubject(c.dlq, m.Subject()),
		Header:  make(nats.Header, len(m.Headers())+8),
		Data:    m.Data(),
	}
	for k, v := range m.Headers() {
		if k != HeaderMsgID {
			dl.Header[k] = v
		}
	}
	seq := strconv.FormatUint(meta.Sequence.Stream, 10)
	dl.Header[HeaderDLQSubject] = []string{m.Subject()}
	dl.Header[HeaderDLQStream] = []string{meta.Stream}
	dl.Header[HeaderDLQSequence] = []string{seq}
	dl.Header[HeaderDLQConsumer] = []string{meta.Consumer}
	dl.Header[HeaderDLQDeliveries] = []string{strconv.FormatUint(meta.NumDelivered, 10)}
	dl.Header[HeaderDLQError] = []string{headerValue(cause.Error())}
	dl.Header[HeaderDLQReason] = []string{reason}
	// If the ack of m is lost after the dead letter was stored, the message
	// comes again and is dead-lettered again: the same ID makes the
	// dead-letter stream drop the second copy.
	dl.Header[HeaderMsgID] = []string{meta.Stream + ":" + meta.Consumer + ":" + seq}

	ctx, cancel := context.WithTimeout(context.Background(), deadLetterTimeout)
	defer cancel()
	if _, err := c.js.PublishMsg(ctx, dl); err != nil {
		c.log.Error("dead letter not stored: the message will be delivered again",
			zap.String("subject", m.Subject()), zap.String("dead_letter_subject", dl.Subject),
			zap.Uint64("stream_sequence", meta.Sequence.Stream), zap.Error(err))
		c.nak(m, c.backoff(meta.NumDelivered))
		return
	}
	if reason == "decode" {
		c.deadDecode.Inc()
	} else {
		c.deadHandler.Inc()
	}
	c.log.Warn("message dead-lettered",
		zap.String("subject", m.Subject()), zap.String("dead_letter_subject", dl.Subject),
		zap.String("id", first(m.Headers(), HeaderID)), zap.Uint64("stream_sequence", meta.Sequence.Stream),
		zap.Uint64("deliveries", meta.NumDelivered), zap.String("reason", reason), zap.Error(cause))
	c.ack(m)
}

// headerValue makes s fit in a NATS header: one line, at most 1 KiB.
func headerValue(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
	if len(s) > 1024 {
		s = s[:1021] + "..."
	}
	return s
}
