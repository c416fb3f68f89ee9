package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/ratelimit"
)

func TestReserve(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := ratelimit.New(ratelimit.Options{Rate: 2, Burst: 3, Key: func(*http.Request) (string, bool) { return "", false }, Now: func() time.Time { return now }})
	for i := range 3 {
		ok, _ := l.Reserve("a")
		require.True(t, ok, "burst request %d", i)
	}
	ok, wait := l.Reserve("a")
	require.False(t, ok)
	require.Equal(t, 500*time.Millisecond, wait, "one token every 1/rate s")
	ok, _ = l.Reserve("b")
	require.True(t, ok, "tenants have their own bucket")
	now = now.Add(500 * time.Millisecond)
	ok, _ = l.Reserve("a")
	require.True(t, ok, "a refused request took no token")
}

func TestMiddleware(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := ratelimit.New(ratelimit.Options{Rate: 1, Burst: 1, Now: func() time.Time { return now },
		Key: func(r *http.Request) (string, bool) { return r.Header.Get("Tenant"), r.Header.Get("Tenant") != "" }})
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) }))
	do := func(tenant string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		if tenant != "" {
			r.Header.Set("Tenant", tenant)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	require.Equal(t, 204, do("a").Code)
	w := do("a")
	require.Equal(t, 429, w.Code)
	require.Equal(t, "1", w.Header().Get("Retry-After"))
	require.Equal(t, "application/problem+json", w.Header().Get("Content-Type"))
	require.Equal(t, 204, do("").Code, "requests without a tenant are not limited")
}

func TestMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := ratelimit.MaxInFlight(2, nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
		w.WriteHeader(204)
	}))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
	}
	<-entered
	<-entered
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, 503, w.Code)
	require.NotEmpty(t, w.Header().Get("Retry-After"))
	close(release)
	wg.Wait()
	w = httptest.NewRecorder()
	go func() { <-entered }()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	require.Equal(t, 204, w.Code)
}
