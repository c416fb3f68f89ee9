package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReportFromFile(t *testing.T) {
	want, err := os.ReadFile("../../metrics/testdata/issue_example.json")
	require.NoError(t, err)
	out, _, err := runCmd(t, "report", "--events", "../../metrics/testdata/issue_example.jsonl",
		"--from", "2026-11-02T00:00:00Z", "--to", "2026-11-09T00:00:00Z", "--format", "json")
	require.NoError(t, err)
	require.JSONEq(t, string(want), out)

	text, _, err := runCmd(t, "report", "--events", "../../metrics/testdata/issue_example.jsonl",
		"--from", "2026-11-02T00:00:00Z", "--to", "2026-11-09T00:00:00Z")
	require.NoError(t, err)
	require.Contains(t, text, "invoicing")
}

func TestReportErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	require.NoError(t, os.WriteFile(bad, []byte("{\"specversion\":\"1.0\"}\nnot json\n"), 0o600))
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no events file", nil, "--events FILE is required"},
		{"missing file", []string{"--events", "/nonexistent.jsonl"}, "no such file"},
		{"bad from", []string{"--events", bad, "--from", "last week"}, `--from must be an RFC 3339 time`},
		{"bad to", []string{"--events", bad, "--to", "2026-13-01"}, `--to must be an RFC 3339 time`},
		{"empty window", []string{"--events", bad, "--from", "2026-11-09T00:00:00Z", "--to", "2026-11-02T00:00:00Z"}, "must be before --to"},
		{"bad format", []string{"--events", bad, "--format", "xml"}, "--format must be text or json"},
		{"malformed line", []string{"--events", bad, "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-09T00:00:00Z"}, "line 1"},
		{"stray argument", []string{"--events", bad, "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"report"}, tc.args...)...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
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
	require.NoError(t, runReport(context.Background(), env, []string{"--events", "../../metrics/testdata/issue_example.jsonl", "--format", "json"}))
	want, err := os.ReadFile("../../metrics/testdata/issue_example.json")
	require.NoError(t, err)
	require.JSONEq(t, string(want), out.String(), "the week 2026-11-02 to 2026-11-09")
}
