package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector"
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

// TestMigrationsKeepSchema: the first migration creates the schema Open
// created before there were migrations, to the letter.
func TestMigrationsKeepSchema(t *testing.T) {
	dir := t.TempDir()
	before, now := filepath.Join(dir, "before.db"), filepath.Join(dir, "now.db")
	createBeforeMigrations(t, before)
	s, err := Open(context.Background(), Options{Path: now})
	require.NoError(t, err)
	require.NoError(t, s.Shutdown(context.Background()))
	want := schemaOf(t, before)
	require.Len(t, want, 10) // 4 tables, 6 indexes
	if diff := cmp.Diff(want, schemaOf(t, now)); diff != "" {
		t.Errorf("schema (-before +now):\n%s", diff)
	}
}

// TestOpenAdoptsDatabaseBeforeMigrations opens a database that an earlier
// release created, with no version table: it opens, keeps its data, and
// records the first migration as applied.
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
	require.Equal(t, int64(1), version)

	// The store goes on taking deliveries.
	require.NoError(t, s.Deliver(ctx, []collector.Item{logsItem(t, 1, logSpec{service: "billing", body: "new", at: t0})}))
	logs, err = s.QueryLogs(ctx, collector.LogQuery{})
	require.NoError(t, err)
	require.Len(t, logs, 2)
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
