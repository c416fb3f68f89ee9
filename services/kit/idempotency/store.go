// Package idempotency makes POST requests safe to retry, the way Stripe's
// Idempotency-Key works: a key's change happens at most once, whatever
// crashes, and every request with the key gets the same answer.
//
// The key is written in the transaction of the change it guards: the
// middleware opens a transaction for the request (Store.Begin), the
// service's store runs the request's writes in it (its outbox rows
// included), and the middleware writes the key with the response as the
// transaction's last statement and commits (Txn.Commit). So the change and
// its key are durable together or not at all: a retry after any crash
// either replays the stored response or runs the change for the first
// time, and no key is ever left "in progress". The same key with another
// request answers 409. A request that fails on the server's side (5xx) or
// is throttled (429) is rolled back and leaves no key, so that it can be
// retried.
//
// Concurrent requests with one key are serialized by the database where
// the key is written: the later one waits for the first to commit (and
// replays its response, rolling back its own change) or to roll back (and
// commits its own). A wait longer than Options.Wait answers 409, "still in
// progress", with Retry-After.
//
// Keys are honoured for a TTL (DefaultTTL by default) and scoped to the
// caller, so two tenants never share a key; a Purger deletes them from the
// store once past their retention (DefaultRetention, the TTL and as long
// again, by default).
package idempotency

import (
	"context"
	"net/http"
	"time"
)

// Outcome is what writing the key found.
type Outcome int

// The outcomes of Txn.Commit.
const (
	// Acquired: the key was new (or expired): it is written with the
	// response, and the change committed with it.
	Acquired Outcome = iota + 1
	// Replay: the key holds the response of the same request, which is
	// returned; nothing of this request was committed.
	Replay
	// Mismatch: the key was used for another request; nothing was
	// committed.
	Mismatch
	// InProgress: another request with the key had not committed or rolled
	// back within the wait; nothing was committed.
	InProgress
)

// Record is a stored response.
type Record struct {
	Status int
	Header http.Header
	Body   []byte
}

// Claim asks for a key.
type Claim struct {
	// Scope is the caller (tenant) the key belongs to.
	Scope string
	Key   string
	// Hash identifies the request (method, path, body).
	Hash string
	Now  time.Time
	// ExpiredBefore: a key created before this is forgotten and may be
	// taken again.
	ExpiredBefore time.Time
	// Wait bounds how long Commit waits for another request holding the key
	// uncommitted; zero waits as long as ctx lets it.
	Wait time.Duration
}

// Store keeps keys in the database of the changes they guard.
type Store interface {
	// Begin starts the request's transaction: it returns ctx carrying it,
	// for the store's methods to run their writes in, and the Txn that
	// ends it. Nothing is written until the first write.
	Begin(ctx context.Context) (context.Context, Txn)
}

// Txn is the transaction of one request. Of concurrent Commits of one key
// and request exactly one returns Acquired.
type Txn interface {
	// Commit writes the key with rec, in the transaction of the request's
	// change when it made one, and commits. When the change failed (a write
	// of the transaction returned an error), the change is rolled back and
	// the key is written with rec alone. With Replay the stored record is
	// returned; with any outcome but Acquired nothing of this request is
	// committed. An error leaves the outcome unknown to the caller, but the
	// change and the key are committed together or not at all.
	Commit(ctx context.Context, c Claim, rec Record) (Outcome, *Record, error)
	// Rollback discards the change and leaves the key free. It may be
	// called after Commit, and then does nothing.
	Rollback() error
}
