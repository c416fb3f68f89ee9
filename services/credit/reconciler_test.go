package credit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/services/credit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pass is one call of Reconcile.
type pass struct {
	StaleBefore time.Time
	Batch       int
}

// reconcile records its calls and answers each with its result function.
type reconcile struct {
	mu     sync.Mutex
	calls  []pass
	result func(call int) (int, error)
}

func (r *reconcile) run(_ context.Context, staleBefore time.Time, batch int) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, pass{staleBefore, batch})
	if r.result == nil {
		return 0, nil
	}
	return r.result(len(r.calls))
}

func (r *reconcile) got() []pass {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]pass(nil), r.calls...)
}

func TestReconcilerPassesEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The injected clock differs from the bubble's, so that a threshold
		// computed from time.Now shows.
		t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
		start := time.Now()
		r := &reconcile{result: func(call int) (int, error) {
			switch call {
			case 2:
				return 0, errors.New("invoicing unavailable")
			case 3:
				return 2, nil
			}
			return 0, nil
		}}
		// Read only once Shutdown has returned, when nothing writes.
		var out strings.Builder
		rec := credit.NewReconciler(credit.ReconcilerOptions{
			Reconcile: r.run, Interval: time.Minute, StaleAfter: 15 * time.Minute,
			Now: func() time.Time { return t0.Add(time.Since(start)) }, Logger: slog.New(slog.NewTextHandler(&out, nil)),
		})
		require.NoError(t, rec.Start(t.Context()))
		synctest.Wait()
		require.Empty(t, r.got(), "the first pass comes one interval after Start")

		// In the bubble, sleeping advances the fake clock at once.
		time.Sleep(3*time.Minute + 30*time.Second)
		synctest.Wait()
		require.NoError(t, rec.Shutdown(t.Context()))
		want := []pass{
			{t0.Add(time.Minute - 15*time.Minute), 100},
			{t0.Add(2*time.Minute - 15*time.Minute), 100},
			{t0.Add(3*time.Minute - 15*time.Minute), 100},
		}
		require.Empty(t, cmp.Diff(want, r.got()))
		require.Contains(t, out.String(), `level=WARN msg="reconciling drawdowns" err="invoicing unavailable"`, "a failed pass is logged")
		require.Contains(t, out.String(), `level=INFO msg="reconcile settled drawdowns" settled=2`, "the pass after a failure still runs")

		time.Sleep(time.Hour)
		synctest.Wait()
		require.Len(t, r.got(), 3, "no pass after Shutdown")
	})
}

func TestReconcilerShutdownStopsThePassInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		passing := make(chan struct{})
		var out strings.Builder
		rec := credit.NewReconciler(credit.ReconcilerOptions{
			Reconcile: func(ctx context.Context, _ time.Time, _ int) (int, error) {
				close(passing)
				<-ctx.Done()
				return 0, fmt.Errorf("listing unchecked drawdowns: %w", ctx.Err())
			},
			Interval: time.Minute, StaleAfter: time.Minute, Logger: slog.New(slog.NewTextHandler(&out, nil)),
		})
		require.NoError(t, rec.Start(t.Context()))
		<-passing
		require.NoError(t, rec.Shutdown(t.Context()))
		require.Empty(t, out.String(), "the error of a pass cut short by Shutdown is no failure")
	})
}

func TestReconcilerStartRefuses(t *testing.T) {
	run := func(context.Context, time.Time, int) (int, error) { return 0, nil }
	tests := []struct {
		name string
		opts credit.ReconcilerOptions
		want []string
	}{
		{"nothing set", credit.ReconcilerOptions{}, []string{"no Reconcile function", "StaleAfter must be positive, not 0s"}},
		{"no interval", credit.ReconcilerOptions{Reconcile: run, StaleAfter: time.Minute}, []string{"credit reconciler: the interval must be positive, not 0s"}},
		{"negative batch", credit.ReconcilerOptions{Reconcile: run, Interval: time.Minute, StaleAfter: time.Minute, BatchSize: -1}, []string{"BatchSize must be positive, not -1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := credit.NewReconciler(tc.opts)
			err := rec.Start(t.Context())
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.NoError(t, rec.Shutdown(t.Context()))
		})
	}
}
