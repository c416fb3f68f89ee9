package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/kit/httpapi"
)

// An error with no domain code is a 500, unless the database was
// unreachable (503 with Retry-After: it passes) or the client went away.
func TestInternalErrorStatus(t *testing.T) {
	for _, c := range []struct {
		name       string
		err        error
		status     int
		retryAfter string
	}{
		{"database shutting down", fmt.Errorf("getting invoice: %w", &pgconn.PgError{Code: "57P01"}), http.StatusServiceUnavailable, "2"},
		{"connection exception", &pgconn.PgError{Code: "08006"}, http.StatusServiceUnavailable, "2"},
		{"query error", &pgconn.PgError{Code: "42P01"}, http.StatusInternalServerError, ""},
		{"plain error", errors.New("boom"), http.StatusInternalServerError, ""},
		{"client went away", fmt.Errorf("query: %w", context.Canceled), 499, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := httpapi.InternalError(context.Background(), slog.New(slog.DiscardHandler), c.err)
			var se huma.StatusError
			require.ErrorAs(t, err, &se)
			require.Equal(t, c.status, se.GetStatus())
			var he huma.HeadersError
			if c.retryAfter == "" {
				require.False(t, errors.As(err, &he) && he.GetHeaders().Get("Retry-After") != "")
				return
			}
			require.ErrorAs(t, err, &he)
			require.Equal(t, c.retryAfter, he.GetHeaders().Get("Retry-After"))
		})
	}
}
