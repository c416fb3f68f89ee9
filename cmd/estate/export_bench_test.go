//go:build !servicesonly

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics/analyticstest"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
)

// BenchmarkExportYearFromFile is `estate export --events FILE --from
// 2025-11-09 --to 2026-11-09` on a year of events for 50 services
// (metricstest.Generate, about 107,000 events, 36 MB of JSONL), run in
// process: parse, fold, write every event table. It reports the peak Go
// heap in use during the command (sampled every millisecond).
func BenchmarkExportYearFromFile(b *testing.B) {
	var buf bytes.Buffer
	require.NoError(b, metrics.WriteJSONL(&buf, metricstest.Generate(metricstest.GenerateOptions{Seed: 1})))
	file := filepath.Join(b.TempDir(), "events.jsonl")
	require.NoError(b, os.WriteFile(file, buf.Bytes(), 0o600))
	b.SetBytes(int64(buf.Len()))
	buf = bytes.Buffer{}
	runtime.GC()
	b.ReportAllocs()
	var peak float64
	for b.Loop() {
		stop := analyticstest.HeapPeak()
		env := &environ{getenv: noEnv, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, now: time.Now}
		err := runExport(context.Background(), env, []string{"--events", file, "--from", "2025-11-09", "--to", "2026-11-09", "--out", b.TempDir()})
		peak = max(peak, stop())
		require.NoError(b, err)
	}
	b.ReportMetric(peak, "peak-heap-MiB")
}
