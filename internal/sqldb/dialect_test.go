package sqldb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct {
		name, q, sqlite, postgres string
	}{
		{"none", `SELECT 1`, `SELECT 1`, `SELECT 1`},
		{"several", `UPDATE t SET a = ?, b = ? WHERE id = ?`, `UPDATE t SET a = ?, b = ? WHERE id = ?`, `UPDATE t SET a = $1, b = $2 WHERE id = $3`},
		{"ten and more", `VALUES (?,?,?,?,?,?,?,?,?,?,?)`, `VALUES (?,?,?,?,?,?,?,?,?,?,?)`, `VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`},
		{"unicode around", `SELECT 'é' WHERE x = ?`, `SELECT 'é' WHERE x = ?`, `SELECT 'é' WHERE x = $1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.sqlite, sqldb.SQLite.Rebind(tc.q))
			require.Equal(t, tc.postgres, sqldb.Postgres.Rebind(tc.q))
		})
	}
}

func TestDialectNames(t *testing.T) {
	require.Equal(t, "sqlite", sqldb.SQLite.Name())
	require.Equal(t, "postgresql", sqldb.Postgres.String())
	require.Equal(t, "?12", sqldb.SQLite.Param(12))
	require.Equal(t, "$12", sqldb.Postgres.Param(12))
	require.Empty(t, sqldb.SQLite.ForUpdate())
	require.Equal(t, " FOR UPDATE", sqldb.Postgres.ForUpdate())
}

// dialectDBs opens an empty database of each backend.
func dialectDBs(t *testing.T) map[string]*sqldb.DB {
	t.Helper()
	pg, err := sqldb.OpenPostgres(context.Background(), pgtest.NewDatabase(t), sqldb.PostgresOptions{MaxConns: 2})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, pg.Close()) })
	return map[string]*sqldb.DB{
		"sqlite":   openSQLite(t, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal}),
		"postgres": pg,
	}
}

// TestDialectTimes writes times through each dialect into the column type
// its schemas use, compares and reads them back.
func TestDialectTimes(t *testing.T) {
	ctx := context.Background()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	at := time.Date(2026, 3, 1, 12, 30, 15, 123456789, paris)
	for name, db := range dialectDBs(t) {
		t.Run(name, func(t *testing.T) {
			d := db.Dialect
			typ := map[sqldb.Dialect]string{sqldb.SQLite: "INTEGER", sqldb.Postgres: "TIMESTAMPTZ"}[d]
			_, err := db.W.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, at `+typ+` NOT NULL, maybe `+typ+`)`)
			require.NoError(t, err)
			_, err = db.W.ExecContext(ctx, d.Rebind(`INSERT INTO t VALUES (?, ?, ?), (?, ?, ?)`),
				1, d.Time(at), d.NullTime(&at), 2, d.Time(at.Add(time.Microsecond)), d.NullTime(nil))
			require.NoError(t, err)

			var got time.Time
			var maybe *time.Time
			require.NoError(t, db.R.QueryRowContext(ctx, d.Rebind(`SELECT at, maybe FROM t WHERE id = ?`), 1).Scan(sqldb.ScanTime(&got), sqldb.ScanNullTime(&maybe)))
			want := time.Date(2026, 3, 1, 11, 30, 15, 123456000, time.UTC) // UTC, truncated to the microsecond
			require.Equal(t, want, got)
			require.Equal(t, &want, maybe)
			require.NoError(t, db.R.QueryRowContext(ctx, d.Rebind(`SELECT at, maybe FROM t WHERE id = ?`), 2).Scan(sqldb.ScanTime(&got), sqldb.ScanNullTime(&maybe)))
			require.Nil(t, maybe)

			// Comparisons see the instant, whatever its zone.
			var n int
			require.NoError(t, db.R.QueryRowContext(ctx, d.Rebind(`SELECT count(*) FROM t WHERE at > ?`), d.Time(at.UTC())).Scan(&n))
			require.Equal(t, 1, n)
		})
	}
}

func TestDialectIsUnique(t *testing.T) {
	ctx := context.Background()
	for name, db := range dialectDBs(t) {
		t.Run(name, func(t *testing.T) {
			d := db.Dialect
			_, err := db.W.ExecContext(ctx, `CREATE TABLE t (id TEXT PRIMARY KEY, u TEXT UNIQUE, n INTEGER NOT NULL)`)
			require.NoError(t, err)
			insert := d.Rebind(`INSERT INTO t VALUES (?, ?, ?)`)
			_, err = db.W.ExecContext(ctx, insert, "a", "x", 1)
			require.NoError(t, err)

			_, err = db.W.ExecContext(ctx, insert, "a", "y", 1)
			require.True(t, d.IsUnique(err), "primary key: %v", err)
			_, err = db.W.ExecContext(ctx, insert, "b", "x", 1)
			require.True(t, d.IsUnique(err), "unique: %v", err)
			_, err = db.W.ExecContext(ctx, insert, "c", "z", nil)
			require.Error(t, err)
			require.False(t, d.IsUnique(err), "not null: %v", err)
			require.False(t, d.IsUnique(errors.New("unique")))
		})
	}
}

func TestSplitTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
		us   time.Time
		ns   int16
	}{
		{"whole microsecond", time.Unix(1700000000, 123456000), time.Unix(1700000000, 123456000).UTC(), 0},
		{"nanoseconds", time.Unix(1700000000, 123456789), time.Unix(1700000000, 123456000).UTC(), 789},
		{"before 1970", time.Unix(-1, 999999999), time.Unix(-1, 999999000).UTC(), 999},
		{"zone", time.Date(2026, 1, 1, 1, 0, 0, 1, time.FixedZone("x", 3600)), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			us, ns := sqldb.SplitTime(tc.t)
			require.Equal(t, tc.us, us)
			require.Equal(t, tc.ns, ns)
			require.Equal(t, tc.t.UTC(), sqldb.JoinTime(us, ns))
		})
	}
}
