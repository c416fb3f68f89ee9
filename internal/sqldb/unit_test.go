package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/sqldb"
)

func TestUnit(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
	_, err := db.W.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`)
	require.NoError(t, err)
	insert := func(ctx context.Context, v int) error {
		return db.Write(ctx, func(q sqldb.Querier) error {
			_, err := db.Exec(ctx, q, `INSERT INTO t VALUES (?)`, v)
			return err
		})
	}
	inTx := func(ctx context.Context, v int, fail error) error {
		return db.InTx(ctx, func(tx *sql.Tx) error {
			if _, err := db.Exec(ctx, tx, `INSERT INTO t VALUES (?)`, v); err != nil {
				return err
			}
			return fail
		})
	}
	sum := func() int {
		var n sql.NullInt64
		require.NoError(t, db.R.QueryRowContext(ctx, `SELECT sum(v) FROM t`).Scan(&n))
		return int(n.Int64)
	}
	errFail := errors.New("refused")

	t.Run("writes commit together", func(t *testing.T) {
		uctx, u := db.NewUnit(ctx)
		require.False(t, u.Begun())
		require.NoError(t, insert(uctx, 1))
		require.True(t, u.Begun())
		require.NoError(t, inTx(uctx, 2, nil))
		require.Zero(t, sum(), "nothing is visible before the commit")
		require.NoError(t, u.Commit())
		require.Equal(t, 3, sum())
		require.NoError(t, u.Rollback(), "rolling back after the commit does nothing")
		require.ErrorIs(t, insert(uctx, 100), sqldb.ErrUnitDone)
		require.ErrorIs(t, u.Commit(), sqldb.ErrUnitDone)
	})
	t.Run("rollback discards every write", func(t *testing.T) {
		uctx, u := db.NewUnit(ctx)
		require.NoError(t, insert(uctx, 10))
		require.NoError(t, u.Rollback())
		require.Equal(t, 3, sum())
	})
	t.Run("a failed write fails the unit", func(t *testing.T) {
		uctx, u := db.NewUnit(ctx)
		require.NoError(t, insert(uctx, 10))
		require.Equal(t, errFail, inTx(uctx, 20, errFail))
		require.Equal(t, errFail, u.Err())
		require.ErrorIs(t, insert(uctx, 30), errFail, "no write after a failed one")
		require.Equal(t, errFail, u.Commit())
		require.Equal(t, 3, sum(), "the whole unit rolled back")
	})
	t.Run("a unit without writes commits nothing", func(t *testing.T) {
		_, u := db.NewUnit(ctx)
		require.NoError(t, u.Commit())
		require.False(t, u.Begun())
	})
	t.Run("another database's unit is not joined", func(t *testing.T) {
		other := openSQLite(t, filepath.Join(t.TempDir(), "y.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
		uctx, u := other.NewUnit(ctx)
		require.NoError(t, insert(uctx, 4))
		require.False(t, u.Begun())
		require.Equal(t, 7, sum(), "committed on its own")
		require.NoError(t, u.Rollback())
	})
}

func TestPreparedStatements(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
	_, err := db.W.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`)
	require.NoError(t, err)
	require.ErrorContains(t, db.Prepare(ctx, `INSERT INTO nowhere VALUES (?)`), "no such table")
	require.NoError(t, db.Prepare(ctx, `INSERT INTO t VALUES (?)`))
	// In a transaction of the writer's one connection, a prepared statement
	// runs; one that is not runs unprepared (preparing it for the pool
	// would wait for the connection forever).
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
		if _, err := db.Exec(ctx, tx, `INSERT INTO t VALUES (?)`, 1); err != nil {
			return err
		}
		_, err := db.Exec(ctx, tx, `INSERT INTO t (v) VALUES (?)`, 2)
		return err
	}))
	var n int
	require.NoError(t, db.QueryRow(ctx, db.R, `SELECT sum(v) FROM t WHERE v > ?`, 0).Scan(&n))
	require.Equal(t, 3, n)
	_, err = db.Exec(ctx, db.W, `INSERT INTO nowhere VALUES (?)`, 1)
	require.ErrorContains(t, err, "no such table", "a statement that cannot be prepared reports why when run")
}
