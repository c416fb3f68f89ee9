package delivery_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/delivery"
)

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func TestParseRetryAfter(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
		ok    bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"Thu, 26 Nov 2026 12:00:30 GMT", 30 * time.Second, true},
		{"Thursday, 26-Nov-26 12:01:00 GMT", time.Minute, true}, // RFC 850
		{"Thu Nov 26 12:00:05 2026", 5 * time.Second, true},     // asctime
		{"Thu, 26 Nov 2026 11:00:00 GMT", 0, true},              // past
		{"99999999999999999999", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			got, ok := delivery.ParseRetryAfter(tc.value, testNow)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestHTTPError(t *testing.T) {
	all := func(int) bool { return true }
	tests := []struct {
		name       string
		status     int
		retryAfter string
		retryable  func(int) bool
		class      string // "", "permanent", "throttle", "transient"
		delay      time.Duration
	}{
		{"200", 200, "", nil, "", 0},
		{"204", 204, "", nil, "", 0},
		{"400", 400, "", nil, "permanent", 0},
		{"401", 401, "", nil, "permanent", 0},
		{"403", 403, "", nil, "permanent", 0},
		{"404", 404, "", nil, "permanent", 0},
		{"413", 413, "", nil, "permanent", 0},
		{"500 is permanent in OTLP", 500, "", nil, "permanent", 0},
		{"429 without delay", 429, "", nil, "throttle", 0},
		{"429 in seconds", 429, "3", nil, "throttle", 3 * time.Second},
		{"429 with a date", 429, "Thu, 26 Nov 2026 12:01:00 GMT", nil, "throttle", time.Minute},
		{"502", 502, "", nil, "transient", 0},
		{"503", 503, "", nil, "transient", 0},
		{"503 with Retry-After", 503, "9", nil, "throttle", 9 * time.Second},
		{"504", 504, "", nil, "transient", 0},
		{"500 with another policy", 500, "", all, "transient", 0},
		{"401 with another policy", 401, "", all, "transient", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			err := delivery.HTTPError(resp, []byte("  the server's words\n"), tc.retryable, testNow)
			if tc.class == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, http.StatusText(tc.status)+": the server's words")
			d, throttled := delivery.RetryAfter(err)
			require.Equal(t, tc.class == "permanent", delivery.IsPermanent(err), "%v", err)
			require.Equal(t, tc.class == "throttle", throttled, "%v", err)
			require.Equal(t, tc.delay, d)
		})
	}
	t.Run("long bodies are cut", func(t *testing.T) {
		err := delivery.HTTPError(&http.Response{StatusCode: 400, Status: "400 Bad Request"}, []byte(strings.Repeat("x", 2000)), nil, testNow)
		require.Less(t, len(err.Error()), 600)
		require.True(t, strings.HasSuffix(err.Error(), "..."))
		var perm *delivery.PermanentError
		require.ErrorAs(t, err, &perm)
	})
}
