package natsbridge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/zap"
)

// connect opens the bridge's connection: in process to the embedded server
// emb, or to cfg.URLs. It reconnects for ever, with jittered waits and a
// bounded buffer, and logs and counts every change of state.
func connect(ctx context.Context, cfg Config, emb *embedded, log *zap.Logger, m *metrics, closed func()) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.ReconnectJitter(cfg.ReconnectJitter, cfg.ReconnectJitter),
		nats.ReconnectBufSize(cfg.ReconnectBuffer),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.Status() != nats.RECONNECTING {
				return // closing: the closed handler says so
			}
			m.setState(StateReconnecting)
			log.Warn("disconnected from NATS, reconnecting", zap.Error(err))
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			m.setState(StateConnected)
			m.reconnects.Inc()
			log.Info("reconnected to NATS", zap.String("url", nc.ConnectedUrlRedacted()))
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			m.setState(StateClosed)
			log.Debug("connection to NATS closed")
			closed()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", zap.String("subscription", subject), zap.Error(err))
		}),
	}
	if d, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(max(time.Until(d), 100*time.Millisecond)))
	}
	url := strings.Join(cfg.URLs, ",")
	if emb != nil {
		opts = append(opts, nats.InProcessServer(emb.srv))
		url = ""
	}
	// The bridge's options come last: its handlers replace any given ones.
	nc, err := nats.Connect(url, append(slices.Clone(cfg.ConnectOptions), opts...)...)
	if err != nil {
		if emb != nil {
			return nil, fmt.Errorf("natsbridge: connect to the embedded server: %w", err)
		}
		return nil, fmt.Errorf("natsbridge: connect to %s: %w: check Config.URLs (a NATS server with JetStream must listen there), or leave them empty to run an embedded server", url, err)
	}
	m.setState(StateConnected)
	return nc, nil
}
