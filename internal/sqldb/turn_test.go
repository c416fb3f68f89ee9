package sqldb

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWriterTurnIsFirstComeFirstServed: writers queued behind a
// transaction get the writer in the order they asked for it, which
// database/sql's pool alone does not promise.
func TestWriterTurnIsFirstComeFirstServed(t *testing.T) {
	ctx := context.Background()
	db, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "x.db"), SQLiteOptions{Synchronous: SyncNormal})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.W.ExecContext(ctx, `CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, v INTEGER)`)
	require.NoError(t, err)

	var waiting atomic.Int32
	waitingForTurn = func() { waiting.Add(1) }
	t.Cleanup(func() { waitingForTurn = nil })

	// A unit holds the writer while the others queue.
	uctx, u := db.NewUnit(ctx)
	require.NoError(t, db.Write(uctx, func(q Querier) error {
		_, err := q.ExecContext(ctx, `INSERT INTO t (v) VALUES (0)`)
		return err
	}))
	const n = 8
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			err := db.InTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, i)
				return err
			})
			require.NoError(t, err)
		})
		// The next one asks only once this one waits.
		require.Eventually(t, func() bool { return waiting.Load() == int32(i+1) }, 10*time.Second, time.Millisecond)
		time.Sleep(5 * time.Millisecond)
	}
	require.NoError(t, u.Commit())
	wg.Wait()
	rows, err := db.R.QueryContext(ctx, `SELECT v FROM t ORDER BY seq`)
	require.NoError(t, err)
	defer rows.Close()
	var got []int
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		got = append(got, v)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, got)
}

// TestWriterTurnWaitEndsWithItsContext: a write queued behind a long
// transaction gives up when its context ends, and leaves the turn to the
// others.
func TestWriterTurnWaitEndsWithItsContext(t *testing.T) {
	ctx := context.Background()
	db, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "x.db"), SQLiteOptions{Synchronous: SyncNormal})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.W.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`)
	require.NoError(t, err)
	insert := func(ctx context.Context, v int) error {
		return db.Write(ctx, func(q Querier) error {
			_, err := q.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, v)
			return err
		})
	}
	uctx, u := db.NewUnit(ctx)
	require.NoError(t, insert(uctx, 1))
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	require.ErrorIs(t, insert(wctx, 2), context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
	// A unit whose first write could not get the writer has failed.
	u2ctx, u2 := db.NewUnit(wctx)
	require.Error(t, insert(u2ctx, 3))
	require.Error(t, u2.Commit())
	require.NoError(t, u.Commit())
	require.NoError(t, insert(ctx, 4))
	var sum int
	require.NoError(t, db.R.QueryRowContext(ctx, `SELECT sum(v) FROM t`).Scan(&sum))
	require.Equal(t, 5, sum)
}
