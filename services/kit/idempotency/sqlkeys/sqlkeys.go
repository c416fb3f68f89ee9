// Package sqlkeys is an idempotency.Store on a SQL database, for a service
// whose store is database/sql (SQLite or PostgreSQL). The service's
// migrations create the table:
//
//	CREATE TABLE idempotency_keys (
//	    scope TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
//	    status INTEGER NOT NULL, header TEXT NOT NULL, body BLOB (bytea),
//	    created_at (the dialect's time: INTEGER, timestamptz),
//	    PRIMARY KEY (scope, key));
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

// Begin implements idempotency.Store with one atomic upsert: a new key is
// inserted, an expired or stale one is taken over, and a live one is left
// alone and read back.
func (s *Store) Begin(ctx context.Context, c idempotency.Claim) (idempotency.Outcome, *idempotency.Record, error) {
	var got string
	err := s.db.W.QueryRowContext(ctx, s.db.Dialect.Rebind(`INSERT INTO idempotency_keys (scope, key, request_hash, status, header, body, created_at)
		VALUES (?, ?, ?, 0, '', NULL, ?)
		ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, status = 0, header = '', body = NULL, created_at = excluded.created_at
		WHERE idempotency_keys.created_at < ? OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < ?)
		RETURNING key`), c.Scope, c.Key, c.Hash, s.db.Dialect.Time(c.Now), s.db.Dialect.Time(c.ExpiredBefore), s.db.Dialect.Time(c.StaleBefore)).Scan(&got)
	switch {
	case err == nil:
		return idempotency.Acquired, nil, nil
	case !errors.Is(err, sql.ErrNoRows):
		return 0, nil, fmt.Errorf("claiming idempotency key: %w", err)
	}
	var hash, header string
	var status int
	var body []byte
	err = s.db.R.QueryRowContext(ctx, s.db.Dialect.Rebind(`SELECT request_hash, status, header, body FROM idempotency_keys WHERE scope = ? AND key = ?`), c.Scope, c.Key).
		Scan(&hash, &status, &header, &body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Released between the two statements: the first request failed and
		// the client may retry.
		return idempotency.InProgress, nil, nil
	case err != nil:
		return 0, nil, fmt.Errorf("reading idempotency key: %w", err)
	case hash != c.Hash:
		return idempotency.Mismatch, nil, nil
	case status == 0:
		return idempotency.InProgress, nil, nil
	}
	r := &idempotency.Record{Status: status, Body: body, Header: http.Header{}}
	if header != "" {
		if err := json.Unmarshal([]byte(header), &r.Header); err != nil {
			return 0, nil, fmt.Errorf("decoding stored headers: %w", err)
		}
	}
	return idempotency.Replay, r, nil
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, scope, key string, rec idempotency.Record) error {
	h, err := json.Marshal(rec.Header)
	if err != nil {
		return fmt.Errorf("encoding headers: %w", err)
	}
	body := rec.Body
	if body == nil {
		body = []byte{}
	}
	if _, err := s.db.W.ExecContext(ctx, s.db.Dialect.Rebind(`UPDATE idempotency_keys SET status = ?, header = ?, body = ? WHERE scope = ? AND key = ?`),
		rec.Status, string(h), body, scope, key); err != nil {
		return fmt.Errorf("storing idempotent response: %w", err)
	}
	return nil
}

// Release implements idempotency.Store.
func (s *Store) Release(ctx context.Context, scope, key string) error {
	if _, err := s.db.W.ExecContext(ctx, s.db.Dialect.Rebind(`DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status = 0`), scope, key); err != nil {
		return fmt.Errorf("releasing idempotency key: %w", err)
	}
	return nil
}

// PurgeIdempotencyKeys deletes keys created before t.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.W.ExecContext(ctx, s.db.Dialect.Rebind(`DELETE FROM idempotency_keys WHERE created_at < ?`), s.db.Dialect.Time(before))
	if err != nil {
		return 0, fmt.Errorf("purging idempotency keys: %w", err)
	}
	return res.RowsAffected()
}
