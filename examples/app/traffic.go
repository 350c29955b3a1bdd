package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// trafficClients is how many orders the generator may have in flight.
const trafficClients = 4

// badEvery makes every Nth request a malformed order, to show the 400s.
const badEvery = 50

// traffic POSTs orders to the app's own HTTP server at a steady rate, from
// the app's start until its stop. Its stop hook runs before the server's
// and the bus's: it stops sending and waits for the requests in flight, so
// every order it placed is published before the bus drains.
type traffic struct {
	url    string
	rate   float64
	log    *zap.Logger
	client *http.Client
	rng    *rand.Rand // used by the pacing goroutine only

	sent, accepted, rejected, failed atomic.Int64
}

func newTraffic(lc fx.Lifecycle, s settings, srv *server, log *zap.Logger) *traffic {
	tr := &traffic{
		rate: s.Rate,
		log:  log.Named("traffic"),
		// A transport of its own, so that stop can close its idle
		// connections: no goroutine outlives the app.
		client: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: trafficClients},
			Timeout:   10 * time.Second,
		},
		rng: rand.New(rand.NewPCG(1, 2)), // the same orders on every run
	}
	if s.Rate <= 0 {
		return tr
	}
	var (
		cancel context.CancelFunc
		wg     sync.WaitGroup
	)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			tr.url = srv.URL() + "/orders"
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			jobs := make(chan []byte)
			wg.Add(1 + trafficClients)
			go func() {
				defer wg.Done()
				defer close(jobs)
				tr.pace(ctx, jobs)
			}()
			for range trafficClients {
				go func() {
					defer wg.Done()
					for body := range jobs {
						tr.post(body)
					}
				}()
			}
			return nil
		},
		OnStop: func(ctx context.Context) error {
			cancel()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-ctx.Done():
				return fmt.Errorf("traffic: requests still in flight: %w", ctx.Err())
			}
			tr.client.CloseIdleConnections()
			c := tr.counts()
			tr.log.Info("stopped", zap.Int64("sent", c.Sent), zap.Int64("accepted", c.Accepted), zap.Int64("rejected", c.Rejected), zap.Int64("failed", c.Failed))
			return nil
		},
	})
	return tr
}

// pace hands out orders at the rate until ctx ends. It catches up after a
// slow moment rather than drifting, so N seconds place about N*rate orders.
func (tr *traffic) pace(ctx context.Context, jobs chan<- []byte) {
	tick := time.NewTicker(min(10*time.Millisecond, time.Duration(float64(time.Second)/tr.rate)))
	defer tick.Stop()
	start := time.Now()
	var issued int64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds()*tr.rate) - issued
			for ; due > 0; due-- {
				issued++
				select {
				case jobs <- tr.order(issued):
				case <-ctx.Done():
					return
				}
			}
		}
	}
}

// order returns the body of the nth request.
func (tr *traffic) order(n int64) []byte {
	if n%badEvery == 0 {
		return []byte(`{"sku": "SKU-001", "quantity": "two"}`)
	}
	b, _ := json.Marshal(orderRequest{
		SKU:      fmt.Sprintf("SKU-%03d", 1+tr.rng.IntN(12)),
		Quantity: 1 + tr.rng.IntN(3),
		Email:    fmt.Sprintf("customer-%d@example.com", n),
	})
	return b
}

func (tr *traffic) post(body []byte) {
	tr.sent.Add(1)
	// Not the generator's context: stopping lets the request finish.
	resp, err := tr.client.Post(tr.url, "application/json", bytes.NewReader(body))
	if err != nil {
		tr.failed.Add(1)
		tr.log.Warn("post order", zap.Error(err))
		return
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusAccepted:
		tr.accepted.Add(1)
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		tr.rejected.Add(1)
		tr.log.Debug("order rejected", zap.Int("status", resp.StatusCode), zap.ByteString("body", bytes.TrimSpace(msg)))
	default:
		tr.failed.Add(1)
		tr.log.Warn("order failed", zap.Int("status", resp.StatusCode), zap.ByteString("body", bytes.TrimSpace(msg)))
	}
}

// trafficCounts is a snapshot of what the generator did.
type trafficCounts struct{ Sent, Accepted, Rejected, Failed int64 }

func (tr *traffic) counts() trafficCounts {
	return trafficCounts{tr.sent.Load(), tr.accepted.Load(), tr.rejected.Load(), tr.failed.Load()}
}
