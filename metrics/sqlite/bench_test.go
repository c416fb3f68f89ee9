package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
	"github.com/estatehq/estate/metrics/sqlite"
)

// BenchmarkReportFromStore is what GET /v1/dora (every service) and a
// Prometheus scrape pay: read a year of events for 50 services (about
// 100,000) from SQLite, fold them, compute the last week's report.
func BenchmarkReportFromStore(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(b, err)
	defer s.Close()
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1})
	for i := 0; i < len(events); i += 5000 {
		_, err := s.Append(ctx, events[i:min(i+5000, len(events))])
		require.NoError(b, err)
	}
	w := metrics.Window{From: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)}
	b.Run("all services", func(b *testing.B) {
		for b.Loop() {
			r, err := metrics.ReportFromStore(ctx, s, metrics.Filter{}, w, metrics.Options{})
			require.NoError(b, err)
			require.Len(b, r.Services, 50)
		}
	})
	b.Run("one service", func(b *testing.B) {
		for b.Loop() {
			r, err := metrics.ReportFromStore(ctx, s, metrics.Filter{Service: "svc-07", Environment: "production"}, w, metrics.Options{})
			require.NoError(b, err)
			require.Len(b, r.Services, 1)
		}
	})
}
