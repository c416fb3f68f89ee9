package prometheus

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// errStoreClosed answers a query executed once the store is shutting down.
var errStoreClosed = errors.New("metrics store is shutting down")

// gatedEngine is the engine every query of the store goes through. The
// engine records each running query in the active query tracker, a file
// mapped into memory: a query still running when the tracker is closed
// would write to unmapped memory and crash the process. Shutdown therefore
// closes the gate, waits for the queries in flight, and only then closes
// the tracker.
type gatedEngine struct {
	engine *promql.Engine

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

func (g *gatedEngine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	// The engine records the query's parsing in the tracker too.
	if !g.enter() {
		return nil, errStoreClosed
	}
	defer g.inflight.Done()
	query, err := g.engine.NewInstantQuery(ctx, q, opts, qs, ts)
	if err != nil {
		return nil, err
	}
	return gatedQuery{Query: query, gate: g}, nil
}

func (g *gatedEngine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, interval time.Duration) (promql.Query, error) {
	// The engine records the query's parsing in the tracker too.
	if !g.enter() {
		return nil, errStoreClosed
	}
	defer g.inflight.Done()
	query, err := g.engine.NewRangeQuery(ctx, q, opts, qs, start, end, interval)
	if err != nil {
		return nil, err
	}
	return gatedQuery{Query: query, gate: g}, nil
}

// enter admits one query's execution, unless the gate is closed.
func (g *gatedEngine) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.inflight.Add(1)
	return true
}

// close refuses every later execution and waits for those in flight, until
// ctx ends; it reports whether they all ended.
func (g *gatedEngine) close(ctx context.Context) bool {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// gatedQuery executes its query inside the gate.
type gatedQuery struct {
	promql.Query
	gate *gatedEngine
}

func (q gatedQuery) Exec(ctx context.Context) *promql.Result {
	if !q.gate.enter() {
		return &promql.Result{Err: errStoreClosed}
	}
	defer q.gate.inflight.Done()
	return q.Query.Exec(ctx)
}
