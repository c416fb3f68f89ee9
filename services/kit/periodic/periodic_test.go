package periodic_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/services/kit/periodic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runs records when the task ran, as offsets from the start of the bubble.
type runs struct {
	mu    sync.Mutex
	start time.Time
	at    []time.Duration
}

func (r *runs) run(context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at = append(r.at, time.Since(r.start))
}

func (r *runs) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.at...)
}

func TestRunsEveryIntervalUntilShutdown(t *testing.T) {
	tests := []struct {
		name        string
		immediately bool
		want        []time.Duration
	}{
		{"first run one interval after start", false, []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}},
		{"first run at start", true, []time.Duration{0, time.Minute, 2 * time.Minute, 3 * time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := &runs{start: time.Now()}
				j := periodic.New(periodic.Options{Name: "job", Interval: time.Minute, Immediately: tc.immediately, Run: r.run})
				require.NoError(t, j.Start(t.Context()))
				// In the bubble, sleeping advances the fake clock at once.
				time.Sleep(3*time.Minute + 30*time.Second)
				synctest.Wait()
				require.Equal(t, tc.want, r.get())

				require.NoError(t, j.Shutdown(t.Context()))
				time.Sleep(time.Hour)
				synctest.Wait()
				require.Equal(t, tc.want, r.get(), "no run after Shutdown")
			})
		})
	}
}

func TestShutdownCancelsTheRunInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{})
		var cancelled bool
		j := periodic.New(periodic.Options{Name: "job", Interval: time.Minute, Immediately: true, Run: func(ctx context.Context) {
			close(started)
			<-ctx.Done()
			cancelled = true
		}})
		require.NoError(t, j.Start(t.Context()))
		<-started
		require.NoError(t, j.Shutdown(t.Context()))
		require.True(t, cancelled, "Shutdown returned before the run did")
	})
}

func TestShutdownWaitsUntilItsContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		j := periodic.New(periodic.Options{Name: "job", Interval: time.Minute, Immediately: true, Run: func(context.Context) { <-release }})
		require.NoError(t, j.Start(t.Context()))
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		err := j.Shutdown(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "stopping job")
		require.Equal(t, time.Second, time.Since(start))

		close(release)
		require.NoError(t, j.Shutdown(t.Context()), "a second Shutdown waits for the run")
	})
}

func TestStartRefuses(t *testing.T) {
	run := func(context.Context) {}
	tests := []struct {
		name string
		opts periodic.Options
		want string
	}{
		{"no task", periodic.Options{Name: "job", Interval: time.Minute}, "job: no task to run"},
		{"no interval", periodic.Options{Name: "job", Run: run}, "job: the interval must be positive, not 0s"},
		{"negative interval", periodic.Options{Name: "job", Interval: -time.Second, Run: run}, "job: the interval must be positive, not -1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := periodic.New(tc.opts)
			require.EqualError(t, j.Start(t.Context()), tc.want)
			require.NoError(t, j.Shutdown(t.Context()), "a job never started stops at once")
		})
	}

	t.Run("started twice", func(t *testing.T) {
		j := periodic.New(periodic.Options{Name: "job", Interval: time.Minute, Run: run})
		require.NoError(t, j.Start(t.Context()))
		require.EqualError(t, j.Start(t.Context()), "job: already started")
		require.NoError(t, j.Shutdown(t.Context()))
	})
}
