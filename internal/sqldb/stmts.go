package sqldb

import (
	"context"
	"database/sql"
	"fmt"
)

// The statement cache. SQLite (modernc.org/sqlite) prepares an unprepared
// query again on every run, which costs about as much as running a simple
// one; pgx caches the statements of each connection itself, so on
// PostgreSQL the cache saves little but costs nothing either.

type stmtKey struct {
	pool  *sql.DB
	query string
}

// Prepare prepares queries (written with ? placeholders) on the writer
// pool ahead of use. A transaction runs a query prepared only when its pool
// has it already: preparing it for the pool from inside a transaction would
// wait for a connection, and SQLite's writer pool has one, the
// transaction's. So a store prepares at open what its transactions (a
// unit's above all) run.
func (db *DB) Prepare(ctx context.Context, queries ...string) error {
	for _, q := range queries {
		if _, err := db.stmt(ctx, db.W, db.Dialect.Rebind(q)); err != nil {
			return fmt.Errorf("preparing %q: %w", q, err)
		}
	}
	return nil
}

// stmt returns pool's cached statement of query (rebound), preparing it
// on first use.
func (db *DB) stmt(ctx context.Context, pool *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{pool, query}
	if v, ok := db.stmts.Load(k); ok {
		return v.(*sql.Stmt), nil //nolint:errcheck // only *sql.Stmt values are stored
	}
	st, err := pool.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	v, loaded := db.stmts.LoadOrStore(k, st)
	if loaded {
		_ = st.Close()
	}
	return v.(*sql.Stmt), nil //nolint:errcheck // only *sql.Stmt values are stored
}

// prepared returns what runs query (with ? placeholders) on q, one of
// db's pools or a transaction of its writer pool: the statement of the
// pool, prepared at first use, or in a transaction the writer's statement
// when Prepare prepared it; else q itself, with the rebound query, which
// then runs unprepared (and reports any error preparing it when run).
func (db *DB) prepared(ctx context.Context, q Querier, query string) (Querier, string) {
	query = db.Dialect.Rebind(query)
	switch q := q.(type) {
	case *sql.DB:
		if st, err := db.stmt(ctx, q, query); err == nil {
			return stmtQuerier{st}, ""
		}
	case *sql.Tx:
		if v, ok := db.stmts.Load(stmtKey{db.W, query}); ok {
			return stmtQuerier{q.StmtContext(ctx, v.(*sql.Stmt))}, "" //nolint:errcheck // only *sql.Stmt values are stored
		}
	}
	return q, query
}

// Exec runs a statement (with ? placeholders) on q, one of db's pools or a
// transaction of its writer pool, prepared as far as it can be.
func (db *DB) Exec(ctx context.Context, q Querier, query string, args ...any) (sql.Result, error) {
	pq, query := db.prepared(ctx, q, query)
	return pq.ExecContext(ctx, query, args...)
}

// Query is Exec for a query that returns rows.
func (db *DB) Query(ctx context.Context, q Querier, query string, args ...any) (*sql.Rows, error) {
	pq, query := db.prepared(ctx, q, query)
	return pq.QueryContext(ctx, query, args...)
}

// QueryRow is Exec for a query that returns at most one row.
func (db *DB) QueryRow(ctx context.Context, q Querier, query string, args ...any) *sql.Row {
	pq, query := db.prepared(ctx, q, query)
	return pq.QueryRowContext(ctx, query, args...)
}

// closeStmts closes the cached statements.
func (db *DB) closeStmts() {
	db.stmts.Range(func(k, v any) bool {
		_ = v.(*sql.Stmt).Close() //nolint:errcheck // only *sql.Stmt values are stored
		db.stmts.Delete(k)
		return true
	})
}

// stmtQuerier runs a prepared statement; the query argument is ignored.
type stmtQuerier struct{ st *sql.Stmt }

func (q stmtQuerier) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return q.st.ExecContext(ctx, args...)
}

func (q stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return q.st.QueryContext(ctx, args...)
}

func (q stmtQuerier) QueryRowContext(ctx context.Context, _ string, args ...any) *sql.Row {
	return q.st.QueryRowContext(ctx, args...)
}
