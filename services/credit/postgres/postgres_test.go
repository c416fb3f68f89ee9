package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/services/credit/credittest"
	"github.com/estatehq/estate/services/credit/postgres"
)

func TestStore(t *testing.T) {
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), postgres.Options{MaxConns: 10})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	credittest.Run(t, s)
}
