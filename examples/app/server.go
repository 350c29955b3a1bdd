package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fxbus/fxbus"
	"github.com/fxbus/fxbus/bus"
)

// maxOrderBytes bounds the body of POST /orders.
const maxOrderBytes = 64 << 10

// orderRequest is the body of POST /orders.
type orderRequest struct {
	SKU      string `json:"sku"`
	Quantity int    `json:"quantity"`
	Email    string `json:"email"`
}

func (r orderRequest) validate() error {
	switch {
	case r.SKU == "":
		return errors.New(`"sku" is missing`)
	case len(r.SKU) > 64 || strings.IndexFunc(r.SKU, notSKURune) >= 0:
		return fmt.Errorf(`"sku" %q: use at most 64 letters, digits and '-'`, r.SKU)
	case r.Quantity < 1 || r.Quantity > 100:
		return fmt.Errorf(`"quantity" is %d: order 1 to 100 units`, r.Quantity)
	case r.Email == "":
		return errors.New(`"email" is missing`)
	}
	local, domain, ok := strings.Cut(r.Email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") || len(r.Email) > 254 {
		return fmt.Errorf(`"email" %q is not an email address`, r.Email)
	}
	return nil
}

func notSKURune(c rune) bool {
	return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-')
}

// orderResponse is the body of a 202 answer to POST /orders.
type orderResponse struct {
	ID            string            `json:"id"`
	Number        int64             `json:"number"`
	CorrelationID bus.CorrelationID `json:"correlation_id"`
}

// orderAPI accepts orders over HTTP and publishes them.
type orderAPI struct {
	orders fxbus.Publisher[OrderPlaced]
	log    *zap.Logger
	now    func() time.Time

	next                            atomic.Int64 // the last order number given out
	accepted, rejected, unavailable atomic.Int64
}

// apiCounts is what the API answered so far.
type apiCounts struct{ Accepted, Rejected, Refused int64 }

func (a *orderAPI) counts() apiCounts {
	return apiCounts{a.accepted.Load(), a.rejected.Load(), a.unavailable.Load()}
}

func newOrderAPI(orders fxbus.Publisher[OrderPlaced], log *zap.Logger) *orderAPI {
	return &orderAPI{orders: orders, log: log.Named("http"), now: time.Now}
}

// place handles POST /orders.
func (a *orderAPI) place(w http.ResponseWriter, r *http.Request) {
	req, status, err := decodeOrder(w, r)
	if err != nil {
		a.rejected.Add(1)
		a.log.Debug("order rejected", zap.Int("status", status), zap.Error(err))
		writeError(w, status, err.Error())
		return
	}

	// A client may send its own correlation ID; the order's events carry it.
	id := bus.NewCorrelationID()
	if h := r.Header.Get("X-Correlation-ID"); h != "" {
		if err = id.UnmarshalText([]byte(h)); err != nil {
			a.rejected.Add(1)
			writeError(w, http.StatusBadRequest, "X-Correlation-ID: want 32 hexadecimal digits")
			return
		}
	}
	n := a.next.Add(1)
	o := OrderPlaced{
		ID: fmt.Sprintf("ord-%06d", n), Number: n,
		SKU: req.SKU, Quantity: req.Quantity, Email: req.Email, PlacedAt: a.now().UTC(),
	}
	// The request's context: if every Block subscriber's queue is full, the
	// publish waits for room only as long as the client does.
	err = a.orders.Publish(bus.WithCorrelationID(r.Context(), id), o)
	switch {
	case errors.Is(err, bus.ErrClosed):
		a.unavailable.Add(1)
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "shutting down: order not placed, try again later")
		return
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		a.unavailable.Add(1)
		writeError(w, http.StatusServiceUnavailable, "busy: gave up waiting for room in a subscriber's queue")
		return
	case err != nil:
		// Only in synchronous mode does Publish return what the handlers
		// did; the order is placed, and failures went to dead letters.
		a.log.Warn("order placed; some handlers failed", zap.String("order", o.ID), zap.Error(err))
	}
	a.accepted.Add(1)
	w.Header().Set("X-Correlation-ID", id.String())
	writeJSON(w, http.StatusAccepted, orderResponse{ID: o.ID, Number: n, CorrelationID: id})
}

// decodeOrder reads one JSON order and says what is wrong with a bad one.
func decodeOrder(w http.ResponseWriter, r *http.Request) (orderRequest, int, error) {
	var req orderRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxOrderBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("want one JSON object, got more after it")
	}
	if err != nil {
		var (
			syntaxErr *json.SyntaxError
			typeErr   *json.UnmarshalTypeError
			sizeErr   *http.MaxBytesError
		)
		switch {
		case errors.As(err, &sizeErr):
			return req, http.StatusRequestEntityTooLarge, fmt.Errorf("order too large: at most %d bytes", sizeErr.Limit)
		case errors.Is(err, io.EOF):
			return req, http.StatusBadRequest, errors.New(`empty body: send a JSON object like {"sku":"SKU-001","quantity":1,"email":"ada@example.com"}`)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return req, http.StatusBadRequest, errors.New("malformed JSON: the body ends in the middle of a value")
		case errors.As(err, &syntaxErr):
			return req, http.StatusBadRequest, fmt.Errorf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)
		case errors.As(err, &typeErr):
			return req, http.StatusBadRequest, fmt.Errorf("%q must be a JSON %s, not %s", typeErr.Field, typeErr.Type, typeErr.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return req, http.StatusBadRequest, fmt.Errorf("unknown field %s: want sku, quantity and email", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return req, http.StatusBadRequest, fmt.Errorf("invalid order: %v", err)
		}
	}
	if err := req.validate(); err != nil {
		return req, http.StatusBadRequest, fmt.Errorf("invalid order: %w", err)
	}
	return req, 0, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// The JSON of GET /debug/fxbus: bus.Stats with lower-case names.
type (
	debugView struct {
		Synchronous bool             `json:"synchronous"`
		Topics      []topicView      `json:"topics"`
		Subscribers []subscriberView `json:"subscribers"`
	}
	topicView struct {
		Name        string `json:"name"`
		Type        string `json:"type"`
		Published   uint64 `json:"published"`
		Unrouted    uint64 `json:"unrouted"`
		Subscribers int    `json:"subscribers"`
	}
	subscriberView struct {
		Name        string         `json:"name"`
		Topic       string         `json:"topic"` // the name or pattern subscribed to
		Group       string         `json:"group,omitempty"`
		Handler     bool           `json:"handler"`
		Policy      bus.Policy     `json:"policy"`
		Buffer      int            `json:"buffer"`
		Concurrency int            `json:"concurrency,omitempty"`
		Active      bool           `json:"active"`
		Published   uint64         `json:"published"`
		Delivered   uint64         `json:"delivered"`
		Dropped     bus.DropCounts `json:"dropped"`
		Queued      uint64         `json:"queued"`
		Failed      uint64         `json:"failed"`
		Disconnects uint64         `json:"disconnects"`
	}
)

func newDebugView(b *bus.Bus) debugView {
	st := b.Stats()
	v := debugView{
		Synchronous: b.Synchronous(),
		Topics:      make([]topicView, 0, len(st.Topics)),
		Subscribers: make([]subscriberView, 0, len(st.Subscriptions)),
	}
	for _, t := range st.Topics {
		v.Topics = append(v.Topics, topicView{t.Name, t.Type, t.Published, t.Unrouted, t.Subscribers})
	}
	for _, s := range st.Subscriptions {
		v.Subscribers = append(v.Subscribers, subscriberView{
			Name: s.Name, Topic: s.Pattern, Group: s.Group, Handler: s.Handler,
			Policy: s.Policy, Buffer: s.Buffer, Concurrency: s.Concurrency, Active: s.Active,
			Published: s.Published, Delivered: s.Delivered, Dropped: s.Dropped, Queued: s.Queued,
			Failed: s.Failed, Disconnects: s.Disconnects,
		})
	}
	return v
}

const indexText = `fxbus example app

POST /orders        place an order: {"sku":"SKU-001","quantity":1,"email":"ada@example.com"}
GET  /debug/fxbus   topics, subscribers, policies and live counters (JSON)
GET  /metrics       Prometheus metrics (fxbus_*)
`

// newMux routes the app's HTTP API.
func newMux(api *orderAPI, b *bus.Bus, reg *prometheus.Registry) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", api.place)
	mux.HandleFunc("GET /debug/fxbus", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, newDebugView(b))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, indexText)
	})
	return mux
}

// server serves the mux from start to stop. It is built after the bus, so
// fx stops it first: Shutdown lets the requests in flight finish their
// publishes before the bus refuses new ones.
type server struct {
	http *http.Server
	addr atomic.Pointer[string]
	done chan struct{}
}

func newServer(lc fx.Lifecycle, s settings, mux *http.ServeMux, log *zap.Logger, sd fx.Shutdowner) *server {
	log = log.Named("http")
	srv := &server{
		http: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          zap.NewStdLog(log),
		},
		done: make(chan struct{}),
	}
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.Addr)
			if err != nil {
				return fmt.Errorf("listen on -addr %s: %w", s.Addr, err)
			}
			addr := ln.Addr().String()
			srv.addr.Store(&addr)
			log.Info("listening", zap.String("url", srv.URL()))
			go func() {
				defer close(srv.done)
				if err := srv.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
					log.Error("serve", zap.Error(err))
					_ = sd.Shutdown(fx.ExitCode(1))
				}
			}()
			return nil
		},
		OnStop: func(ctx context.Context) error {
			err := srv.http.Shutdown(ctx)
			if err != nil {
				_ = srv.http.Close() // the deadline passed: cut what is left
			}
			<-srv.done
			log.Info("stopped")
			return err
		},
	})
	return srv
}

// URL returns the server's base URL once it has started.
func (s *server) URL() string {
	if a := s.addr.Load(); a != nil {
		return "http://" + *a
	}
	return ""
}
