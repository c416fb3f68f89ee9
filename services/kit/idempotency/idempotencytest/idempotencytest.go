// Package idempotencytest is the suite every idempotency.Store runs (the
// invoicing and credit stores, on SQLite and PostgreSQL), with a change of
// the store's own: that a key and the change it guards commit together or
// not at all, and that of concurrent requests with one key exactly one
// commits.
package idempotencytest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/services/kit/idempotency"
)

// Change makes one change through the store with ctx (so in the request's
// transaction when ctx carries one) and returns a function that reports
// whether the change is durable. Each call makes a change of its own.
type Change func(t *testing.T, ctx context.Context) (durable func() bool)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// claim is a claim at t0 in a scope of its own (one store serves several
// tests).
func claim(t *testing.T, key, hash string) idempotency.Claim {
	return idempotency.Claim{Scope: "scope-" + t.Name(), Key: key, Hash: hash, Now: t0, ExpiredBefore: t0.Add(-24 * time.Hour), Wait: 10 * time.Second}
}

func record(id string) idempotency.Record {
	return idempotency.Record{Status: 201, Header: map[string][]string{"Content-Type": {"application/json"}}, Body: []byte(`{"id":"` + id + `"}`)}
}

// commit begins a request's transaction, makes the change when change is
// not nil, and commits it with the key.
func commit(t *testing.T, s idempotency.Store, change Change, c idempotency.Claim, rec idempotency.Record) (idempotency.Outcome, *idempotency.Record, func() bool) {
	t.Helper()
	ctx, txn := s.Begin(context.Background())
	durable := func() bool { return false }
	if change != nil {
		durable = change(t, ctx)
	}
	o, got, err := txn.Commit(ctx, c, rec)
	require.NoError(t, err)
	return o, got, durable
}

// Run runs the suite on s.
func Run(t *testing.T, s idempotency.Store, change Change) {
	t.Run("keys", func(t *testing.T) {
		c := claim(t, "k1", "h1")
		rec := record("first")
		o, _, _ := commit(t, s, nil, c, rec)
		require.Equal(t, idempotency.Acquired, o)

		o, got, _ := commit(t, s, nil, c, record("second"))
		require.Equal(t, idempotency.Replay, o)
		require.Empty(t, cmp.Diff(&rec, got), "the first response is replayed")

		mismatch := c
		mismatch.Hash = "h2"
		o, got, _ = commit(t, s, nil, mismatch, record("other"))
		require.Equal(t, idempotency.Mismatch, o)
		require.Nil(t, got)

		other := c
		other.Scope += "-other"
		o, _, _ = commit(t, s, nil, other, record("other tenant"))
		require.Equal(t, idempotency.Acquired, o, "keys are scoped to the tenant")

		later := mismatch
		later.Now = t0.Add(25 * time.Hour)
		later.ExpiredBefore = later.Now.Add(-24 * time.Hour)
		o, _, _ = commit(t, s, nil, later, record("later"))
		require.Equal(t, idempotency.Acquired, o, "an expired key is taken again")
		o, got, _ = commit(t, s, nil, later, record("again"))
		require.Equal(t, idempotency.Replay, o)
		require.JSONEq(t, `{"id":"later"}`, string(got.Body))
	})

	t.Run("the change commits with its key", func(t *testing.T) {
		c := claim(t, "k", "h")
		o, _, durable := commit(t, s, change, c, record("first"))
		require.Equal(t, idempotency.Acquired, o)
		require.True(t, durable())

		o, got, again := commit(t, s, change, c, record("second"))
		require.Equal(t, idempotency.Replay, o)
		require.JSONEq(t, `{"id":"first"}`, string(got.Body))
		require.False(t, again(), "a retry's change is rolled back")
	})

	t.Run("rollback leaves neither change nor key", func(t *testing.T) {
		c := claim(t, "k", "h")
		ctx, txn := s.Begin(context.Background())
		durable := change(t, ctx)
		require.NoError(t, txn.Rollback())
		require.False(t, durable())
		require.NoError(t, txn.Rollback(), "rolling back twice is harmless")

		o, _, retried := commit(t, s, change, c, record("retry"))
		require.Equal(t, idempotency.Acquired, o, "the key is free")
		require.True(t, retried())
	})

	t.Run("a canceled request leaves nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		ctx, txn := s.Begin(ctx)
		durable := change(t, ctx)
		cancel()
		_, _, err := txn.Commit(ctx, claim(t, "k", "h"), record("x"))
		require.Error(t, err)
		require.False(t, durable())
		o, _, _ := commit(t, s, nil, claim(t, "k", "h"), record("retry"))
		require.Equal(t, idempotency.Acquired, o)
	})

	t.Run("of concurrent requests with one key one commits", func(t *testing.T) {
		c := claim(t, "race", "h")
		const n = 20
		var acquired, replayed atomic.Int64
		var mu sync.Mutex
		var checks []func() bool
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				ctx, txn := s.Begin(context.Background())
				durable := change(t, ctx)
				o, _, err := txn.Commit(ctx, c, record(fmt.Sprint(i)))
				if err != nil {
					t.Errorf("commit: %v", err)
					return
				}
				switch o {
				case idempotency.Acquired:
					acquired.Add(1)
				case idempotency.Replay:
					replayed.Add(1)
				default:
					t.Errorf("outcome %d", o)
				}
				mu.Lock()
				checks = append(checks, durable)
				mu.Unlock()
			})
		}
		wg.Wait()
		require.Equal(t, int64(1), acquired.Load())
		require.Equal(t, int64(n-1), replayed.Load())
		kept := 0
		for _, durable := range checks {
			if durable() {
				kept++
			}
		}
		require.Equal(t, 1, kept, "one change is durable")
	})
}
