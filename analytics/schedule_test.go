package analytics_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/metrics"
)

// TestScheduleExportsTheDaysBefore runs the default schedule on a fake
// clock: at 00:30 UTC each night it exports the two days before.
func TestScheduleExportsTheDaysBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		// The bubble's clock starts at 2000-01-01 00:00 UTC; the events
		// are made around it.
		start := time.Now().UTC()
		events := []metrics.Event{
			{ID: "a", Source: "s", Time: start.Add(-30 * time.Hour), Data: metrics.DeploymentStarted{DeploymentID: "d1", Service: "svc", Environment: "prod", Version: "1"}},
			{ID: "b", Source: "s", Time: start.Add(5 * time.Hour), Data: metrics.DeploymentStarted{DeploymentID: "d2", Service: "svc", Environment: "prod", Version: "2"}},
		}
		var mu sync.Mutex
		reads := 0
		s, err := analytics.NewSchedule(analytics.ScheduleOptions{
			Events: func(context.Context) ([]metrics.Event, error) {
				mu.Lock()
				defer mu.Unlock()
				reads++
				return events, nil
			},
			Export: analytics.Options{Output: analytics.Dir{Root: dir}, TempDir: t.TempDir()},
		})
		require.NoError(t, err)
		require.NoError(t, s.Start(context.Background()))
		runs := func() int {
			mu.Lock()
			defer mu.Unlock()
			return reads
		}

		time.Sleep(29 * time.Minute)
		synctest.Wait()
		require.Zero(t, runs(), "nothing before 00:30")
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.Equal(t, 1, runs())
		require.FileExists(t, filepath.Join(dir, analytics.PartitionKey("events", start.Add(-30*time.Hour).Truncate(24*time.Hour))))

		time.Sleep(24 * time.Hour)
		synctest.Wait()
		require.Equal(t, 2, runs(), "once a night")
		require.FileExists(t, filepath.Join(dir, analytics.PartitionKey("events", start)), "the next night, the day before")
		manifests, err := os.ReadDir(filepath.Join(dir, analytics.ManifestDir))
		require.NoError(t, err)
		require.Len(t, manifests, 2)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
}

func TestScheduleRunReportsErrors(t *testing.T) {
	s, err := analytics.NewSchedule(analytics.ScheduleOptions{
		Events: func(context.Context) ([]metrics.Event, error) { return nil, errors.New("store down") },
		Export: analytics.Options{Output: analytics.Dir{Root: t.TempDir()}},
	})
	require.NoError(t, err)
	_, err = s.Run(context.Background())
	require.ErrorContains(t, err, "reading the events: store down")

	_, err = analytics.NewSchedule(analytics.ScheduleOptions{Schedule: "every night", Days: -1})
	require.ErrorContains(t, err, `schedule: "every night" is not a cron schedule`)
	require.ErrorContains(t, err, "days must be positive")
	require.ErrorContains(t, err, "events is required")
	require.ErrorContains(t, err, "output is required")
}
