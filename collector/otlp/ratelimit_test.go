package otlp

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/collector/otlp/otlptest"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/auth/authtest"
)

// TestRateLimitedSenderGetsRetryAfter: over HTTP and gRPC, a sender past
// its rate is refused with a retry delay (429 and Retry-After, and
// RESOURCE_EXHAUSTED with RetryInfo) and counted, while another sender
// is served.
func TestRateLimitedSenderGetsRetryAfter(t *testing.T) {
	iss := authtest.New(t)
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	r, err := New(Options{Queue: &fakeQueue{}, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Authenticator: iss.Authenticator, GRPCAuth: true, HTTPAuth: true,
		RateLimit: RateLimit{Rate: 0.5, Burst: 1, Now: func() time.Time { return now }}})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.Shutdown(context.Background())) })

	a, b := iss.Token(t, "svc-a", auth.RoleTelemetryWrite), iss.Token(t, "svc-b", auth.RoleTelemetryWrite)
	// post answers the status and Retry-After of a request.
	post := func(token string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, "http://"+r.HTTPAddr()+"/v1/logs", bytes.NewBufferString(`{}`))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	code, _ := post(a)
	require.Equal(t, http.StatusOK, code)
	code, retry := post(a)
	require.Equal(t, http.StatusTooManyRequests, code)
	require.Equal(t, "2", retry, "a request every 2 s")
	code, _ = post(b)
	require.Equal(t, http.StatusOK, code, "another sender is served")
	require.Equal(t, 1.0, testutil.ToFloat64(r.m.requests.WithLabelValues("http", "logs", outcomeRate)))

	// gRPC: the same principal shares its bucket across transports.
	err = otlptest.ExportLogs(t, r.GRPCAddr(), a)
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	require.Contains(t, status.Convert(err).Message(), "rate limit")
	require.NotEmpty(t, status.Convert(err).Details(), "RetryInfo tells the exporter when")
	require.NoError(t, otlptest.ExportLogs(t, r.GRPCAddr(), iss.Token(t, "svc-c", auth.RoleTelemetryWrite)))

	now = now.Add(2 * time.Second)
	require.NoError(t, otlptest.ExportLogs(t, r.GRPCAddr(), a), "refilled")
}
