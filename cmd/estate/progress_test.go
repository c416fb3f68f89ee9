//go:build !servicesonly

package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMigrateShowsProgress: `estate TARGET migrate` reports the migrations
// on stderr as plain lines (stderr is no terminal here) and keeps stdout
// to its one line.
func TestMigrateShowsProgress(t *testing.T) {
	dir := t.TempDir()
	for _, target := range []string{"invoicing", "credit"} {
		out, errOut, err := runCmd(t, target, "migrate", "--data-dir", dir)
		require.NoError(t, err, errOut)
		require.Equal(t, 1, strings.Count(out, "\n"), out)
		require.Regexp(t, `(?m)^migrating `+target+`: done, [1-9]\d* migrations in \S+$`, errOut)
		require.NotContains(t, errOut, "\r", "no bar off a terminal")

		_, errOut, err = runCmd(t, target, "migrate", "--data-dir", dir)
		require.NoError(t, err)
		require.Contains(t, errOut, "migrating "+target+": done, 0 migrations in")
	}
}

// TestReportShowsProgress: a report over a file of events shows the bytes
// read on stderr, and its stdout is the report alone.
func TestReportShowsProgress(t *testing.T) {
	out, errOut, err := runCmd(t, "report", "--events", "../../metrics/testdata/issue_example.jsonl",
		"--from", "2026-11-02T00:00:00Z", "--to", "2026-11-09T00:00:00Z", "--format", "json", noSLOs)
	require.NoError(t, err)
	requireFigures(t, []byte(out))
	require.Regexp(t, `(?m)^reading issue_example.jsonl: \d+\.\d KiB of 12\.4 KiB \(\d+%\), `, errOut)
	require.Regexp(t, `(?m)^reading issue_example.jsonl: done, 12\.4 KiB in \S+$`, errOut)
}
