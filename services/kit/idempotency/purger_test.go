package idempotency_test

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

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/services/kit/idempotency"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the injected clock's time when the bubble starts; it differs from
// the bubble's own clock so that a cutoff computed from time.Now shows.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is the injected clock: t0 plus the fake time elapsed in the bubble.
func clock() func() time.Time {
	start := time.Now()
	return func() time.Time { return t0.Add(time.Since(start)) }
}

// store records the cutoffs it is asked to purge before, and fails the
// calls its fail function says.
type store struct {
	mu      sync.Mutex
	cutoffs []time.Time
	fail    func(call int) error
}

func (s *store) purge(_ context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cutoffs = append(s.cutoffs, before)
	if s.fail != nil {
		return 0, s.fail(len(s.cutoffs))
	}
	return 3, nil
}

func (s *store) got() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.cutoffs...)
}

func TestPurgerPurgesAtStartAndEveryInterval(t *testing.T) {
	tests := []struct {
		name string
		opts idempotency.PurgerOptions
		// after is how long the test runs; want the cutoffs purged.
		after time.Duration
		want  []time.Time
	}{
		{
			name: "defaults: keys older than 48 h, hourly", after: 2*time.Hour + 30*time.Minute,
			want: []time.Time{t0.Add(-48 * time.Hour), t0.Add(-47 * time.Hour), t0.Add(-46 * time.Hour)},
		},
		{
			name: "retention and interval set", opts: idempotency.PurgerOptions{Retention: 30 * time.Hour, Interval: 10 * time.Minute}, after: 25 * time.Minute,
			want: []time.Time{t0.Add(-30 * time.Hour), t0.Add(10*time.Minute - 30*time.Hour), t0.Add(20*time.Minute - 30*time.Hour)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := &store{}
				opts := tc.opts
				opts.Purge, opts.Now = s.purge, clock()
				p := idempotency.NewPurger(opts)
				require.NoError(t, p.Start(t.Context()))
				synctest.Wait()
				require.Equal(t, tc.want[:1], s.got(), "the first purge comes at Start")
				// In the bubble, sleeping advances the fake clock at once.
				time.Sleep(tc.after)
				synctest.Wait()
				require.Equal(t, tc.want, s.got())

				require.NoError(t, p.Shutdown(t.Context()))
				time.Sleep(24 * time.Hour)
				synctest.Wait()
				require.Equal(t, tc.want, s.got(), "no purge after Shutdown")
			})
		})
	}
}

func TestPurgerLogsFailuresAndGoesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &store{fail: func(call int) error {
			if call == 1 {
				return errors.New("database is locked")
			}
			return nil
		}}
		// Read only once Shutdown has returned, when nothing writes.
		var out strings.Builder
		p := idempotency.NewPurger(idempotency.PurgerOptions{Purge: s.purge, Now: clock(), Logger: slog.New(slog.NewTextHandler(&out, nil))})
		require.NoError(t, p.Start(t.Context()))
		time.Sleep(time.Hour)
		synctest.Wait()
		require.NoError(t, p.Shutdown(t.Context()))
		require.Len(t, s.got(), 2, "the purge after a failure comes at the next interval")
		require.Equal(t, 1, strings.Count(out.String(), "level=WARN"), out.String())
		require.Contains(t, out.String(), `msg="purging idempotency keys" err="database is locked"`)
	})
}

func TestPurgerShutdownStopsThePurgeInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		purging := make(chan struct{})
		purge := func(ctx context.Context, _ time.Time) (int64, error) {
			close(purging)
			<-ctx.Done()
			return 0, fmt.Errorf("deleting idempotency keys: %w", ctx.Err())
		}
		var out strings.Builder
		p := idempotency.NewPurger(idempotency.PurgerOptions{Purge: purge, Logger: slog.New(slog.NewTextHandler(&out, nil))})
		require.NoError(t, p.Start(t.Context()))
		<-purging
		require.NoError(t, p.Shutdown(t.Context()))
		require.Empty(t, out.String(), "the error of a purge cut short by Shutdown is no failure")
	})
}

func TestPurgerStartRefuses(t *testing.T) {
	s := &store{}
	tests := []struct {
		name string
		opts idempotency.PurgerOptions
		want string
	}{
		{"no purge function", idempotency.PurgerOptions{}, "idempotency purger: no Purge function"},
		{"negative retention", idempotency.PurgerOptions{Purge: s.purge, Retention: -time.Hour}, "idempotency purger: the retention must be positive, not -1h0m0s"},
		{"negative interval", idempotency.PurgerOptions{Purge: s.purge, Interval: -time.Hour}, "idempotency purger: the interval must be positive, not -1h0m0s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := idempotency.NewPurger(tc.opts)
			require.EqualError(t, p.Start(t.Context()), tc.want)
			require.NoError(t, p.Shutdown(t.Context()))
		})
	}
	require.Empty(t, s.got())
}
