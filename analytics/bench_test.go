package analytics_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/analytics/analyticstest"
	"github.com/estatehq/estate/metrics/metricstest"
)

// BenchmarkExportYear exports every table of a year of events for 50
// services (metricstest.Generate, about 107,000 events) to a folder, as
// `estate export --from 2025-11-09 --to 2026-11-09` does once the events
// are read. It reports the Go heap in use with the events loaded
// (events-heap-MiB) and its peak during the export (peak-heap-MiB).
func BenchmarkExportYear(b *testing.B) {
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1})
	to := time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportAllocs()
	var peak float64
	for b.Loop() {
		stop := analyticstest.HeapPeak()
		_, err := analytics.Export(context.Background(), events, to.AddDate(-1, 0, 0), to, analytics.Options{
			Output: analytics.Dir{Root: b.TempDir()}, TempDir: b.TempDir()})
		peak = max(peak, stop())
		require.NoError(b, err)
	}
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "events-heap-MiB")
	b.ReportMetric(peak, "peak-heap-MiB")
	b.ReportMetric(float64(len(events)), "events")
}
