package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

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
