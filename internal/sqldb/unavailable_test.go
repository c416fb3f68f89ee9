package sqldb_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/jaegertest"
	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
)

func TestUnavailableClassifiesErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"crash shutdown", &pgconn.PgError{Code: "57P02"}, true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"wrapped connection exception", fmt.Errorf("creating invoice: %w", &pgconn.PgError{Code: "08003"}), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"query canceled", &pgconn.PgError{Code: "57014"}, false},
		{"bad connection", fmt.Errorf("reading: %w", driver.ErrBadConn), true},
		{"connection done", sql.ErrConnDone, true},
		{"no rows", sql.ErrNoRows, false},
		{"client went away", fmt.Errorf("query: %w", context.Canceled), false},
		{"plain error", errors.New("boom"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, sqldb.Unavailable(c.err))
		})
	}
}

// The errors a real PostgreSQL gives: a server that is not listening,
// and a session the server terminates (as a fast shutdown does to every
// session).
func TestUnavailableOnRealPostgresErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("refused", func(t *testing.T) {
		port := jaegertest.FreePorts(t, 1)[0]
		_, err := sqldb.OpenPostgres(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", port), sqldb.PostgresOptions{})
		require.Error(t, err)
		require.True(t, sqldb.Unavailable(err), "%v", err)
	})

	t.Run("terminated", func(t *testing.T) {
		db, err := sqldb.OpenPostgres(ctx, pgtest.NewDatabase(t), sqldb.PostgresOptions{MaxConns: 2})
		require.NoError(t, err)
		defer db.Close()
		conn, err := db.R.Conn(ctx) // the session that is terminated
		require.NoError(t, err)
		defer conn.Close()
		var pid int
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		var killed bool
		require.NoError(t, db.W.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&killed))
		require.True(t, killed)
		err = conn.QueryRowContext(ctx, "SELECT 1").Scan(new(int))
		require.Error(t, err)
		require.True(t, sqldb.Unavailable(err), "%v", err)
	})
}
