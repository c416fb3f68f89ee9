package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/credit/credittest"
	"github.com/estatehq/estate/services/credit/internal/sqlstore"
	"github.com/estatehq/estate/services/credit/postgres"
)

func TestStore(t *testing.T) {
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 10})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	credittest.Run(t, s)
}

// TestMigrateTimesToTimestamptz fills a database of the first schema, whose
// times are Unix microseconds, and opens it: every time reads back the same
// instant from the timestamptz columns.
func TestMigrateTimesToTimestamptz(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	first := sqlstore.Migrations(os.DirFS("."))
	first.UpTo = 1
	db, err := sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{Migrations: first})
	require.NoError(t, err)
	decided := time.Date(2026, 3, 1, 12, 30, 15, 123457000, time.UTC)
	created, checked := decided.Add(time.Hour), decided.Add(2*time.Hour)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO applications VALUES ('app1', 'b1', 1000, 'EUR', 'approved', 1000, '[]', $1)`, []any{decided.UnixMicro()}},
		{`INSERT INTO lines VALUES ('b1', 'EUR', 1000, 300, $1)`, []any{created.UnixMicro()}},
		{`INSERT INTO drawdowns VALUES ('dd1', 'b1', 'inv1', 300, 'EUR', 'active', $1, NULL, $2)`, []any{created.UnixMicro(), checked.UnixMicro()}},
		{`INSERT INTO drawdowns VALUES ('dd0', 'b1', 'inv0', 100, 'EUR', 'settled', $1, $2, $1)`, []any{int64(-1), decided.UnixMicro()}},
	} {
		_, err := db.W.ExecContext(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}
	require.NoError(t, db.Close())

	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	require.NoError(t, err)
	defer s.Close()
	app, err := s.Application(ctx, "app1")
	require.NoError(t, err)
	require.Equal(t, decided, app.DecidedAt)
	line, err := s.Line(ctx, "b1")
	require.NoError(t, err)
	require.Equal(t, created, line.UpdatedAt)
	dd, err := s.Drawdown(ctx, "dd1")
	require.NoError(t, err)
	require.Equal(t, []time.Time{created, checked}, []time.Time{dd.CreatedAt, dd.CheckedAt})
	require.Nil(t, dd.SettledAt)
	dd, err = s.Drawdown(ctx, "dd0")
	require.NoError(t, err)
	require.Equal(t, time.UnixMicro(-1).UTC(), dd.CreatedAt)
	require.Equal(t, &decided, dd.SettledAt)
	require.Equal(t, credit.DrawdownSettled, dd.Status)

	var typ string
	require.NoError(t, s.DB().QueryRowContext(ctx, `SELECT data_type FROM information_schema.columns WHERE table_name = 'drawdowns' AND column_name = 'created_at'`).Scan(&typ))
	require.Equal(t, "timestamp with time zone", typ)
}

// TestMigrateUpperCaseCurrencies: currency codes written in lower case
// before read back in upper case.
func TestMigrateUpperCaseCurrencies(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	before := sqlstore.Migrations(os.DirFS("."))
	before.UpTo = 2
	db, err := sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{Migrations: before})
	require.NoError(t, err)
	credittest.FillLowerCaseCurrencies(t, db, `'2026-03-01T12:00:00Z'`)
	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	require.NoError(t, err)
	defer s.Close()
	credittest.CheckUpperCaseCurrencies(t, s)
}
