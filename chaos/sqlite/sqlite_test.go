package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/chaostest"
	"github.com/estatehq/estate/chaos/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStore(t *testing.T) {
	chaostest.Run(t, func(t *testing.T) chaos.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chaos.db"), nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}
