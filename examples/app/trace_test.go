package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// span is what the test reads of a span that stdouttrace wrote.
type span struct {
	Name        string
	SpanKind    int // trace.SpanKind: 4 producer, 5 consumer
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct {
		TraceID, SpanID string
		Remote          bool
	}
	Attributes []struct {
		Key   string
		Value struct{ Value any }
	}
}

// attr returns the value of the span's attribute key, as text.
func (s span) attr(key string) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			b, _ := json.Marshal(a.Value.Value)
			return strings.Trim(string(b), `"`)
		}
	}
	return ""
}

// runWithTrace runs the app with -trace and args, checks its final table,
// and returns the spans it wrote and the number of orders the API placed.
func runWithTrace(t *testing.T, args ...string) (spans []span, placed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	args = append([]string{"-trace", "-log", "error"}, args...)
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	checkFinalTable(t, stdout.String())
	m := placedLine.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no http line in the output:\n%s", stdout.String())
	}
	placed, _ = strconv.Atoi(m[1])
	for _, line := range strings.Split(stdout.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var s span
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatalf("a span line does not parse: %v\n%s", err, line)
		}
		spans = append(spans, s)
	}
	return spans, placed
}

var placedLine = regexp.MustCompile(`(?m)^http: +(\d+) placed \(202\)`)

// TestRunWithTrace: with -trace the app writes its spans to stdout, one
// line of JSON each: each order's publish is a producer span, and the
// handlers' calls are consumer spans, its children in its trace, whose
// correlation ID is the one the API gave the order. Every order has its
// spans, to the end of its chain: the provider is flushed after the drain.
func TestRunWithTrace(t *testing.T) {
	spans, placed := runWithTrace(t, "-duration", "1s", "-rate", "20")
	sends := map[string]span{} // by span ID
	for _, s := range spans {
		if s.Name == "send "+TopicOrders && s.SpanKind == 4 {
			sends[s.SpanContext.SpanID] = s
		}
	}
	children := 0
	for _, s := range spans {
		send, ok := sends[s.Parent.SpanID]
		if !ok || s.Name != "process "+TopicOrders {
			continue
		}
		children++
		if s.SpanKind != 5 || s.SpanContext.TraceID != send.SpanContext.TraceID {
			t.Errorf("%s (kind %d) in trace %s, want a consumer span in its send span's trace %s", s.Name, s.SpanKind, s.SpanContext.TraceID, send.SpanContext.TraceID)
		}
		if id := s.attr("messaging.message.conversation_id"); id == "" || id != send.attr("messaging.message.conversation_id") {
			t.Errorf("%s has correlation ID %q, its send span %q", s.Name, id, send.attr("messaging.message.conversation_id"))
		}
	}
	if len(sends) == 0 || children < len(sends) {
		t.Fatalf("%d send spans of %s, %d process spans that are their children; want some, and a child for each", len(sends), TopicOrders, children)
	}
	confirms := 0
	for _, s := range spans {
		if s.Name == "process "+TopicReserved {
			confirms++
		}
	}
	if len(sends) != placed || confirms != placed {
		t.Errorf("%d orders placed, %d send spans of %s, %d process spans of %s: want one each", placed, len(sends), TopicOrders, confirms, TopicReserved)
	}
}

// TestRunWithTraceOverNATS: with -trace and the bridge, the trace of an
// order crosses NATS: the handler span of the imported copy (the relay) is
// a child of the export's span, remote, in the same trace.
func TestRunWithTraceOverNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an embedded NATS server")
	}
	spans, _ := runWithTrace(t, "-duration", "1500ms", "-rate", "20", "-nats-listen", "127.0.0.1:0", "-nats-store", t.TempDir())
	exports := map[string]span{} // by span ID
	for _, s := range spans {
		if s.Name == "process "+TopicSubmitted && s.attr("messaging.destination.subscription.name") == "natsbridge.export" {
			exports[s.SpanContext.SpanID] = s
		}
	}
	imported := 0
	for _, s := range spans {
		if !s.Parent.Remote {
			continue
		}
		imported++
		export, ok := exports[s.Parent.SpanID]
		if !ok || s.Name != "process "+TopicSubmitted || s.SpanContext.TraceID != export.SpanContext.TraceID {
			t.Errorf("%s in trace %s has the remote parent %s, want the relay's span, child of an export span in its trace", s.Name, s.SpanContext.TraceID, s.Parent.SpanID)
		}
	}
	if len(exports) == 0 || imported == 0 {
		t.Fatalf("%d export spans, %d spans with a remote parent; want both", len(exports), imported)
	}
}
