package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestNewDatabaseIsFreshAndUsable(t *testing.T) {
	ctx := context.Background()
	a, b := NewDatabase(t), NewDatabase(t)
	require.NotEqual(t, a, b)

	conn, err := pgx.Connect(ctx, a)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE TABLE t (id int)")
	require.NoError(t, err)

	var version string
	require.NoError(t, conn.QueryRow(ctx, "SHOW server_version").Scan(&version))
	require.Regexp(t, `^15\.`, version, "the test cluster must be PostgreSQL 15")
}
