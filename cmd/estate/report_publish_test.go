//go:build !servicesonly

package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/reportserver"
)

// TestReportServerPublish runs `estate report-server publish` against a
// real report server whose schedule is off: the last complete week is
// archived and its bearer token sent; a week not over, a bad week and an
// unreachable server fail with one line.
func TestReportServerPublish(t *testing.T) {
	archive, err := reportserver.OpenArchive(filepath.Join(t.TempDir(), "reports"))
	require.NoError(t, err)
	srv, err := reportserver.New(reportserver.Options{Archive: archive, Schedule: reportserver.ScheduleOff,
		Generate: func(ctx context.Context, w sloreport.ISOWeek) (*sloreport.Report, error) {
			return sloreport.Compute(ctx, sloreport.Inputs{Events: []metrics.Event{}, Week: w, Now: time.Now()})
		}})
	require.NoError(t, err)
	var auth []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = append(auth, r.Header.Get("Authorization"))
		srv.Handler().ServeHTTP(w, r)
	}))
	defer hs.Close()
	token := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(token, []byte("s3cret\n"), 0o600))

	last := sloreport.WeekOf(time.Now()).Add(-1)
	out, _, err := runCmd(t, "report-server", "publish", "--report-server-url", hs.URL, "--token-file", token)
	require.NoError(t, err)
	require.Equal(t, "report "+last.String()+" published: "+hs.URL+"/reports/"+last.String()+".html\n", out)
	require.Equal(t, []string{"Bearer s3cret"}, auth)
	weeks, err := archive.Weeks()
	require.NoError(t, err)
	require.Equal(t, []sloreport.ISOWeek{last}, weeks)

	_, _, err = runCmd(t, "report-server", "publish", "--report-server-url", hs.URL, "--week", sloreport.WeekOf(time.Now()).String())
	require.ErrorContains(t, err, "report-server publish: the report server answered 409 Conflict: week "+sloreport.WeekOf(time.Now()).String()+" has not ended")
	_, _, err = runCmd(t, "report-server", "publish", "--report-server-url", hs.URL, "--week", "2026-W60")
	require.ErrorContains(t, err, "report-server publish: --week: ")
	_, _, err = runCmd(t, "report-server", "publish", "--report-server-url", "ftp://x")
	require.ErrorContains(t, err, "--report-server-url: must be an http or https URL")
}
