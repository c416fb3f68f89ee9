// Package idempotency makes POST requests safe to retry, the way Stripe's
// Idempotency-Key works: the first request with a key runs and its response
// is stored; a retry with the same key and the same request replays that
// response; the same key with another request answers 409; a retry while the
// first is still running answers 409 too. Keys are honoured for a TTL
// (DefaultTTL by default) and scoped to the caller, so two tenants never
// share a key; a Purger deletes them from the store once past their
// retention (DefaultRetention, the TTL and as long again, by default).
package idempotency

import (
	"context"
	"net/http"
	"time"
)

// Outcome is what Begin found.
type Outcome int

// The outcomes of Begin.
const (
	// Acquired: the key is new (or expired); the caller runs the request and
	// then calls Complete or Release.
	Acquired Outcome = iota + 1
	// Replay: the key holds a finished response for the same request.
	Replay
	// Mismatch: the key was used for another request.
	Mismatch
	// InProgress: the first request with the key has not finished.
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
	// StaleBefore: a key still in progress since before this is taken over
	// (its request died without releasing it).
	StaleBefore time.Time
}

// Store keeps keys. Implementations make Begin atomic: of concurrent claims
// on one key exactly one gets Acquired.
type Store interface {
	// Begin claims the key; with Replay the stored record is returned.
	Begin(ctx context.Context, c Claim) (Outcome, *Record, error)
	// Complete stores the response of an acquired key.
	Complete(ctx context.Context, scope, key string, rec Record) error
	// Release forgets an acquired key whose request failed, so that it can be
	// retried.
	Release(ctx context.Context, scope, key string) error
}
