package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Querier runs statements: the writer pool, or a transaction of it.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Unit is a unit of work: one transaction that every write of a request
// shares, so that what the request changes commits together with whatever
// the caller writes last (an idempotency key and its response) or not at
// all. A store's InTx and Write called with the unit's context run in it
// instead of committing on their own; the transaction begins at the first
// of them, so that the work before it (reading, validating, calling
// another service) holds no lock. The caller that made the unit ends it
// with Commit or Rollback.
//
// A unit serves one request: it is not for concurrent use.
type Unit struct {
	db  *DB
	ctx context.Context
	tx  *sql.Tx
	// endTurn gives back the writer's turn the transaction holds.
	endTurn func()
	// err is why the unit can only roll back: a write in it failed.
	err  error
	done bool
}

// ErrUnitDone is returned by a write in a unit already committed or
// rolled back.
var ErrUnitDone = errors.New("the unit of work has ended")

type unitKey struct{}

// NewUnit returns a unit of work on db and ctx carrying it. Its
// transaction, once begun, lives as long as ctx: when ctx is canceled the
// transaction is rolled back.
func (db *DB) NewUnit(ctx context.Context) (context.Context, *Unit) {
	u := &Unit{db: db, ctx: ctx}
	return context.WithValue(ctx, unitKey{}, u), u
}

// unit returns the unit of db that ctx carries, or nil.
func (db *DB) unit(ctx context.Context) *Unit {
	if u, ok := ctx.Value(unitKey{}).(*Unit); ok && u.db == db {
		return u
	}
	return nil
}

// Write runs fn, a change of one statement, on the transaction of the unit
// ctx carries, or else straight on the writer pool, where the statement
// commits alone. In a unit, fn's error fails the unit (see InTx).
func (db *DB) Write(ctx context.Context, fn func(q Querier) error) error {
	if u := db.unit(ctx); u != nil {
		return u.run(func(tx *sql.Tx) error { return fn(tx) })
	}
	return db.OnWriter(ctx, fn)
}

// run runs fn in the unit's transaction, beginning it first if need be.
// An error of fn fails the unit: it rolls back what fn wrote (on
// PostgreSQL a failed statement has aborted the transaction anyway), and
// the unit can only roll back.
func (u *Unit) run(fn func(tx *sql.Tx) error) error {
	switch {
	case u.done:
		return ErrUnitDone
	case u.err != nil:
		return fmt.Errorf("an earlier write of the unit of work failed: %w", u.err)
	}
	if u.tx == nil {
		endTurn, err := u.db.writerTurn(u.ctx)
		if err != nil {
			u.err = err
			return err
		}
		tx, err := u.db.W.BeginTx(u.ctx, nil)
		if err != nil {
			endTurn()
			u.err = err
			return fmt.Errorf("beginning transaction: %w", err)
		}
		u.tx, u.endTurn = tx, endTurn
	}
	if err := fn(u.tx); err != nil {
		u.err = err
		return err
	}
	return nil
}

// Begun reports whether a write began the unit's transaction.
func (u *Unit) Begun() bool { return u.tx != nil }

// Err returns the error of the write that failed the unit, or nil.
func (u *Unit) Err() error { return u.err }

// Commit commits the unit's transaction; it has nothing to do when no
// write began it. A failed unit is rolled back and its error returned.
func (u *Unit) Commit() error {
	if u.done {
		return ErrUnitDone
	}
	if u.err != nil {
		_ = u.Rollback()
		return u.err
	}
	u.done = true
	if u.tx == nil {
		return nil
	}
	defer u.endTurn()
	if err := u.tx.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// Rollback rolls back the unit's transaction; it may be called after
// Commit, and then does nothing.
func (u *Unit) Rollback() error {
	if u.done {
		return nil
	}
	u.done = true
	if u.tx == nil {
		return nil
	}
	defer u.endTurn()
	if err := u.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rolling back: %w", err)
	}
	return nil
}
