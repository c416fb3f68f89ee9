package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
	"github.com/estatehq/estate/metrics/postgres"
)

func TestStore(t *testing.T) {
	metricstest.Run(t, func(t *testing.T) metrics.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{})
		require.NoError(t, err)
		t.Cleanup(s.Close)
		return s
	})
}

// TestConcurrentOpen starts several stores on one fresh database at once,
// as replicas of the collector would: the migration lock lets exactly one
// migrate and the others find the schema ready.
func TestConcurrentOpen(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

// TestMigrateTimesToTimestamptz fills a database of the first schema, whose
// times are Unix nanoseconds, and opens it: every event reads back at the
// same instant, to the nanosecond, from the timestamptz column and its
// remainder.
func TestMigrateTimesToTimestamptz(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pool, err := sqldb.OpenPostgresPool(ctx, dsn, sqldb.PostgresOptions{Migrations: sqldb.Migrations{
		FS: os.DirFS("."), Dir: "migrations", Schema: "metrics", UpTo: 1}})
	require.NoError(t, err)
	times := map[string]time.Time{
		"nanos":       time.Date(2026, 11, 2, 10, 0, 0, 123456789, time.UTC),
		"whole":       time.Date(2026, 11, 2, 11, 0, 0, 0, time.UTC),
		"before 1970": time.Unix(-2, 999999999).UTC(),
	}
	for id, at := range times {
		_, err := pool.Exec(ctx, `INSERT INTO metrics_events (id, source, type, time_ns, data) VALUES ($1, 's', $2, $3, $4)`,
			id, string(metrics.TypeIncidentResolved), at.UnixNano(), `{"incident_id":"i1"}`)
		require.NoError(t, err)
	}
	pool.Close()

	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	require.NoError(t, err)
	defer s.Close()
	events, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	got := map[string]time.Time{}
	for _, e := range events {
		got[e.ID] = e.Time
	}
	require.Equal(t, times, got)
}
