// Package sqldb is the storage kit of every SQL store in Estate: the
// services' stores (invoicing, credit), the metrics event store and the
// collector's embedded store. It opens SQLite (modernc.org/sqlite, pure Go)
// and PostgreSQL (pgx) with the settings each store chooses explicitly,
// applies a store's embedded goose migrations under a lock, and describes in
// one Dialect what differs between the two backends in the SQL a store
// writes; Spans traces a store's calls. A Unit carries one transaction in a
// context, for the writes of several calls (a request's change and its
// idempotency key) to commit together.
//
// Every SQLite database runs in WAL mode, so readers never wait for the
// writer, and starts every transaction with BEGIN IMMEDIATE, so a
// read-modify-write transaction takes the write lock before it reads and
// two of them never deadlock on upgrading their locks. How durable a commit
// is (synchronous FULL or NORMAL) has no default: each store says what an
// acknowledged write must survive, beside the call that opens it.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// DB is a store's database: two pools and the dialect to speak to them.
type DB struct {
	// R runs reads.
	R *sql.DB
	// W runs writes. On SQLite it is a pool of one connection, so writers
	// queue in Go rather than in SQLite's sleep-and-retry busy handler; on
	// PostgreSQL it is R itself.
	W *sql.DB
	// Dialect is the backend's.
	Dialect Dialect

	// turn, on SQLite, is the writer's turn: a slot taken by every
	// transaction and write of InTx, Write and a Unit before it asks the
	// writer pool for its one connection, and given back when it ends.
	// Waiters on a channel are served in the order they came, which
	// database/sql's pool does not promise (it hands a freed connection to
	// a waiter picked at random), so that under load no write waits for
	// many that came after it. Nil on PostgreSQL, whose pool has many
	// connections.
	turn chan struct{}

	// stmts caches prepared statements by pool and query (Exec, Query,
	// QueryRow).
	stmts sync.Map // stmtKey → *sql.Stmt
	// stop ends the goroutines the database runs (SQLite's checkpoints).
	stop func()
}

// InTx runs fn in a transaction of the writer pool, committed when fn
// returns nil and rolled back otherwise; fn's error is returned as is.
// When ctx carries a unit of work of db (NewUnit), fn runs in the unit's
// transaction instead, which its owner commits; an error of fn then fails
// the unit.
func (db *DB) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if u := db.unit(ctx); u != nil {
		return u.run(fn)
	}
	done, err := db.writerTurn(ctx)
	if err != nil {
		return err
	}
	defer done()
	return InTx(ctx, db.W, fn)
}

// OnWriter runs fn on the writer pool, in the writer's turn on SQLite
// (see DB.turn), whatever unit ctx carries: a statement that commits
// alone.
func (db *DB) OnWriter(ctx context.Context, fn func(q Querier) error) error {
	done, err := db.writerTurn(ctx)
	if err != nil {
		return err
	}
	defer done()
	return fn(db.W)
}

// waitingForTurn, when set (by tests), is called before a wait for the
// writer's turn.
var waitingForTurn func()

// writerTurn waits for the writer's turn on SQLite, or until ctx ends,
// and returns the function that gives it back.
func (db *DB) writerTurn(ctx context.Context) (func(), error) {
	if db.turn == nil {
		return func() {}, nil
	}
	if waitingForTurn != nil {
		waitingForTurn()
	}
	select {
	case db.turn <- struct{}{}:
		return func() { <-db.turn }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the writer: %w", context.Cause(ctx))
	}
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.R.PingContext(ctx) }

// Close closes the cached statements and both pools.
func (db *DB) Close() error {
	if db.stop != nil {
		db.stop()
	}
	db.closeStmts()
	if db.W == db.R {
		return db.R.Close()
	}
	return errors.Join(db.W.Close(), db.R.Close())
}

// InTx runs fn in a transaction of db, committed when fn returns nil and
// rolled back otherwise; fn's error is returned as is.
func InTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}
