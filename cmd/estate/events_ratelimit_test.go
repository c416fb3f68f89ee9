//go:build !servicesonly

package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
)

// TestEventsRateLimitPerSender: each sender of events (its principal) has
// a bucket of its own; past it the events API answers 429 with
// Retry-After, while another sender, and the signed webhooks, which carry
// no token, are served.
func TestEventsRateLimitPerSender(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	cfg := &Config{DataDir: t.TempDir()}
	cfg.Events = eventsConfig{CircleCIDeployPattern: "deploy", AlertmanagerEnvironment: "production", MaxBodyBytes: 1 << 20, RateLimit: 0.5, RateBurst: 1}
	a := &app{cfg: cfg, logger: slog.New(slog.DiscardHandler), now: func() time.Time { return now }}
	store, closeStore, err := openEvents(t.Context(), cfg.DataDir, "", a.logger)
	require.NoError(t, err)
	defer func() { require.NoError(t, closeStore()) }()
	mount, err := a.eventsAPI(store, prometheus.NewRegistry(), filepath.Join(cfg.DataDir, "deadletter"))
	require.NoError(t, err)
	r := chi.NewRouter()
	// What the collector's guard does: the principal in the context.
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if who := req.Header.Get("X-Test-Subject"); who != "" {
				req = req.WithContext(auth.NewContext(req.Context(), auth.Principal{Subject: who}))
			}
			next.ServeHTTP(w, req)
		})
	})
	require.NoError(t, mount(r))

	post := func(subject string) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/events",
			bytes.NewBufferString(`{"specversion":"1.0","id":"e-`+subject+`","source":"ci","type":"dev.estate.deployment.succeeded","time":"2026-12-02T08:00:00Z","data":{"deployment_id":"d1"}}`))
		req.Header.Set("Content-Type", "application/cloudevents+json")
		if subject != "" {
			req.Header.Set("X-Test-Subject", subject)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		return rec
	}
	require.Less(t, post("ci").Code, 300)
	rec := post("ci")
	require.Equal(t, http.StatusTooManyRequests, rec.Code, rec.Body.String())
	require.Equal(t, "2", rec.Header().Get("Retry-After"))
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	require.Less(t, post("alertmanager").Code, 300, "another sender")
	for range 3 {
		require.NotEqual(t, http.StatusTooManyRequests, post("").Code, "no principal: a signed webhook, not limited here")
	}
	now = now.Add(2 * time.Second)
	require.Less(t, post("ci").Code, 300, "refilled")
}
