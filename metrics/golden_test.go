package metrics_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// issueJSON is the report of issue 4, as the issue prints it.
const issueJSON = `{"from": "2026-11-02T00:00:00Z", "to": "2026-11-09T00:00:00Z",
 "services": [{"service": "invoicing", "environment": "production",
   "deployments": 10, "failed_deployments": 1, "rollbacks": 2,
   "rollback_rate": 0.2, "change_failure_rate": 0.3,
   "deployment_frequency_per_day": 1.4285714,
   "lead_time_seconds": {"p50": 86400, "p90": 259200},
   "incidents": 2, "downtime_seconds": 5400,
   "mttr_seconds": 2700, "mttr_median_seconds": 1800, "mtbf_seconds": 299700,
   "chaos_incidents": 1}]}`

var issueWindow = metrics.Window{
	From: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC),
	To:   time.Date(2026, 11, 9, 0, 0, 0, 0, time.UTC),
}

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	require.Equal(t, string(want), string(got), "%s differs; run go test -update if the change is intended", path)
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, json.Compact(&buf, b))
	return buf.String()
}

// TestIssueExample reproduces the issue's JSON byte for byte (after
// compaction: same fields, same order, same numbers) from an event file
// that also holds distractors: a deployment before the window rolled back
// inside it, a rollback after the window, a success exactly at `to`, an
// incident before the window, a chaos incident, a duplicate line, and every
// follow-up event ahead of its opener.
func TestIssueExample(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "issue_example.jsonl"))
	require.NoError(t, err)
	defer f.Close()

	r, err := metrics.ReportFromJSONL(f, issueWindow, metrics.Options{})
	require.NoError(t, err)

	var got bytes.Buffer
	require.NoError(t, r.WriteJSON(&got))
	golden(t, "issue_example.json", got.Bytes())
	require.Equal(t, compact(t, []byte(issueJSON)), compact(t, got.Bytes()))

	var text bytes.Buffer
	require.NoError(t, r.WriteText(&text))
	golden(t, "issue_example.txt", text.Bytes())
}

// TestIssueExampleWithChaos is the same file with chaos incidents counted:
// inc-3 (20 minutes) joins the incidents, the downtime, the MTTR and the
// MTBF; docs/metrics.md works these numbers out by hand.
func TestIssueExampleWithChaos(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "issue_example.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	r, err := metrics.ReportFromJSONL(f, issueWindow, metrics.Options{IncludeChaos: true})
	require.NoError(t, err)
	require.Len(t, r.Services, 1)
	s := r.Services[0]
	require.Equal(t, 3, s.Incidents)
	require.Equal(t, 1, s.ChaosIncidents)
	require.Equal(t, 6600.0, s.DowntimeSeconds)
	require.Equal(t, 2200.0, *s.MTTRSeconds)
	require.Equal(t, 1800.0, *s.MTTRMedianSeconds)
	require.Equal(t, 199400.0, *s.MTBFSeconds)
	require.Equal(t, 10, s.Deployments, "deployments do not depend on chaos")
}
