package sqldb_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/internal/sqldb"
)

// testMigrations create a table without IF NOT EXISTS and record each run
// in it, so that a migration applied twice fails or shows.
func testMigrations(schema string, extra string) sqldb.Migrations {
	return sqldb.Migrations{
		FS: fstest.MapFS{
			"m/00001_runs.sql": {Data: []byte("-- +goose Up\nCREATE TABLE " + schema + "_runs (version INTEGER NOT NULL);\n" +
				"INSERT INTO " + schema + "_runs VALUES (1);\n" + extra + "\n-- +goose Down\nDROP TABLE " + schema + "_runs;\n")},
			"m/00002_more.sql": {Data: []byte("-- +goose Up\nINSERT INTO " + schema + "_runs VALUES (2);\n-- +goose Down\nDELETE FROM " + schema + "_runs WHERE version = 2;\n")},
		},
		Dir:    "m",
		Schema: schema,
	}
}

// ints runs a query of one integer column.
func ints[T int | int64](t *testing.T, db *sql.DB, query string) []T {
	t.Helper()
	rows, err := db.Query(query)
	require.NoError(t, err)
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

// runs lists the versions whose migration ran in schema's _runs table.
func runs(t *testing.T, db *sql.DB, schema string) []int {
	return ints[int](t, db, `SELECT version FROM `+schema+`_runs ORDER BY version`)
}

// versions lists the versions applied in a goose version table.
func versions(t *testing.T, db *sql.DB, table string) []int64 {
	return ints[int64](t, db, `SELECT version_id FROM `+table+` WHERE version_id > 0 ORDER BY id`)
}

func TestMigrateSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	o := sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, Migrations: testMigrations("a", "")}
	o.Migrations.UpTo = 1
	db := openSQLite(t, path, o)
	require.Equal(t, []int{1}, runs(t, db.R, "a"))
	o.Migrations.UpTo = 0
	require.NoError(t, sqldb.Migrate(ctx, db.W, sqldb.SQLite, o.Migrations, nil))
	require.Equal(t, []int{1, 2}, runs(t, db.R, "a"))
	require.Equal(t, []int64{1, 2}, versions(t, db.R, "a_goose_db_version"))

	// Again: nothing to do. A second schema in the same file keeps its own
	// versions.
	require.NoError(t, sqldb.Migrate(ctx, db.W, sqldb.SQLite, o.Migrations, nil))
	require.NoError(t, sqldb.Migrate(ctx, db.W, sqldb.SQLite, testMigrations("b", ""), nil))
	require.Equal(t, []int{1, 2}, runs(t, db.R, "a"))
	require.Equal(t, []int{1, 2}, runs(t, db.R, "b"))
	require.Equal(t, []int64{1, 2}, versions(t, db.R, "b_goose_db_version"))
}

func TestMigrateRejectsBadSchema(t *testing.T) {
	m := testMigrations("a", "")
	m.Schema = "A; DROP TABLE x"
	_, err := sqldb.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal, Migrations: m})
	require.ErrorContains(t, err, "must be a lowercase identifier")
}

// legacyMigrate applies m with goose's default version table, as releases
// before per-schema tables did.
func legacyMigrate(t *testing.T, db *sql.DB, d goose.Dialect, m sqldb.Migrations) {
	t.Helper()
	sub := fstest.MapFS{}
	for name, f := range m.FS.(fstest.MapFS) {
		if name == "m/00001_runs.sql" {
			sub["00001_runs.sql"] = f
		}
	}
	p, err := goose.NewProvider(d, db, sub, goose.WithDisableGlobalRegistry(true))
	require.NoError(t, err)
	_, err = p.Up(context.Background())
	require.NoError(t, err)
}

func TestMigrateAdoptsLegacyTable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		d     sqldb.Dialect
		open  func(t *testing.T) *sql.DB
		goose goose.Dialect
	}{
		{"sqlite", sqldb.SQLite, func(t *testing.T) *sql.DB {
			return openSQLite(t, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal}).W
		}, goose.DialectSQLite3},
		{"postgres", sqldb.Postgres, func(t *testing.T) *sql.DB {
			db, err := sqldb.OpenPostgres(context.Background(), pgtest.NewDatabase(t), sqldb.PostgresOptions{})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, db.Close()) })
			return db.W
		}, goose.DialectPostgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := tc.open(t)
			m := testMigrations("a", "")
			legacyMigrate(t, db, tc.goose, m)
			require.Equal(t, []int{1}, runs(t, db, "a"))

			m.LegacyTable = "goose_db_version"
			require.NoError(t, sqldb.Migrate(ctx, db, tc.d, m, nil))
			require.Equal(t, []int{1, 2}, runs(t, db, "a"), "version 1 is known applied, and only 2 runs")
			require.Equal(t, []int64{1, 2}, versions(t, db, "a_goose_db_version"))

			// Adopted once: a new legacy table (another store's) is left
			// alone.
			legacyMigrate(t, db, tc.goose, testMigrations("c", ""))
			require.NoError(t, sqldb.Migrate(ctx, db, tc.d, m, nil))
			require.Equal(t, []int64{1}, versions(t, db, "goose_db_version"))
		})
	}
}

// TestMigratePostgresConcurrently migrates one fresh database from two
// pools at once, as two replicas starting together would: both succeed,
// and each migration ran once.
func TestMigratePostgresConcurrently(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	// The first migration lasts long enough for the other pool to try its
	// own in the meantime.
	m := testMigrations("a", "SELECT pg_sleep(0.5);")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			db, err := sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{MaxConns: 2, Migrations: m})
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])

	db, err := sqldb.OpenPostgres(ctx, dsn, sqldb.PostgresOptions{})
	require.NoError(t, err)
	defer db.Close()
	require.Equal(t, []int{1, 2}, runs(t, db.R, "a"))
	require.Equal(t, []int64{1, 2}, versions(t, db.R, "a_goose_db_version"))
}

func TestOpenPostgresPool(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.NewDatabase(t)
	pool, err := sqldb.OpenPostgresPool(ctx, dsn, sqldb.PostgresOptions{MaxConns: 3, Migrations: testMigrations("a", "")})
	require.NoError(t, err)
	defer pool.Close()
	require.EqualValues(t, 3, pool.Config().MaxConns)
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	require.Equal(t, []int{1, 2}, runs(t, db, "a"))

	_, err = sqldb.OpenPostgresPool(ctx, "postgres://%zz", sqldb.PostgresOptions{})
	require.ErrorContains(t, err, "parsing postgres dsn")
}

func TestLockIDPerSchema(t *testing.T) {
	a, b := sqldb.Migrations{Schema: "invoicing"}, sqldb.Migrations{Schema: "credit"}
	require.Equal(t, a.LockID(), sqldb.Migrations{Schema: "invoicing"}.LockID())
	require.NotEqual(t, a.LockID(), b.LockID())
	require.Equal(t, "credit_goose_db_version", b.VersionTable())
}

// TestMigrationTrace: a context carrying a trace hears of each migration
// applied, on both databases; with nothing pending, of none.
func TestMigrationTrace(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var calls [][2]int
			ctx := sqldb.WithMigrationTrace(context.Background(), &sqldb.MigrationTrace{
				Applied: func(done, total int) { calls = append(calls, [2]int{done, total}) }})
			open := func() *sqldb.DB {
				if backend == "sqlite" {
					db, err := sqldb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "x.db"), sqldb.SQLiteOptions{Synchronous: sqldb.SyncNormal})
					require.NoError(t, err)
					return db
				}
				db, err := sqldb.OpenPostgres(ctx, pgtest.NewDatabase(t), sqldb.PostgresOptions{})
				require.NoError(t, err)
				return db
			}
			db := open()
			defer db.Close()
			d := sqldb.SQLite
			if backend == "postgres" {
				d = sqldb.Postgres
			}
			require.NoError(t, sqldb.Migrate(ctx, db.W, d, testMigrations("a", ""), nil))
			require.Equal(t, [][2]int{{0, 2}, {1, 2}, {2, 2}}, calls)
			require.Equal(t, []int{1, 2}, runs(t, db.R, "a"))
			calls = nil
			require.NoError(t, sqldb.Migrate(ctx, db.W, d, testMigrations("a", ""), nil))
			require.Equal(t, [][2]int{{0, 0}}, calls)
		})
	}
}
