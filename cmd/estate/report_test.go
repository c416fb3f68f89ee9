//go:build !servicesonly

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/sqlite"
)

// noSLOs leaves the SLOs out of a report that reads a file: there is no
// collector to query.
const noSLOs = "--slo.examples=false"

// requireFigures checks the invoicing figures of a report's JSON against
// metrics' JSON of the same window (metrics/testdata/issue_example.json):
// the report shows package metrics' numbers, each with its sample.
func requireFigures(t *testing.T, reportJSON []byte) {
	t.Helper()
	var want struct {
		From time.Time `json:"from"`
		To   time.Time `json:"to"`
	}
	b, err := os.ReadFile("../../metrics/testdata/issue_example.json")
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw map[string]any
	require.NoError(t, dec.Decode(&raw))
	require.NoError(t, json.Unmarshal(b, &want))
	m := raw["services"].([]any)[0].(map[string]any)

	var got struct {
		From     time.Time `json:"from"`
		To       time.Time `json:"to"`
		Services []struct {
			Service, Environment string
			Figures              map[string]struct {
				Value       *float64 `json:"value"`
				Numerator   *float64 `json:"numerator"`
				Denominator *float64 `json:"denominator"`
				SampleSize  float64  `json:"sample_size"`
			} `json:"figures"`
		} `json:"services"`
	}
	require.NoError(t, json.Unmarshal(reportJSON, &got))
	require.Equal(t, want.From, got.From)
	require.Equal(t, want.To, got.To)
	require.Len(t, got.Services, 1)
	s := got.Services[0]
	require.Equal(t, "invoicing", s.Service)
	require.Equal(t, "production", s.Environment)
	num := func(k string) float64 {
		f, err := m[k].(json.Number).Float64()
		require.NoError(t, err, k)
		return f
	}
	lead := m["lead_time_seconds"].(map[string]any)
	for key, want := range map[string]float64{
		"deployments": num("deployments"), "failed_deployments": num("failed_deployments"),
		"rollback_rate": num("rollback_rate"), "change_failure_rate": num("change_failure_rate"),
		"deployment_frequency_per_day": num("deployment_frequency_per_day"),
		"lead_time_p50_seconds":        mustFloat(t, lead["p50"]), "lead_time_p90_seconds": mustFloat(t, lead["p90"]),
		"incidents": num("incidents"), "chaos_incidents": num("chaos_incidents"), "downtime_seconds": num("downtime_seconds"),
		"mttr_mean_seconds": num("mttr_seconds"), "mttr_median_seconds": num("mttr_median_seconds"), "mtbf_seconds": num("mtbf_seconds"),
	} {
		f, ok := s.Figures[key]
		require.True(t, ok, key)
		require.NotNil(t, f.Value, key)
		require.Equal(t, want, *f.Value, key)
	}
	rr := s.Figures["rollback_rate"]
	require.Equal(t, num("rollbacks"), *rr.Numerator)
	require.Equal(t, num("deployments"), *rr.Denominator)
	require.Equal(t, num("deployments"), rr.SampleSize)
}

func mustFloat(t *testing.T, v any) float64 {
	t.Helper()
	f, err := v.(json.Number).Float64()
	require.NoError(t, err)
	return f
}

func TestReportFromFile(t *testing.T) {
	out, _, err := runCmd(t, "report", "--events", "../../metrics/testdata/issue_example.jsonl",
		"--from", "2026-11-02T00:00:00Z", "--to", "2026-11-09T00:00:00Z", "--format", "json", noSLOs)
	require.NoError(t, err)
	requireFigures(t, []byte(out))

	text, _, err := runCmd(t, "report", "--events", "../../metrics/testdata/issue_example.jsonl",
		"--from", "2026-11-02T00:00:00Z", "--to", "2026-11-09T00:00:00Z", noSLOs)
	require.NoError(t, err)
	require.Contains(t, text, "invoicing")
	require.Contains(t, text, "20.0% (2 of 10 deployments)")
}

func TestReportErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"specversion\":\"1.0\"}\nnot json\n"), 0o600))
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no event store", []string{"--data-dir", t.TempDir()}, "no event store at"},
		{"missing file", []string{"--events", "/nonexistent.jsonl"}, "no such file"},
		{"bad from", []string{"--events", bad, "--from", "last week"}, `--from must be an RFC 3339 time`},
		{"bad to", []string{"--events", bad, "--to", "2026-13-01"}, `--to must be an RFC 3339 time`},
		{"from before 1678", []string{"--events", bad, "--from", "1600-01-01T00:00:00Z"}, `--from must be between 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z, not "1600-01-01T00:00:00Z"`},
		{"to after 2262", []string{"--events", bad, "--to", "2300-01-01T00:00:00Z"}, `--to must be between`},
		{"week after 2262", []string{"--events", bad, "--week", "2263-W01"}, `--week: week 2263-W01: its days must be between`},
		{"empty window", []string{"--events", bad, "--from", "2026-11-09T00:00:00Z", "--to", "2026-11-02T00:00:00Z"}, "must be before --to"},
		{"bad format", []string{"--events", bad, "--format", "xml"}, `--format must be text, markdown, html or json, not "xml"`},
		{"malformed line", []string{"--events", bad, "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-09T00:00:00Z"}, "line 1"},
		{"stray argument", []string{"--events", bad, "extra"}, `unexpected argument "extra"`},
		{"no such week", []string{"--events", bad, "--week", "2025-W53"}, "--week: week 2025-W53: 2025 has weeks 01 to 52: no such ISO week"},
		{"malformed week", []string{"--events", bad, "--week", "2026-47"}, "must be an ISO week such as 2026-W47"},
		{"week and from", []string{"--events", bad, "--week", "2026-W47", "--from", "2026-11-02T00:00:00Z"}, "--week and --from/--to name the period twice"},
		{"bad threshold", []string{"--events", bad, "--thresholds.rollback-amber", "1.5"}, "thresholds.rollback_amber: must be between 0 and 1"},
		{"bad collector", []string{"--events", bad, "--collector-url", "localhost:8088"}, "collector-url: must be an http or https URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"report", noSLOs}, tc.args...)...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// TestReportSLOsUnreachable: with SLOs to compute and nothing answering
// their queries, the report fails and says what to do.
func TestReportSLOsUnreachable(t *testing.T) {
	_, _, err := runCmd(t, "report", "--events", "../../metrics/testdata/issue_example.jsonl", "--week", "2026-W45",
		"--collector-url", "http://127.0.0.1:1")
	require.ErrorContains(t, err, "unavailable")
	require.ErrorContains(t, err, "--slo.examples=false")
}

func TestReportWindowDefaults(t *testing.T) {
	now := time.Date(2026, 11, 26, 15, 4, 5, 0, time.UTC)
	w, err := reportWindow("", "", now)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), w.To)
	require.Equal(t, time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC), w.From)
}

// TestReportUsesTheCommandClock: with no --to, the window ends at the start
// of the day of the clock the command is given, not of the machine's.
func TestReportUsesTheCommandClock(t *testing.T) {
	var out bytes.Buffer
	env := &environ{getenv: noEnv, stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard,
		now: func() time.Time { return time.Date(2026, 11, 9, 15, 4, 5, 0, time.UTC) }}
	require.NoError(t, runReport(context.Background(), env, []string{"--events", "../../metrics/testdata/issue_example.jsonl", "--format", "json", noSLOs}))
	requireFigures(t, out.Bytes())
}

// TestReportFromTheStore reads the collector's SQLite store under
// --data-dir (ESTATE_DATA_DIR alike), for an ISO week, into a file in
// each format.
func TestReportFromTheStore(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Open("../../metrics/testdata/issue_example.jsonl")
	require.NoError(t, err)
	events, err := metrics.ReadJSONL(f)
	require.NoError(t, errors.Join(err, f.Close()))
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "events.db"), sqlite.Options{})
	require.NoError(t, err)
	_, err = st.Append(context.Background(), events)
	require.NoError(t, errors.Join(err, st.Close()))

	for _, format := range []string{"text", "markdown", "html", "json"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "report."+format)
			var stdout bytes.Buffer
			env := &environ{getenv: func(k string) string {
				if k == "ESTATE_DATA_DIR" {
					return dir
				}
				return ""
			}, stdin: strings.NewReader(""), stdout: &stdout, stderr: io.Discard, now: time.Now}
			require.NoError(t, runReport(context.Background(), env, []string{"--week", "2026-W45", "--format", format, "--out", out, noSLOs}))
			require.Empty(t, stdout.String(), "the report went to --out")
			b, err := os.ReadFile(out)
			require.NoError(t, err)
			if format == "json" {
				requireFigures(t, b)
				return
			}
			require.Contains(t, string(b), "2026-W45")
			require.Contains(t, string(b), "20.0% (2 of 10 deployments)")
		})
	}
}
