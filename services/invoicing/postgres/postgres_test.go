package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/services/invoicing/invoicingtest"
	"github.com/estatehq/estate/services/invoicing/postgres"
)

func TestStore(t *testing.T) {
	invoicingtest.Run(t, func(t *testing.T) invoicingtest.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 30})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestMigrateTwice(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	require.NoError(t, postgres.Migrate(context.Background(), dsn))
	require.NoError(t, postgres.Migrate(context.Background(), dsn))
}
