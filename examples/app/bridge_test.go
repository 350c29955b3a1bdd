package main

import (
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is the app running as a subprocess, its stdout kept.
type process struct {
	cmd    *exec.Cmd
	out    syncBuffer
	stderr syncBuffer

	mu      sync.Mutex
	seen    strings.Builder
	markers map[string]chan struct{}
}

// startProcess runs bin with args until the test ends or it is stopped.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{markers: map[string]chan struct{}{}}
	p.out.notify = p.saw
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// waitFor returns a channel closed once the output has contained s.
func (p *process) waitFor(s string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := make(chan struct{})
	if strings.Contains(p.seen.String(), s) {
		close(ch)
		return ch
	}
	p.markers[s] = ch
	return ch
}

func (p *process) saw(chunk string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen.WriteString(chunk)
	for s, ch := range p.markers {
		if strings.Contains(p.seen.String(), s) {
			close(ch)
			delete(p.markers, s)
		}
	}
}

// await waits for s in p's output, or fails the test.
func (p *process) await(t *testing.T, s string) {
	t.Helper()
	select {
	case <-p.waitFor(s):
	case <-time.After(2 * time.Minute):
		t.Fatalf("no %q from the app:\n%s\nstderr:\n%s", s, p.out.String(), p.stderr.String())
	}
}

// stop interrupts the app as Ctrl-C does and waits until it exits.
func (p *process) stop(t *testing.T) string {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("app exited with %v\nstdout:\n%s\nstderr:\n%s", err, p.out.String(), p.stderr.String())
	}
	return p.out.String()
}

var shareLine = regexp.MustCompile(`nats: +(\d+) orders placed here and exported; (\d+) handled here`)

// share reads the process's share from its final output.
func share(t *testing.T, out string) (placed, handled int) {
	t.Helper()
	m := shareLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no nats line in the output:\n%s", out)
	}
	placed, _ = strconv.Atoi(m[1])
	handled, _ = strconv.Atoi(m[2])
	return placed, handled
}

// Two processes of the app, as in the README: the first runs the embedded
// server on a port, the second connects to it. Both take orders over HTTP
// and share the durable; each handles a share, and the shares add up to
// what both placed. The second stops first, as the README says: the first
// one hosts the server.
func TestTwoProcessesShareTheWork(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the app and runs it twice for a few seconds")
	}
	bin := filepath.Join(t.TempDir(), "app")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	common := []string{"-duration", "0", "-rate", "100", "-log", "warn"}
	first := startProcess(t, bin, append(common, "-nats-listen", addr, "-nats-store", t.TempDir())...)
	first.await(t, "fxbus example app on ")
	second := startProcess(t, bin, append(common, "-nats-url", "nats://"+addr)...)
	second.await(t, "   3s  http ")

	outs := []string{second.stop(t), first.stop(t)}
	placed, handled := 0, 0
	for i, out := range outs {
		checkFinalTable(t, out)
		p, h := share(t, out)
		if p == 0 || h == 0 {
			t.Errorf("process %d placed %d and handled %d: want a share of both", 2-i, p, h)
		}
		placed += p
		handled += h
		t.Logf("process %d: placed %d, handled %d", 2-i, p, h)
	}
	if placed != handled {
		t.Errorf("the processes handled %d orders in all, and placed %d", handled, placed)
	}
}
