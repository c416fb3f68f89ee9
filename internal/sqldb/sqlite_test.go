package sqldb_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/internal/testenv"
)

func openSQLite(t *testing.T, path string, o sqldb.SQLiteOptions) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenSQLite(context.Background(), path, o)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

type pragmas struct {
	JournalMode string
	Synchronous int // 1 NORMAL, 2 FULL
	BusyTimeout int // ms
	ForeignKeys int
	MmapSize    int64
}

func readPragmas(t *testing.T, db *sql.DB) pragmas {
	t.Helper()
	var p pragmas
	ctx := context.Background()
	// One connection, so every pragma is read from the one the driver
	// configured.
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	for _, q := range []struct {
		pragma string
		dest   any
	}{
		{"journal_mode", &p.JournalMode},
		{"synchronous", &p.Synchronous},
		{"busy_timeout", &p.BusyTimeout},
		{"foreign_keys", &p.ForeignKeys},
		{"mmap_size", &p.MmapSize},
	} {
		require.NoError(t, conn.QueryRowContext(ctx, "PRAGMA "+q.pragma).Scan(q.dest), q.pragma)
	}
	return p
}

func TestOpenSQLitePragmas(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    sqldb.SQLiteOptions
		want pragmas
	}{
		{"full with defaults", sqldb.SQLiteOptions{Synchronous: sqldb.SyncFull},
			pragmas{JournalMode: "wal", Synchronous: 2, BusyTimeout: 10000}},
		{"normal", sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal},
			pragmas{JournalMode: "wal", Synchronous: 1, BusyTimeout: 10000}},
		{"everything asked for", sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, BusyTimeout: 2500 * time.Millisecond, ForeignKeys: true, MmapSize: 1 << 26},
			pragmas{JournalMode: "wal", Synchronous: 1, BusyTimeout: 2500, ForeignKeys: 1, MmapSize: 1 << 26}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openSQLite(t, filepath.Join(t.TempDir(), "x.db"), tc.o)
			require.Equal(t, sqldb.SQLite, db.Dialect)
			for pool, h := range map[string]*sql.DB{"writer": db.W, "reader": db.R} {
				if diff := cmp.Diff(tc.want, readPragmas(t, h)); diff != "" {
					t.Errorf("%s pool pragmas (-want +got):\n%s", pool, diff)
				}
			}
		})
	}
}

// TestOpenSQLitePageCaches: each pool's connections have the page cache
// asked for (SQLite reports a size in KiB as its negative), the defaults
// when none is.
func TestOpenSQLitePageCaches(t *testing.T) {
	cacheKiB := func(db *sql.DB) int {
		var n int
		require.NoError(t, db.QueryRowContext(context.Background(), "PRAGMA cache_size").Scan(&n))
		return -n
	}
	db := openSQLite(t, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
	require.Equal(t, sqldb.DefaultWriterCacheKiB, cacheKiB(db.W))
	require.Equal(t, sqldb.DefaultReaderCacheKiB, cacheKiB(db.R))
	db = openSQLite(t, filepath.Join(t.TempDir(), "y.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, CacheKiB: 100, WriterCacheKiB: 3000})
	require.Equal(t, 3000, cacheKiB(db.W))
	require.Equal(t, 100, cacheKiB(db.R))
}

func TestOpenSQLitePools(t *testing.T) {
	db := openSQLite(t, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, Readers: 3})
	require.Equal(t, 1, db.W.Stats().MaxOpenConnections)
	require.Equal(t, 3, db.R.Stats().MaxOpenConnections)
	require.NoError(t, db.Ping(context.Background()))

	db = openSQLite(t, filepath.Join(t.TempDir(), "y.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
	require.Equal(t, 4, db.R.Stats().MaxOpenConnections)
}

func TestOpenSQLiteRejects(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path string
		o          sqldb.SQLiteOptions
		err        string
	}{
		{"empty path", "", sqldb.SQLiteOptions{Synchronous: sqldb.SyncFull}, "must name a file"},
		{"memory", ":memory:", sqldb.SQLiteOptions{Synchronous: sqldb.SyncFull}, "must name a file"},
		{"query", filepath.Join(dir, "x.db?mode=memory"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncFull}, "must name a file"},
		{"fragment", filepath.Join(dir, "x.db#y"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncFull}, "must name a file"},
		{"no synchronous", filepath.Join(dir, "x.db"), sqldb.SQLiteOptions{}, "synchronous must be chosen"},
		{"bad synchronous", filepath.Join(dir, "x.db"), sqldb.SQLiteOptions{Synchronous: "OFF"}, `not "OFF"`},
		{"negative busy timeout", filepath.Join(dir, "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncFull, BusyTimeout: -time.Second}, "must not be negative"},
		{"negative cache", filepath.Join(dir, "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncFull, CacheKiB: -1}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqldb.OpenSQLite(context.Background(), tc.path, tc.o)
			require.ErrorContains(t, err, tc.err)
		})
	}
}

// TestSQLiteImmediateTransactions shows that a transaction takes the write
// lock when it begins, before it writes anything: a second process's
// transaction cannot begin until the first ends.
func TestSQLiteImmediateTransactions(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	a := openSQLite(t, path, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
	b := openSQLite(t, path, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, BusyTimeout: time.Millisecond})

	tx, err := a.W.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = b.W.BeginTx(ctx, nil)
	require.ErrorContains(t, err, "SQLITE_BUSY")
	require.NoError(t, tx.Rollback())

	tx, err = b.W.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback())
}

func TestInTx(t *testing.T) {
	ctx := context.Background()
	db := openSQLite(t, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
	_, err := db.W.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`)
	require.NoError(t, err)

	errFn := sql.ErrConnDone // any error of fn's, returned as is
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
		require.NoError(t, err)
		return errFn
	})
	require.Equal(t, errFn, err)
	require.NoError(t, db.InTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (2)`)
		return err
	}))
	var sum int
	require.NoError(t, db.R.QueryRowContext(ctx, `SELECT sum(v) FROM t`).Scan(&sum))
	require.Equal(t, 2, sum, "the first transaction is rolled back, the second committed")
}

// TestSQLiteCheckpoints: with a checkpoint interval, commits leave the log
// alone (up to the backstop) and a goroutine copies it into the database
// file, until Close.
func TestSQLiteCheckpoints(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		interval time.Duration
		want     int // wal_autocheckpoint
	}{
		{"by commits", 0, 1000},
		{"in the background", 5 * time.Millisecond, 10_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			db := openSQLite(t, path, sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, CheckpointInterval: tc.interval})
			for pool, h := range map[string]*sql.DB{"writer": db.W, "reader": db.R} {
				var n int
				require.NoError(t, h.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&n))
				require.Equal(t, tc.want, n, pool)
			}
			if tc.interval == 0 {
				return
			}
			_, err := db.W.ExecContext(ctx, `CREATE TABLE t (v BLOB)`)
			require.NoError(t, err)
			size := func() int64 {
				fi, err := os.Stat(path)
				require.NoError(t, err)
				return fi.Size()
			}
			before := size()
			for range 20 {
				_, err := db.W.ExecContext(ctx, `INSERT INTO t VALUES (zeroblob(4000))`)
				require.NoError(t, err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			require.NoError(t, testenv.WaitFor(wctx, 5*time.Millisecond, func() error {
				if size() < before+20*4000 {
					return errors.New("the log is not in the database file yet")
				}
				return nil
			}))

			// Under writes that never pause, the log restarts from its start
			// before the commits' backstop (10,000 pages) would restart it.
			last := logPages(t, path)
			for i := range 9000 {
				_, err := db.W.ExecContext(ctx, `INSERT INTO t VALUES (zeroblob(4000))`)
				require.NoError(t, err)
				if i%50 == 0 {
					n := logPages(t, path)
					if n < last {
						return // restarted
					}
					last = n
				}
			}
			t.Fatalf("the log did not restart: %d pages", last)
		})
	}
}

// logPages reads how many pages the log of the database at path holds:
// mxFrame, at offset 16 of the WAL-index header in the -shm file
// (https://www.sqlite.org/walformat.html), in the machine's byte order.
func logPages(t *testing.T, path string) uint32 {
	t.Helper()
	b, err := os.ReadFile(path + "-shm")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), 20)
	return binary.NativeEndian.Uint32(b[16:20])
}
