// Package problemtest checks that a router answers what it does not route
// with problem details.
package problemtest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/problem"
)

// Unrouted is one request a router has no route for.
type Unrouted struct {
	Method, Path string
	// Allow is the Allow header a 405 lists; empty for a 404.
	Allow string
}

// RequireUnrouted sends each request to h and requires a 404 problem, or
// a 405 problem with its Allow header when the case names one.
func RequireUnrouted(t *testing.T, h http.Handler, cases ...Unrouted) {
	t.Helper()
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.Method, c.Path, nil))
		want := http.StatusNotFound
		if c.Allow != "" {
			want = http.StatusMethodNotAllowed
		}
		require.Equal(t, want, rec.Code, "%s %s: %s", c.Method, c.Path, rec.Body.String())
		require.Equal(t, c.Allow, rec.Header().Get("Allow"), "%s %s", c.Method, c.Path)
		require.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"), "%s %s", c.Method, c.Path)
		var p problem.Details
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p), "%s %s", c.Method, c.Path)
		require.Equal(t, want, p.Status, "%s %s", c.Method, c.Path)
	}
}
