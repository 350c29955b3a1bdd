package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/fx"

	"github.com/fxbus/fxbus/bus"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case errors.As(err, &usage): // already printed, with the usage
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

// startTimeout and stopTimeout bound the app's start and stop.
const (
	startTimeout = 15 * time.Second
	stopTimeout  = 15 * time.Second
)

// run runs the app until ctx ends, -duration passes, or the app shuts
// itself down, then stops it and prints the final table to stdout. Logs go
// to stderr. It returns an error if the app failed, or lost a message.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	out := &lockedWriter{w: stdout}
	logger := newLogger(stderr, s.LogLevel)
	defer func() { _ = logger.Sync() }()

	var p parts
	share := &bridgeShare{}
	app := fx.New(
		coreOptions(s, logger),
		bridgeOptions(s.Bridge, share),
		traceOptions(s.Trace, out),
		serveOptions(),
		trafficOptions(out),
		fx.Populate(&p.b, &p.st, &p.api, &p.srv, &p.tr),
		fx.StartTimeout(startTimeout),
		fx.StopTimeout(stopTimeout),
	)
	if err := app.Err(); err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	fmt.Fprintf(out, "fxbus example app on %s: %g orders/s for %s (Ctrl-C stops it sooner)\n", p.srv.URL(), s.Rate, durationText(s.Duration))
	fmt.Fprintf(out, "  curl -s %s/debug/fxbus   curl -s %s/metrics | grep ^fxbus_\n", p.srv.URL(), p.srv.URL())
	fmt.Fprintln(out, "every second: orders over http | per topic, published: per subscriber, delivered (dropped, queued)")

	why, err := waitForStop(ctx, app, s.Duration)
	fmt.Fprintf(out, "stopping (%s)...\n", why)
	reportErr := stopAndReport(app, out, s.Rate > 0, &p)
	share.print(out)
	return errors.Join(err, reportErr)
}

// parts are the app's components that run reads.
type parts struct {
	b   *bus.Bus
	st  *Store
	api *orderAPI
	srv *server
	tr  *traffic
}

// stopAndReport stops the app and prints the final table; the error is the
// stop's, joined with what the table found lost.
func stopAndReport(app *fx.App, out io.Writer, traffic bool, p *parts) error {
	// A fresh context: run's may be the one that just ended.
	stopCtx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	began := time.Now()
	stopErr := app.Stop(stopCtx)
	tc := p.tr.counts()
	r := finalReport{
		Stats:    p.b.Stats(),
		Store:    p.st.Snapshot(),
		API:      p.api.counts(),
		StopTook: time.Since(began),
		StopErr:  stopErr,
	}
	if traffic {
		r.Traffic = &tc
	}
	r.print(out)
	if lost := r.problems(); len(lost) > 0 {
		return errors.Join(stopErr, fmt.Errorf("%d problems: %v", len(lost), lost))
	}
	return stopErr
}

// waitForStop waits until ctx ends, d passes (0: never) or the app shuts
// itself down, and says why; the error is set when the app shut itself
// down with a non-zero exit code.
func waitForStop(ctx context.Context, app *fx.App, d time.Duration) (why string, err error) {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		why = "interrupted" // by a test, or a signal that main's context caught
		if c := context.Cause(ctx); c != nil && c != context.Canceled {
			why = c.Error()
		}
	case <-timeout:
		why = fmt.Sprintf("-duration %v passed", d)
	case sig := <-app.Wait(): // fx's own SIGINT/SIGTERM handling, or fx.Shutdowner
		why = fmt.Sprintf("%v signal received", sig.Signal)
		if sig.ExitCode != 0 {
			why = fmt.Sprintf("the app shut itself down with exit code %d", sig.ExitCode)
			err = errors.New(why)
		}
	}
	return why, err
}

func durationText(d time.Duration) string {
	if d <= 0 {
		return "as long as it runs"
	}
	return d.String()
}

const usageText = `Usage: app [flags]

A small order service built on fxbus: an HTTP API that publishes an event per
order, handlers with different slow-subscriber policies (block, a queue group
with an ordering key, drop-oldest, retries and dead letters, a chain of
events), /metrics and /debug/fxbus. A built-in traffic generator posts orders
to it; a line a second shows the bus's counters, and at the end a table shows
that nothing queued was lost at shutdown. With -trace it also writes the
OpenTelemetry spans of every publish and handler call to stdout, one line of
JSON per span: add -rate 1 to keep the output readable.

Flags:
`

// usageError is a mistake in the command line, printed with the usage.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// parseFlags reads the command line. -help prints the usage and returns
// flag.ErrHelp; a mistake prints the usage and returns a usageError.
func parseFlags(args []string, stderr io.Writer) (settings, error) {
	s := defaultSettings()
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	fs.DurationVar(&s.Duration, "duration", s.Duration, "how long to run before stopping by itself; 0 runs until Ctrl-C (SIGINT) or SIGTERM")
	fs.Float64Var(&s.Rate, "rate", s.Rate, "orders per second that the traffic generator posts; 0 turns it off (the API still serves)")
	fs.StringVar(&s.Addr, "addr", s.Addr, "`host:port` for the HTTP server; port 0 picks a free port")
	fs.TextVar(&s.LogLevel, "log", s.LogLevel, "log `level` on stderr: debug, info, warn or error")
	s.Bridge.register(fs)
	fs.BoolVar(&s.Trace, "trace", s.Trace, "write every span of the bus (OpenTelemetry) to stdout, a line of JSON each; -rate 1 keeps the output readable")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return s, err
		}
		return s, usageError{err} // the flag package printed it
	}
	var err error
	switch {
	case fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q: app takes only flags", fs.Arg(0))
	case s.Duration < 0:
		err = fmt.Errorf("-duration %v: use a positive duration, or 0 to run until interrupted", s.Duration)
	case s.Rate < 0 || s.Rate > 100_000:
		err = fmt.Errorf("-rate %g: use 0 to 100000 orders per second", s.Rate)
	default:
		err = s.Bridge.check()
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return s, usageError{err}
	}
	return s, nil
}
