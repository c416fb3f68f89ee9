package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
	"github.com/estatehq/estate/metrics/postgres"
)

func TestStore(t *testing.T) {
	metricstest.Run(t, func(t *testing.T) metrics.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
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
			s, err := postgres.Open(context.Background(), dsn)
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
