package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/chaostest"
	"github.com/estatehq/estate/chaos/postgres"
	"github.com/estatehq/estate/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStore(t *testing.T) {
	chaostest.Run(t, func(t *testing.T) chaos.Store {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), nil)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}
