package natsbridge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/zap"
)

// embedded is a nats-server running in the process, with its store lock.
type embedded struct {
	srv  *server.Server
	lock *dirLock
}

// startEmbedded starts a JetStream server in cfg.StoreDir and waits until it
// takes clients. It listens on no port unless cfg.Listen says where, and
// leaves the process's signals alone (NoSigs): the app decides when to stop.
func startEmbedded(ctx context.Context, cfg Embedded, log *zap.Logger) (*embedded, error) {
	if err := os.MkdirAll(cfg.StoreDir, 0o750); err != nil {
		return nil, fmt.Errorf("natsbridge: store dir %q cannot be created (%w): set Config.Embedded.StoreDir to a directory this process may write", cfg.StoreDir, err)
	}
	lock, err := lockDir(cfg.StoreDir)
	if err != nil {
		return nil, err
	}
	opts, err := serverOptions(cfg)
	if err != nil {
		_ = lock.unlock()
		return nil, err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		_ = lock.unlock()
		return nil, fmt.Errorf("natsbridge: embedded server: %w", err)
	}
	srv.SetLoggerV2(serverLog{log.Named("server").Sugar()}, false, false, false)
	srv.Start()
	e := &embedded{srv: srv, lock: lock}
	if err := e.ready(ctx); err != nil {
		e.stop()
		return nil, err
	}
	return e, nil
}

func serverOptions(cfg Embedded) (*server.Options, error) {
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		DontListen:         cfg.Listen == "",
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		NoSigs:             true,
		NoSystemAccount:    true,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("natsbridge: Config.Embedded.Listen %q: want host:port, like 127.0.0.1:4222 (port 0 picks a free one)", cfg.Listen)
		}
		if p == 0 {
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	return opts, nil
}

// ready waits until the server takes clients and JetStream runs, within ctx.
func (e *embedded) ready(ctx context.Context) error {
	wait := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if !e.srv.ReadyForConnections(wait) {
		return fmt.Errorf("natsbridge: the embedded server was not ready within %v (is Config.Embedded.Listen %q free?)", wait.Round(time.Millisecond), e.srv.ClientURL())
	}
	if !e.srv.JetStreamEnabled() {
		return errors.New("natsbridge: the embedded server runs without JetStream: check that Config.Embedded.StoreDir is writable and MaxMemory/MaxStore fit the machine (the server's log says more)")
	}
	return nil
}

// stop shuts the server down, waits until it has, and releases the store.
func (e *embedded) stop() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	_ = e.lock.unlock()
}

// serverLog writes the embedded server's log through zap: its notices at
// debug (they are many and routine), the rest at their own level.
type serverLog struct{ l *zap.SugaredLogger }

func (s serverLog) Noticef(format string, v ...any) { s.l.Debugf(format, v...) }
func (s serverLog) Warnf(format string, v ...any)   { s.l.Warnf(format, v...) }
func (s serverLog) Fatalf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLog) Errorf(format string, v ...any)  { s.l.Errorf(format, v...) }
func (s serverLog) Debugf(format string, v ...any)  { s.l.Debugf(format, v...) }
func (s serverLog) Tracef(format string, v ...any)  {}
