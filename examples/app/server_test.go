package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// serve runs the app's real mux behind an httptest server.
func serve(t *testing.T) (*testApp, *httptest.Server) {
	t.Helper()
	a := startApp(t, testSettings())
	srv := httptest.NewServer(a.Mux)
	t.Cleanup(srv.Close)
	return a, srv
}

func do(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestHTTPPlaceOrder(t *testing.T) {
	a, srv := serve(t)
	const cid = "0123456789abcdef0123456789abcdef"
	code, h, body := do(t, srv, "POST", "/orders", `{"sku":"SKU-1","quantity":3,"email":"ada@example.com"}`, "X-Correlation-ID", cid)
	if code != http.StatusAccepted {
		t.Fatalf("POST /orders: %d %s", code, body)
	}
	var resp orderResponse
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("response %q: %v", body, err)
	}
	if resp.ID != "ord-000001" || resp.Number != 1 || resp.CorrelationID.String() != cid || h.Get("X-Correlation-ID") != cid {
		t.Errorf("response %+v (header %q), want order 1 with the client's correlation ID", resp, h.Get("X-Correlation-ID"))
	}
	if got := a.Store.Snapshot().Audited; got != 1 {
		t.Errorf("audited %d, want 1", got)
	}
}

func TestHTTPBadOrders(t *testing.T) {
	a, srv := serve(t)
	tests := []struct {
		name, body string
		code       int
		msg        string // part of the error message
	}{
		{"empty body", ``, 400, "empty body"},
		{"malformed JSON", `{"sku": "SKU-1",`, 400, "malformed JSON"},
		{"not JSON", `sku=SKU-1`, 400, "malformed JSON at byte 1"},
		{"wrong type", `{"sku":"SKU-1","quantity":"two","email":"a@example.com"}`, 400, `"quantity" must be a JSON int, not string`},
		{"unknown field", `{"sku":"SKU-1","quantity":1,"email":"a@example.com","coupon":"X"}`, 400, `unknown field "coupon"`},
		{"two objects", `{"sku":"SKU-1","quantity":1,"email":"a@example.com"}{}`, 400, "want one JSON object"},
		{"an array", `[1,2]`, 400, "must be a JSON"},
		{"no sku", `{"quantity":1,"email":"a@example.com"}`, 400, `"sku" is missing`},
		{"bad sku", `{"sku":"SKU 1","quantity":1,"email":"a@example.com"}`, 400, `"sku" "SKU 1"`},
		{"zero quantity", `{"sku":"SKU-1","quantity":0,"email":"a@example.com"}`, 400, `"quantity" is 0`},
		{"huge quantity", `{"sku":"SKU-1","quantity":1000,"email":"a@example.com"}`, 400, `"quantity" is 1000`},
		{"no email", `{"sku":"SKU-1","quantity":1}`, 400, `"email" is missing`},
		{"bad email", `{"sku":"SKU-1","quantity":1,"email":"ada"}`, 400, "not an email address"},
		{"too large", `{"sku":"` + strings.Repeat("A", maxOrderBytes) + `"}`, 413, "order too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, h, body := do(t, srv, "POST", "/orders", tt.body)
			if code != tt.code {
				t.Errorf("status %d, want %d (body %s)", code, tt.code, body)
			}
			var e struct{ Error string }
			if err := json.Unmarshal([]byte(body), &e); err != nil || !strings.Contains(e.Error, tt.msg) {
				t.Errorf("body %q (%v), want an error containing %q", body, err, tt.msg)
			}
			if ct := h.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
	t.Run("bad correlation ID", func(t *testing.T) {
		code, _, body := do(t, srv, "POST", "/orders", `{"sku":"SKU-1","quantity":1,"email":"a@example.com"}`, "X-Correlation-ID", "nope")
		if code != 400 || !strings.Contains(body, "X-Correlation-ID") {
			t.Errorf("%d %s", code, body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		if code, _, _ := do(t, srv, "GET", "/orders", ""); code != http.StatusMethodNotAllowed {
			t.Errorf("GET /orders: %d, want 405", code)
		}
	})
	if st := subscriber(t, a.Bus(), "audit"); st.Published != 0 {
		t.Errorf("bad orders published %d events", st.Published)
	}
}

func TestHTTPDebugAndMetrics(t *testing.T) {
	_, srv := serve(t)
	for range 3 {
		if code, _, body := do(t, srv, "POST", "/orders", `{"sku":"SKU-1","quantity":1,"email":"a@example.com"}`); code != 202 {
			t.Fatalf("POST /orders: %d %s", code, body)
		}
	}

	code, _, body := do(t, srv, "GET", "/debug/fxbus", "")
	if code != 200 {
		t.Fatalf("GET /debug/fxbus: %d %s", code, body)
	}
	var v struct {
		Synchronous bool
		Topics      []topicView
		Subscribers []struct {
			Name, Topic, Group, Policy string
			Buffer                     int
			Published, Delivered       uint64
			Queued                     uint64
			Dropped                    map[string]uint64
		}
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /debug/fxbus: %v in %s", err, body)
	}
	if !v.Synchronous {
		t.Error("synchronous: false, want true in tests")
	}
	topics := map[string]topicView{}
	for _, tv := range v.Topics {
		topics[tv.Name] = tv
	}
	if tv := topics[TopicOrders]; tv.Published != 3 || tv.Type != "main.OrderPlaced" || tv.Subscribers != 7 {
		t.Errorf("topic %s: %+v, want 3 published, type main.OrderPlaced, 7 subscribers", TopicOrders, tv)
	}
	if tv := topics[TopicReserved]; tv.Published != 3 {
		t.Errorf("topic %s: %+v, want 3 published by the chain", TopicReserved, tv)
	}
	policies := map[string]string{}
	for _, s := range v.Subscribers {
		policies[s.Name] = s.Policy
		if s.Name == "analytics" && (s.Buffer != 8 || s.Delivered != 3) {
			t.Errorf("analytics: %+v", s)
		}
		if s.Name == "inventory-1" && s.Group != "inventory" {
			t.Errorf("inventory-1 in group %q", s.Group)
		}
	}
	for name, want := range map[string]string{"audit": "block", "analytics": "drop-oldest", "email": "block", "inventory-2": "block"} {
		if policies[name] != want {
			t.Errorf("%s: policy %q, want %q", name, policies[name], want)
		}
	}
	if !strings.Contains(body, `"dropped": {}`) {
		t.Errorf("dropped counts should be objects keyed by reason: %s", body)
	}

	code, _, body = do(t, srv, "GET", "/metrics", "")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`fxbus_events_published_total{topic="orders.placed"} 3`,
		`fxbus_events_delivered_total{subscriber="audit",topic="orders.placed"} 3`,
		`fxbus_events_dropped_total{reason="evicted",subscriber="analytics",topic="orders.placed"} 0`,
		`fxbus_queue_capacity{subscriber="analytics",topic="orders.placed"} 8`,
		`fxbus_handler_calls_total{outcome="ok",subscriber="confirm",topic="inventory.reserved"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /metrics lacks %s", want)
		}
	}

	if code, _, body := do(t, srv, "GET", "/", ""); code != 200 || !strings.Contains(body, "POST /orders") {
		t.Errorf("GET /: %d %s", code, body)
	}
}
