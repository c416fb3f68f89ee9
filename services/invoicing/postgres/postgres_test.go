package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/invoicing/internal/sqlstore"
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

// TestMigratePaymentProvenance fills a database of the schema before
// payment provenance and opens it: what was paid is issuer-recorded, and
// currency codes are in upper case.
func TestMigratePaymentProvenance(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	before := sqlstore.Migrations(os.DirFS("."))
	before.UpTo = 2
	db, err := sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{Migrations: before})
	require.NoError(t, err)
	invoicingtest.FillPreProvenance(t, db, `'2026-03-02T10:00:00Z'`)

	s, err := postgres.Open(ctx, dsn, postgres.Options{})
	require.NoError(t, err)
	defer s.Close()
	invoicingtest.CheckPreProvenanceMigrated(t, s)
}
