package metrics_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
)

// yearOfEvents is one year of events for 50 services, as JSONL: about
// 100,000 events.
func yearOfEvents(b *testing.B) ([]byte, int) {
	b.Helper()
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1})
	var buf bytes.Buffer
	require.NoError(b, metrics.WriteJSONL(&buf, events))
	return buf.Bytes(), len(events)
}

// BenchmarkReportFromJSONL is `estate report --events FILE` on a year of
// events for 50 services: open the file, parse every line, fold, compute
// the last week's report.
func BenchmarkReportFromJSONL(b *testing.B) {
	file, n := yearOfEvents(b)
	path := filepath.Join(b.TempDir(), "events.jsonl")
	require.NoError(b, os.WriteFile(path, file, 0o644))
	b.Logf("%d events, %d bytes", n, len(file))
	w := metrics.Window{From: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)}
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := os.Open(path)
		require.NoError(b, err)
		r, err := metrics.ReportFromJSONL(f, w, metrics.Options{})
		require.NoError(b, err)
		require.NoError(b, f.Close())
		require.Len(b, r.Services, 50)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkFoldAndCompute is the maths alone, on events already decoded:
// what the query API and the Prometheus collector pay on top of reading the
// store.
func BenchmarkFoldAndCompute(b *testing.B) {
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1})
	w := metrics.Window{From: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC)}
	b.ReportAllocs()
	for b.Loop() {
		deps, incs := metrics.Fold(events)
		_, err := metrics.Compute(deps, incs, w, metrics.Options{})
		require.NoError(b, err)
	}
}
