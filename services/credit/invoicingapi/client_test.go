package invoicingapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/services/contracts"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/credit/invoicingapi"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// server answers with the statuses in turn, then 200 with an invoice.
func server(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int64) {
	var calls atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok-bus_1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if int(n) <= len(statuses) {
			w.WriteHeader(statuses[n-1])
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"in_1","status":"open","issuer":"bus_1","customer":"bus_2","currency":"eur","total":100,"amount_due":100,"status_transitions":{}}`))
	}))
	t.Cleanup(s.Close)
	return s, &calls
}

func newClient(t *testing.T, url string, clock *fakeClock, slept *[]time.Duration) *invoicingapi.Client {
	c, err := invoicingapi.New(invoicingapi.Options{
		BaseURL: url,
		Token:   func(_ context.Context, b string, _ []string) (string, error) { return "tok-" + b, nil },
		Now:     clock.Now, Jitter: func() float64 { return 0.5 },
		Sleep: func(_ context.Context, d time.Duration) error {
			*slept = append(*slept, d)
			return nil
		},
		BreakerFailures: 2, BreakerOpen: 10 * time.Second,
	})
	require.NoError(t, err)
	return c
}

// TestTokenScopes checks that each call asks for the scopes the invoicing
// API requires of it, and no more.
func TestTokenScopes(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(s.Close)
	var asked [][]string
	c, err := invoicingapi.New(invoicingapi.Options{BaseURL: s.URL, Token: func(_ context.Context, _ string, scopes []string) (string, error) {
		asked = append(asked, scopes)
		return "t", nil
	}})
	require.NoError(t, err)
	_, err = c.History(context.Background(), "bus_1", 90)
	require.NoError(t, err)
	_, err = c.Invoice(context.Background(), "bus_1", "in_1")
	require.NoError(t, err)
	require.NoError(t, c.Finance(context.Background(), "bus_1", "in_1", "dd_1"))
	require.NoError(t, c.ReleaseFinancing(context.Background(), "bus_1", "in_1", "dd_1"))
	require.Equal(t, [][]string{{contracts.HistoryScope}, nil, {contracts.FinancingScope}, {contracts.FinancingScope}}, asked)
}

// TestFinancing: the hold is a PUT and its release a DELETE of the
// invoice's financing by the drawdown; both are idempotent, so retried; a
// refusal is a conflict whose reason the invoicing service gave.
func TestFinancing(t *testing.T) {
	tests := []struct {
		name   string
		status []int
		code   string
		detail string
		calls  int64
	}{
		{"held", []int{200}, "", "", 1},
		{"retried after a 503", []int{503, 200}, "", "", 2},
		{"refused", []int{409}, credit.ECONFLICT, "the invoicing service refused: cannot finance an invoice whose status is void", 1},
		{"no such invoice", []int{404}, credit.ENOTFOUND, "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			var seen []string
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				seen = append(seen, r.Method+" "+r.URL.Path)
				switch st := tc.status[n-1]; st {
				case 200:
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"id":"in_1","financed":true}`))
				case 409:
					w.Header().Set("Content-Type", "application/problem+json")
					w.WriteHeader(st)
					_, _ = w.Write([]byte(`{"status":409,"title":"Conflict","detail":"cannot finance an invoice whose status is void"}`))
				default:
					w.WriteHeader(st)
				}
			}))
			t.Cleanup(s.Close)
			var slept []time.Duration
			c := newClient(t, s.URL, &fakeClock{t: time.Unix(0, 0)}, &slept)
			err := c.Finance(context.Background(), "bus_1", "in_1", "dd_1")
			require.Equal(t, tc.code, credit.ErrorCode(err), "%v", err)
			if tc.detail != "" {
				var ce *credit.Error
				require.ErrorAs(t, err, &ce)
				require.Equal(t, tc.detail, ce.Message)
			}
			require.Equal(t, tc.calls, calls.Load())
			require.Equal(t, "PUT /v1/invoices/in_1/financing/dd_1", seen[0])
		})
	}
	var method string
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method = r.Method + " " + r.URL.Path
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	var slept []time.Duration
	require.NoError(t, newClient(t, s.URL, &fakeClock{t: time.Unix(0, 0)}, &slept).ReleaseFinancing(context.Background(), "bus_1", "in_1", "dd_1"))
	require.Equal(t, "DELETE /v1/invoices/in_1/financing/dd_1", method)
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		statuses []int
		code     string
		calls    int64
		slept    []time.Duration
	}{
		{"ok at once", nil, "", 1, nil},
		{"two 503s then ok, with jittered backoff", []int{503, 502}, "", 3, []time.Duration{37500 * time.Microsecond, 75 * time.Millisecond}},
		{"429 is retried", []int{429}, "", 2, []time.Duration{37500 * time.Microsecond}},
		{"three 503s: unavailable", []int{503, 503, 503}, credit.EUNAVAILABLE, 3, []time.Duration{37500 * time.Microsecond, 75 * time.Millisecond}},
		{"404 is an answer, not retried", []int{404}, credit.ENOTFOUND, 1, nil},
		{"403 is our fault, not retried", []int{403}, credit.EINTERNAL, 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, calls := server(t, tc.statuses...)
			var slept []time.Duration
			c := newClient(t, s.URL, &fakeClock{t: time.Unix(0, 0)}, &slept)
			inv, err := c.Invoice(context.Background(), "bus_1", "in_1")
			require.Equal(t, tc.code, credit.ErrorCode(err), "%v", err)
			if tc.code == "" {
				require.Equal(t, "open", inv.Status)
				require.Equal(t, int64(100), inv.AmountDue)
			}
			require.Equal(t, tc.calls, calls.Load())
			require.Equal(t, tc.slept, slept)
		})
	}
}

func TestBreaker(t *testing.T) {
	s, calls := server(t, 503, 503, 503, 503, 503, 503, 503, 503, 503)
	clock := &fakeClock{t: time.Unix(0, 0)}
	var slept []time.Duration
	c := newClient(t, s.URL, clock, &slept)
	ctx := context.Background()
	for range 2 {
		_, err := c.Invoice(ctx, "bus_1", "in_1")
		require.Equal(t, credit.EUNAVAILABLE, credit.ErrorCode(err))
	}
	require.True(t, c.Breaker().Open())
	before := calls.Load()
	_, err := c.Invoice(ctx, "bus_1", "in_1")
	var ce *credit.Error
	require.ErrorAs(t, err, &ce)
	require.Equal(t, credit.EUNAVAILABLE, ce.Code)
	require.Equal(t, 10*time.Second, ce.RetryAfter)
	require.Equal(t, before, calls.Load(), "an open breaker calls nobody")

	clock.Add(11 * time.Second) // half open: one trial, which fails (3 attempts)
	_, err = c.Invoice(ctx, "bus_1", "in_1")
	require.Equal(t, credit.EUNAVAILABLE, credit.ErrorCode(err))
	require.True(t, c.Breaker().Open())

	clock.Add(11 * time.Second) // the next trial succeeds and closes it
	_, err = c.Invoice(ctx, "bus_1", "in_1")
	require.NoError(t, err)
	require.False(t, c.Breaker().Open())
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(release) })
	c, err := invoicingapi.New(invoicingapi.Options{
		BaseURL: s.URL, Token: func(context.Context, string, []string) (string, error) { return "t", nil },
		Timeout: 20 * time.Millisecond, Attempts: 2, Sleep: func(context.Context, time.Duration) error { return nil },
	})
	require.NoError(t, err)
	_, err = c.History(context.Background(), "bus_1", 90)
	require.Equal(t, credit.EUNAVAILABLE, credit.ErrorCode(err))
}
