package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer for a writer on another goroutine; notify
// gets each write.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify func(string)
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify != nil {
		s.notify(string(p))
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkFinalTable checks that the final table says nothing was lost.
func checkFinalTable(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{
		"SUBSCRIBER", "PUBLISHED", "= DELIVERED", "+ DROPPED", "+ QUEUED",
		"audit ", "analytics ", "email ", "inventory-1 [inventory]", "confirm ", "email-dead-letters ",
		"nothing lost: for every subscriber published = delivered + dropped + queued, 0 queued after the drain",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "LOST") {
		t.Errorf("output reports a loss:\n%s", out)
	}
}

func TestRunForDuration(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, []string{"-duration", "1200ms", "-rate", "200", "-log", "error"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	checkFinalTable(t, out)
	for _, want := range []string{"fxbus example app on http://127.0.0.1:", "stopping (-duration 1.2s passed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if stderr.String() != "" {
		t.Errorf("errors logged:\n%s", stderr.String())
	}
}

func TestRunUntilCanceled(t *testing.T) {
	// What main does on SIGINT or SIGTERM: the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stdout := syncBuffer{notify: func(s string) {
		if strings.Contains(s, "   1s  http ") { // the first progress line
			cancel()
		}
	}}
	var stderr syncBuffer
	err := run(ctx, []string{"-duration", "0", "-rate", "100", "-log", "error"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "stopping (interrupted)") {
		t.Errorf("output lacks the interrupt:\n%s", out)
	}
	checkFinalTable(t, out)
}

func TestMainStopsOnSIGTERM(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1", argsEnv+"=-duration 0 -rate 100 -log error")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	lines := bufio.NewScanner(stdoutPipe)
	for lines.Scan() { // until the first progress line: the app runs
		out.WriteString(lines.Text() + "\n")
		if strings.HasPrefix(lines.Text(), "   1s  http ") {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(stdoutPipe)
	out.Write(rest)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("app exited with %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "stopping (") {
		t.Errorf("no orderly stop:\n%s", out.String())
	}
	checkFinalTable(t, out.String())
}

func TestFlags(t *testing.T) {
	t.Run("help", func(t *testing.T) {
		var stdout, stderr syncBuffer
		if err := run(context.Background(), []string{"-help"}, &stdout, &stderr); err != nil {
			t.Fatalf("run -help: %v", err)
		}
		for _, want := range []string{"Usage: app [flags]", "-duration", "-rate", "-addr host:port", "-log level", "0 runs until Ctrl-C", "-trace", "-rate 1 keeps the output readable"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("usage lacks %q:\n%s", want, stderr.String())
			}
		}
	})
	tests := []struct {
		args  []string
		want  string
		usage bool // a mistake in the command line: exit status 2
	}{
		{[]string{"-duration", "soon"}, `invalid value "soon" for flag -duration`, true},
		{[]string{"-duration", "-1s"}, "-duration -1s: use a positive duration", true},
		{[]string{"-rate", "-5"}, "-rate -5: use 0 to 100000", true},
		{[]string{"-log", "loud"}, `invalid value "loud" for flag -log`, true},
		{[]string{"extra"}, `unexpected argument "extra"`, true},
		{[]string{"-addr", "127.0.0.1:99999", "-rate", "0"}, "listen on -addr 127.0.0.1:99999", false},
		{[]string{"-trace=maybe"}, `invalid boolean value "maybe" for -trace`, true},
		// The start fails after the TracerProvider was built: the rollback
		// shuts it down (TestMain's leak check fails otherwise).
		{[]string{"-trace", "-addr", "127.0.0.1:99999", "-rate", "0"}, "listen on -addr 127.0.0.1:99999", false},
		{[]string{"-nats-listen", "127.0.0.1:4222", "-nats-url", "nats://127.0.0.1:4222"}, "-nats-listen and -nats-url: give one", true},
		{[]string{"-nats-url", "nats://127.0.0.1:4222", "-nats-replicas", "0"}, "-nats-replicas 0: use 1 to 5", true},
		{[]string{"-nats-url", "nats://127.0.0.1:4222", "-nats-replicas", "three"}, `invalid value "three" for flag -nats-replicas`, true},
		{[]string{"-nats-listen", "127.0.0.1:4222", "-nats-replicas", "3"}, "replicas need a cluster", true},
		{[]string{"-nats-replicas", "3"}, "replicas need a cluster", true},
		{[]string{"-nats-url", "nats://127.0.0.1:4222", "-nats-store", "streams"}, "-nats-store streams: only for the embedded server", true},
		{[]string{"-nats-url", "127.0.0.1:4222, 127.0.0.1:4223"}, "write each server as nats://host:port", true},
		{[]string{"-nats-url", "nats://127.0.0.1:1", "-rate", "0"}, "connect to nats://127.0.0.1:1", false},
		{[]string{"-nats-listen", "nowhere"}, `-nats-listen "nowhere": want host:port`, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr syncBuffer
			err := run(ctx, tt.args, &stdout, &stderr)
			if err == nil || errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run %v: %v, want an error", tt.args, err)
			}
			var usage usageError
			if isUsage := errors.As(err, &usage); isUsage != tt.usage {
				t.Errorf("run %v: %v is a usage error: %v, want %v", tt.args, err, isUsage, tt.usage)
			}
			if tt.usage && !strings.Contains(stderr.String(), "Usage: app [flags]") {
				t.Errorf("run %v: no usage printed", tt.args)
			}
			if !strings.Contains(err.Error()+stderr.String(), tt.want) {
				t.Errorf("run %v: %v (stderr %q), want %q", tt.args, err, stderr.String(), tt.want)
			}
		})
	}
}
