package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// runMainEnv makes the test binary run main instead of the tests.
const runMainEnv = "FXBUS_QUICKSTART_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		// app.Run listens for signals only once the app has started, after
		// the handler may have printed: a SIGTERM sent in between must not
		// kill the program, so the test can send another.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM)
		os.Args = os.Args[:1]
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestQuickstart runs the program as it is written: it handles its order,
// then stops cleanly on SIGTERM.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // fx's log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "order placed: A-1" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("first line %q, want %q; stderr:\n%s", lines.Text(), "order placed: A-1", stderr.String())
	}
	exited := make(chan error, 1)
	go func() {
		for lines.Scan() {
			t.Errorf("unexpected output: %s", lines.Text())
		}
		exited <- cmd.Wait()
	}()
	// SIGTERM until it exits: one sent before fx listens is swallowed.
	resend := time.NewTicker(100 * time.Millisecond)
	defer resend.Stop()
	for {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
			}
			if !bytes.Contains(stderr.Bytes(), []byte("[Fx] TERMINATED")) {
				t.Errorf("fx did not stop on SIGTERM; its log:\n%s", stderr.String())
			}
			return
		case <-resend.C:
		case <-ctx.Done():
			t.Fatalf("still running after SIGTERM; stderr:\n%s", stderr.String())
		}
	}
}
