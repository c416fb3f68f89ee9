// Package sqlkeys is an idempotency.Store on a SQL database, for a service
// whose store is database/sql (SQLite or PostgreSQL) through
// internal/sqldb. A request's transaction is a sqldb.Unit: the service's
// store runs its writes in it through sqldb.DB.InTx and Write, and the key
// is written last, with the response, in the same transaction.
//
// The service's migrations create the table:
//
//	CREATE TABLE idempotency_keys (
//	    scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
//	    status INTEGER NOT NULL, header TEXT NOT NULL, body BLOB (bytea),
//	    created_at (the dialect's time: INTEGER, timestamptz),
//	    PRIMARY KEY (scope, key));
//
// Every row this package writes holds a response (status > 0). Rows with
// status 0 are claims of releases that wrote the key before the change, in
// a transaction of its own; they are taken over as free.
package sqlkeys

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/estatehq/estate/internal/sqldb"
	"github.com/estatehq/estate/services/kit/idempotency"
)

// Store implements idempotency.Store.
type Store struct{ db *sqldb.DB }

var _ idempotency.Store = (*Store)(nil)

// New returns a Store on db, whose migrations have created the table.
func New(db *sqldb.DB) *Store { return &Store{db: db} }

// Prepare prepares the statements that write a key, for the transactions
// of requests to run them prepared (see sqldb.DB.Prepare).
func (s *Store) Prepare(ctx context.Context) error { return s.db.Prepare(ctx, putKey, readKey) }

// putKey writes a key with its response, unless the key holds a live one:
// one atomic upsert inserts a new key, takes over an expired one (or a
// claim of an older release), and leaves a live one alone, to be read back
// with readKey.
const (
	putKey = `INSERT INTO idempotency_keys (scope, key, request_hash, status, header, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, header = excluded.header,
			body = excluded.body, created_at = excluded.created_at
		WHERE idempotency_keys.created_at < ? OR idempotency_keys.status = 0
		RETURNING key`
	readKey = `SELECT request_hash, status, header, body FROM idempotency_keys WHERE scope = ? AND key = ?`
)

// Begin implements idempotency.Store: the request's transaction is a unit
// of work on the store's database.
func (s *Store) Begin(ctx context.Context) (context.Context, idempotency.Txn) {
	ctx, u := s.db.NewUnit(ctx)
	return ctx, &txn{s: s, u: u, ctx: ctx}
}

type txn struct {
	s   *Store
	u   *sqldb.Unit
	ctx context.Context // carries u
}

// Commit implements idempotency.Txn.
func (t *txn) Commit(ctx context.Context, c idempotency.Claim, rec idempotency.Record) (idempotency.Outcome, *idempotency.Record, error) {
	if t.u.Err() != nil {
		// The change failed and rolls back; its answer is kept alone.
		_ = t.u.Rollback()
	}
	if !t.u.Begun() || t.u.Err() != nil {
		// Nothing to commit with the key: one statement on the writer
		// pool, committed alone.
		_ = t.u.Rollback()
		var o idempotency.Outcome
		var got *idempotency.Record
		err := t.s.db.OnWriter(ctx, func(q sqldb.Querier) error {
			var err error
			o, got, err = t.s.put(ctx, q, c, rec)
			return err
		})
		return o, got, err
	}
	var o idempotency.Outcome
	var got *idempotency.Record
	err := t.s.db.InTx(t.ctx, func(tx *sql.Tx) error {
		var err error
		o, got, err = t.s.put(ctx, tx, c, rec)
		return err
	})
	if err != nil || o != idempotency.Acquired {
		_ = t.u.Rollback()
		return o, got, err
	}
	if err := t.u.Commit(); err != nil {
		return 0, nil, err
	}
	return idempotency.Acquired, nil, nil
}

// Rollback implements idempotency.Txn.
func (t *txn) Rollback() error { return t.u.Rollback() }

// put writes the key with rec on q (putKey), or reads back the live
// response it holds.
//
// On PostgreSQL, when another transaction holds the key uncommitted, the
// upsert waits for it to end, c.Wait at most (then InProgress). On SQLite
// the writer is the only connection that writes, so there is never
// anything to wait for here: a concurrent request waits for the writer
// before its first write instead.
func (s *Store) put(ctx context.Context, q sqldb.Querier, c idempotency.Claim, rec idempotency.Record) (idempotency.Outcome, *idempotency.Record, error) {
	h, err := json.Marshal(rec.Header)
	if err != nil {
		return 0, nil, fmt.Errorf("encoding headers: %w", err)
	}
	body := rec.Body
	if body == nil {
		body = []byte{}
	}
	wctx := ctx
	if c.Wait > 0 && s.db.Dialect == sqldb.Postgres {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, c.Wait)
		defer cancel()
	}
	d := s.db.Dialect
	var got string
	err = s.db.QueryRow(wctx, q, putKey, c.Scope, c.Key, c.Hash, rec.Status, string(h), body, d.Time(c.Now), d.Time(c.ExpiredBefore)).Scan(&got)
	switch {
	case err == nil:
		return idempotency.Acquired, nil, nil
	case errors.Is(err, sql.ErrNoRows):
	case wctx.Err() != nil && ctx.Err() == nil:
		return idempotency.InProgress, nil, nil
	default:
		return 0, nil, fmt.Errorf("writing idempotency key: %w", err)
	}
	var hash, header string
	var status int
	err = s.db.QueryRow(ctx, q, readKey, c.Scope, c.Key).
		Scan(&hash, &status, &header, &body)
	switch {
	case err != nil:
		// The row the upsert left alone is live, and a Purger keeps live
		// keys: ErrNoRows is no answer either.
		return 0, nil, fmt.Errorf("reading idempotency key: %w", err)
	case hash != c.Hash:
		return idempotency.Mismatch, nil, nil
	}
	r := &idempotency.Record{Status: status, Body: body, Header: http.Header{}}
	if header != "" {
		if err := json.Unmarshal([]byte(header), &r.Header); err != nil {
			return 0, nil, fmt.Errorf("decoding stored headers: %w", err)
		}
	}
	return idempotency.Replay, r, nil
}

// PurgeIdempotencyKeys deletes keys created before t.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	var res sql.Result
	err := s.db.OnWriter(ctx, func(q sqldb.Querier) error {
		var err error
		res, err = q.ExecContext(ctx, s.db.Dialect.Rebind(`DELETE FROM idempotency_keys WHERE created_at < ?`), s.db.Dialect.Time(before))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("purging idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
