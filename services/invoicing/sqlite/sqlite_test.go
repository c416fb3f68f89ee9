package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/invoicing/internal/sqlstore"
	"github.com/estatehq/estate/services/invoicing/invoicingtest"
	"github.com/estatehq/estate/services/invoicing/sqlite"
)

func TestStore(t *testing.T) {
	invoicingtest.Run(t, func(t *testing.T) invoicingtest.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "invoicing.db"), sqlite.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "invoicing.db")
	require.NoError(t, sqlite.Migrate(context.Background(), path))
	require.NoError(t, sqlite.Migrate(context.Background(), path))
}

// TestMigratePaymentProvenance fills a database of the schema before
// payment provenance and opens it: what was paid is issuer-recorded, and
// currency codes are in upper case.
func TestMigratePaymentProvenance(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "invoicing.db")
	before := sqlstore.Migrations(os.DirFS("."))
	before.UpTo = 2
	db, err := sqldb.OpenSQLite(ctx, path, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, ForeignKeys: true, Migrations: before})
	require.NoError(t, err)
	invoicingtest.FillPreProvenance(t, db, "1772445600000000")

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	invoicingtest.CheckPreProvenanceMigrated(t, s)
}
