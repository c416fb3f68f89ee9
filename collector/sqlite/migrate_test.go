package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/sqldb"
)

// schemaOf lists the tables and indexes of the database at path, each with
// the statement that created it.
func schemaOf(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE '%goose%' AND name <> 'sqlite_sequence'`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, stmt string
		require.NoError(t, rows.Scan(&name, &stmt))
		out[name] = stmt
	}
	require.NoError(t, rows.Err())
	return out
}

// createBeforeMigrations creates the database at path as Open did before
// it had versioned migrations, and runs stmts in it.
func createBeforeMigrations(t *testing.T, path string, stmts ...string) {
	t.Helper()
	schema, err := os.ReadFile("testdata/schema_before_migrations.sql")
	require.NoError(t, err)
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range append([]string{string(schema)}, stmts...) {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
}

// migrateUpTo creates (or migrates) the database at path up to version.
func migrateUpTo(t *testing.T, path string, version int64) {
	t.Helper()
	db, err := sqldb.OpenSQLite(context.Background(), path, sqldb.SQLiteOptions{
		Synchronous: sqldb.SyncNormal,
		Migrations:  sqldb.Migrations{FS: migrations, Dir: "migrations", Schema: "collector", UpTo: version},
	})
	require.NoError(t, err)
	require.NoError(t, db.Close())
}

// TestMigrationsKeepSchema: the first migration creates the schema Open
// created before there were migrations, to the letter.
func TestMigrationsKeepSchema(t *testing.T) {
	dir := t.TempDir()
	before, now := filepath.Join(dir, "before.db"), filepath.Join(dir, "now.db")
	createBeforeMigrations(t, before)
	migrateUpTo(t, now, 1)
	want := schemaOf(t, before)
	require.Len(t, want, 10) // 4 tables, 6 indexes
	if diff := cmp.Diff(want, schemaOf(t, now)); diff != "" {
		t.Errorf("schema (-before +now):\n%s", diff)
	}
}

// TestOpenAdoptsDatabaseBeforeMigrations opens a database that an earlier
// release created, with no version table: it opens, keeps its data, and
// records the first migration as applied, then applies the others.
func TestOpenAdoptsDatabaseBeforeMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	createBeforeMigrations(t, path,
		`INSERT INTO logs VALUES ('log1', 1772366400000000000, 'billing', 3, 9, 'kept', '', '', '{}', '{}')`,
		`INSERT INTO spans VALUES ('0102', '03', '', 'billing', 'GET /x', 'server', 1772366400000000000, 1772366400500000000, 'ok', '', '{}', '{}', '[]')`)

	s, err := Open(ctx, Options{Path: path})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Shutdown(ctx)) }()
	logs, err := s.QueryLogs(ctx, collector.LogQuery{})
	require.NoError(t, err)
	require.Len(t, logs, 1)
	require.Equal(t, "kept", logs[0].Body)
	require.Equal(t, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), logs[0].Time)
	spans, err := s.Trace(ctx, "0102")
	require.NoError(t, err)
	require.Len(t, spans, 1)
	require.Equal(t, "GET /x", spans[0].Name)

	var version int64
	require.NoError(t, s.r.QueryRowContext(ctx, `SELECT max(version_id) FROM collector_goose_db_version`).Scan(&version))
	require.Equal(t, latestMigration(t), version)

	// The store goes on taking deliveries.
	require.NoError(t, s.Deliver(ctx, []collector.Item{logsItem(t, 1, logSpec{service: "billing", body: "new", at: t0})}))
	logs, err = s.QueryLogs(ctx, collector.LogQuery{})
	require.NoError(t, err)
	require.Len(t, logs, 2)
}

// latestMigration is the version of the last migration.
func latestMigration(t *testing.T) int64 {
	t.Helper()
	files, err := fs.Glob(migrations, "migrations/*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	v, err := strconv.ParseInt(strings.SplitN(path.Base(files[len(files)-1]), "_", 2)[0], 10, 64)
	require.NoError(t, err)
	return v
}

// TestMigrateREDMinutesKeepsRows fills the RED rollups of a database of the
// first schema, with no version, and opens it: every row reads back with
// version "", and rows of versions then add up apart from it, the
// versionless row taking spans without a version.
func TestMigrateREDMinutesKeepsRows(t *testing.T) {
	ctx := context.Background()
	for name, create := range map[string]func(t *testing.T, path string, stmts ...string){
		"created before migrations": createBeforeMigrations,
		"at the first migration": func(t *testing.T, path string, stmts ...string) {
			migrateUpTo(t, path, 1)
			db, err := sql.Open("sqlite", path)
			require.NoError(t, err)
			defer db.Close()
			for _, q := range stmts {
				_, err := db.Exec(q)
				require.NoError(t, err, q)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dbPath := filepath.Join(t.TempDir(), "store.db")
			create(t, dbPath,
				fmt.Sprintf(`INSERT INTO red_minutes VALUES (%d, 'inv', 'GET /a', '2xx', 5, 0, 500000000, 200000000)`, t0.Unix()),
				fmt.Sprintf(`INSERT INTO red_minutes VALUES (%d, 'inv', 'GET /a', '5xx', 2, 2, 100000000, 60000000)`, t0.Unix()))

			s, err := Open(ctx, Options{Path: dbPath})
			require.NoError(t, err)
			defer func() { require.NoError(t, s.Shutdown(ctx)) }()
			rows, err := s.REDMinutes(ctx, t0, t0.Add(time.Minute))
			require.NoError(t, err)
			key := func(class, version string) collector.REDKey {
				return collector.REDKey{Service: "inv", Route: "GET /a", StatusClass: class, Version: version}
			}
			want := []collector.REDMinute{
				{Minute: t0, Key: key("2xx", ""), Requests: 5, DurationSum: 500 * time.Millisecond, DurationMax: 200 * time.Millisecond},
				{Minute: t0, Key: key("5xx", ""), Requests: 2, Errors: 2, DurationSum: 100 * time.Millisecond, DurationMax: 60 * time.Millisecond},
			}
			require.Empty(t, cmp.Diff(want, rows), "rows from before keep their counts, with version \"\"")

			obs := func(span, version string) collector.REDObservation {
				return collector.REDObservation{TraceID: "t1", SpanID: span, Key: key("2xx", version),
					Minute: t0, End: t0.Add(time.Second), Duration: 100 * time.Millisecond}
			}
			added, err := s.AddRED(ctx, []collector.REDObservation{obs("s1", ""), obs("s2", "1.4.0"), obs("s3", "1.4.0")})
			require.NoError(t, err)
			require.Equal(t, []bool{true, true, true}, added)
			rows, err = s.REDMinutes(ctx, t0, t0.Add(time.Minute))
			require.NoError(t, err)
			want = []collector.REDMinute{
				{Minute: t0, Key: key("2xx", ""), Requests: 6, DurationSum: 600 * time.Millisecond, DurationMax: 200 * time.Millisecond},
				{Minute: t0, Key: key("2xx", "1.4.0"), Requests: 2, DurationSum: 200 * time.Millisecond, DurationMax: 100 * time.Millisecond},
				{Minute: t0, Key: key("5xx", ""), Requests: 2, Errors: 2, DurationSum: 100 * time.Millisecond, DurationMax: 60 * time.Millisecond},
			}
			require.Empty(t, cmp.Diff(want, rows))
		})
	}
}

// TestMigrateREDVersionDown: going back to the first schema adds up the
// rows of a series' versions, so no request is lost.
func TestMigrateREDVersionDown(t *testing.T) {
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "store.db")
	s, err := Open(ctx, Options{Path: dbPath})
	require.NoError(t, err)
	obs := func(span, version string, d time.Duration) collector.REDObservation {
		return collector.REDObservation{TraceID: "t1", SpanID: span,
			Key:    collector.REDKey{Service: "inv", Route: "GET /a", StatusClass: "5xx", Version: version},
			Minute: t0, End: t0.Add(time.Second), Duration: d, Error: true}
	}
	_, err = s.AddRED(ctx, []collector.REDObservation{obs("s1", "", 10*time.Millisecond), obs("s2", "1.4.0", 30*time.Millisecond), obs("s3", "1.5.0", 20*time.Millisecond)})
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(ctx))

	db, err := sql.Open("sqlite", dbPath)
	require.NoError(t, err)
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub,
		goose.WithDisableGlobalRegistry(true), goose.WithTableName(sqldb.Migrations{Schema: "collector"}.VersionTable()))
	require.NoError(t, err)
	_, err = p.DownTo(ctx, 1)
	require.NoError(t, err)

	before := filepath.Join(t.TempDir(), "before.db")
	createBeforeMigrations(t, before)
	// SQLite quotes the name of a renamed table in its statement.
	got := strings.Replace(schemaOf(t, dbPath)["red_minutes"], `"red_minutes"`, "red_minutes", 1)
	require.Equal(t, schemaOf(t, before)["red_minutes"], got, "the first schema's table again")
	var requests, errs, sum, mx int64
	require.NoError(t, db.QueryRowContext(ctx, `SELECT requests, errors, duration_sum_ns, duration_max_ns FROM red_minutes`).Scan(&requests, &errs, &sum, &mx))
	require.Equal(t, []int64{3, 3, int64(60 * time.Millisecond), int64(30 * time.Millisecond)}, []int64{requests, errs, sum, mx})
}

func TestOpenDurability(t *testing.T) {
	for _, tc := range []struct {
		durable bool
		want    int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{false, 1}, {true, 2}} {
		s := openStore(t, Options{Durable: tc.durable})
		var got int
		require.NoError(t, s.w.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&got))
		require.Equal(t, tc.want, got, "durable %v", tc.durable)
	}
}
