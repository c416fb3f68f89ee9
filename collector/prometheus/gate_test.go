package prometheus_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

// blockingQueryable holds every querier it opens until released.
type blockingQueryable struct {
	storage.Queryable
	opened  chan struct{}
	release chan struct{}
}

func (b blockingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	close(b.opened)
	<-b.release
	return b.Queryable.Querier(mint, maxt)
}

// TestShutdownWaitsForRunningQueries shuts the store down while a query
// runs: Shutdown returns only once the query has ended (the query tracker
// it writes to is closed after it), and a query executed afterwards is
// refused instead of touching the closed store.
func TestShutdownWaitsForRunningQueries(t *testing.T) {
	s := open(t, t.TempDir(), defaults(t), nil)
	bq := blockingQueryable{Queryable: s.Queryable(), opened: make(chan struct{}), release: make(chan struct{})}
	q, err := s.Engine().NewInstantQuery(context.Background(), bq, nil, "vector(1)", time.Now())
	require.NoError(t, err)
	executed := make(chan error, 1)
	go func() { executed <- q.Exec(context.Background()).Err }()
	<-bq.opened

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a query was running", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(bq.release)
	require.NoError(t, <-executed, "the running query completes")
	require.NoError(t, <-shutdown)
	q.Close()

	_, err = s.Engine().NewInstantQuery(context.Background(), s.Queryable(), nil, "vector(1)", time.Now())
	require.ErrorContains(t, err, "shutting down")
}

// TestShutdownGivesUpOnAQueryThatOutlivesIt returns when its context ends
// even though a query still runs, leaving the query's tracker open.
func TestShutdownGivesUpOnAQueryThatOutlivesIt(t *testing.T) {
	s := open(t, t.TempDir(), defaults(t), nil)
	bq := blockingQueryable{Queryable: s.Queryable(), opened: make(chan struct{}), release: make(chan struct{})}
	q, err := s.Engine().NewInstantQuery(context.Background(), bq, nil, "vector(1)", time.Now())
	require.NoError(t, err)
	executed := make(chan error, 1)
	go func() { executed <- q.Exec(context.Background()).Err }()
	<-bq.opened

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(ctx) }()
	time.Sleep(300 * time.Millisecond)
	close(bq.release)
	<-executed
	q.Close()
	require.NoError(t, <-shutdown)
}
