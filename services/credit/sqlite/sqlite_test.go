package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/credit/credittest"
	"github.com/estatehq/estate/services/credit/internal/sqlstore"
	"github.com/estatehq/estate/services/credit/sqlite"
)

func TestStore(t *testing.T) {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "credit.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	credittest.Run(t, s)
}

// TestMigrateUpperCaseCurrencies: currency codes written in lower case
// before read back in upper case.
func TestMigrateUpperCaseCurrencies(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credit.db")
	before := sqlstore.Migrations(os.DirFS("."))
	before.UpTo = 2
	db, err := sqldb.OpenSQLite(ctx, path, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, ForeignKeys: true, Migrations: before})
	require.NoError(t, err)
	credittest.FillLowerCaseCurrencies(t, db, "1772366400000000")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	credittest.CheckUpperCaseCurrencies(t, s)
}
