//go:build !servicesonly

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

// weekEvents are, in the week that starts at start, up to before, two
// deployments of invoicing, the second rolled back and the cause of an
// incident resolved half an hour later, and a chaos experiment.
func weekEvents(prefix string, start, before time.Time) []metrics.Event {
	span := before.Sub(start)
	at := func(f float64) time.Time {
		return start.Add(time.Duration(f * float64(span))).Truncate(time.Millisecond)
	}
	d1, d2 := prefix+"-d1", prefix+"-d2"
	return []metrics.Event{
		{ID: d1 + "-started", Source: "ci", Time: at(0.10), Data: metrics.DeploymentStarted{DeploymentID: d1, Service: "invoicing", Environment: "production", Version: "2.0.0",
			Commits: []metrics.Commit{{SHA: prefix + "aaa", CommittedAt: start.Add(-2 * time.Hour)}}}},
		{ID: d1 + "-succeeded", Source: "ci", Time: at(0.11), Data: metrics.DeploymentSucceeded{DeploymentID: d1}},
		{ID: d2 + "-started", Source: "ci", Time: at(0.30), Data: metrics.DeploymentStarted{DeploymentID: d2, Service: "invoicing", Environment: "production", Version: "2.0.1",
			Commits: []metrics.Commit{{SHA: prefix + "bbb", CommittedAt: start.Add(-time.Hour)}}}},
		{ID: d2 + "-succeeded", Source: "ci", Time: at(0.31), Data: metrics.DeploymentSucceeded{DeploymentID: d2}},
		{ID: prefix + "-inc-opened", Source: "am", Time: at(0.40), Data: metrics.IncidentOpened{IncidentID: prefix + "-inc", Service: "invoicing", Environment: "production", Severity: "critical", CauseDeploymentID: d2}},
		{ID: prefix + "-inc-resolved", Source: "am", Time: at(0.50), Data: metrics.IncidentResolved{IncidentID: prefix + "-inc"}},
		{ID: d2 + "-rolled-back", Source: "ci", Time: at(0.45), Data: metrics.DeploymentRolledBack{DeploymentID: d2, ToVersion: "2.0.0"}},
		{ID: prefix + "-exp-started", Source: "chaos", Time: at(0.60), Data: metrics.ChaosStarted{ExperimentID: prefix + "-exp", Kind: "PodChaos", Target: "invoicing/production"}},
		{ID: prefix + "-exp-finished", Source: "chaos", Time: at(0.70), Data: metrics.ChaosFinished{ExperimentID: prefix + "-exp", Kind: "PodChaos", Target: "invoicing/production", Outcome: "hypothesis_held"}},
	}
}

func (e *estate) postEvents(t *testing.T, events []metrics.Event) {
	t.Helper()
	var batch []json.RawMessage
	for _, ev := range events {
		b, err := ev.MarshalJSON()
		require.NoError(t, err)
		batch = append(batch, b)
	}
	body, err := json.Marshal(batch)
	require.NoError(t, err)
	resp, err := e.as(t, auth.RoleEventsWrite).Post(e.urls["collector"]+"/v1/events", "application/cloudevents-batch+json", bytes.NewReader(body))
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(msg))
}

// TestUpWeeklyReport: under `estate up`, with reliability events of this
// week and the last posted to the collector, `estate report --week
// <current>` prints the text report from the collector's store with the
// SLOs through its API; the report server's home page at / lists the
// week's rollback, and /reports/latest shows the last week's HTML report
// with its charts; and the JSON carries every figure with its
// sample size.
func TestUpWeeklyReport(t *testing.T) {
	e := startUp(t)
	now := time.Now().UTC()
	current := sloreport.WeekOf(now)
	last := current.Add(-1)
	e.postEvents(t, append(weekEvents("cur", current.Start(), now), weekEvents("last", last.Start(), last.End())...))

	// The CLI, reading the running collector's store and SLOs.
	text, stderr, err := runCmd(t, "report", "--week", current.String(), "--data-dir", e.dataDir, "--collector-url", e.urls["collector"], "--token", e.reader(t))
	require.NoError(t, err, stderr)
	for _, want := range []string{
		"WEEKLY RELIABILITY REPORT, " + current.String(),
		"EXECUTIVE SUMMARY",
		"invoicing (production)",
		"cur-inc",
		"hypothesis_held",
		e.urls["collector"] + "/v1/incidents/cur-inc/timeline",
		"Invoicing availability", // the example SLOs, through the collector's API
	} {
		require.Contains(t, text, want)
	}
	// The figures' column is as wide as the longest label: match any
	// padding.
	require.Regexp(t, `\nRollback rate +50\.0% \(1 of 2 deployments\)`, text)
	require.Regexp(t, `\nChange failure rate +50\.0% \(1 of 2 deployments\)`, text)

	// The report server: its home page links the latest report, last
	// week's, in HTML with its charts.
	base := e.urls["report-server"]
	code, _ := e.do(t, http.MethodGet, base+"/", "", nil, nil)
	require.Equal(t, http.StatusUnauthorized, code, "the report server needs reports.read")
	reader := e.roleToken(t, auth.RoleReportsRead)
	code, body := e.do(t, http.MethodGet, base+"/", reader, nil, nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, string(body), "<title>Estate status</title>")
	require.Contains(t, string(body), `<a href="/reports/latest">`)
	require.Regexp(t, `<tr id="deployment-cur-d2">(?s:.)*?rolled back`, string(body), "this week's rollback is among the recent deployments")
	require.NotContains(t, string(body), `class="unavailable"`, "every source of the home page answers under up")
	require.Contains(t, string(body), `<tr id="slo-invoicing-availability">`, "the example SLOs, through the collector in process")
	require.Contains(t, string(body), `href="`+e.urls["collector"]+`/v1/logs?`, "the logs of the collector in process")
	code, body = e.do(t, http.MethodGet, base+"/v1/status", reader, nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var status struct {
		Deployments []struct{ ID, Fate string } `json:"deployments"`
	}
	require.NoError(t, json.Unmarshal(body, &status))
	require.Contains(t, status.Deployments, struct{ ID, Fate string }{"cur-d2", "rolled_back"})
	code, body = e.do(t, http.MethodGet, base+"/reports/latest", reader, nil, nil)
	require.Equal(t, http.StatusOK, code)
	html := string(body)
	require.Contains(t, html, "Weekly reliability report, "+last.String())
	for _, id := range []string{"overall-trend-mttr", "overall-trend-mtbf", "overall-trend-rollback", "overall-daily", "service-invoicing-production-burn-0"} {
		require.Contains(t, html, fmt.Sprintf(`<svg id="%s" class="chart" role="img"`, id))
	}
	require.Contains(t, html, "50.0% (1 of 2 deployments)")

	// The JSON: every figure with its sample size, ratios with both terms.
	code, body = e.do(t, http.MethodGet, base+"/reports/"+current.String()+".json", reader, nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	n := 0
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			if _, ok := x["unit"]; ok {
				n++
				require.Contains(t, x, "value", path)
				require.Contains(t, x, "sample_size", path)
				require.Contains(t, x, "sample_of", path)
				if x["unit"] == "ratio" {
					require.Contains(t, x, "numerator", path)
					require.Equal(t, x["denominator"], x["sample_size"], path)
				}
			}
			for k, c := range x {
				walk(c, path+"."+k)
			}
		case []any:
			for i, c := range x {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(doc, "")
	require.Greater(t, n, 100)
	var inv map[string]any
	for _, s := range doc["services"].([]any) {
		if s := s.(map[string]any); s["service"] == "invoicing" {
			inv = s
		}
	}
	require.NotNil(t, inv, "invoicing is in the report")
	require.Len(t, inv["slos"], 2, "its two example SLOs")
	rr := inv["figures"].(map[string]any)["rollback_rate"].(map[string]any)
	require.Equal(t, 0.5, rr["value"])
	require.Equal(t, 1.0, rr["numerator"])
	require.Equal(t, 2.0, rr["denominator"])
	require.Equal(t, 0.5, rr["previous"], "last week had the same")
	require.Equal(t, "flat", rr["direction"])

	code, body = e.do(t, http.MethodGet, base+"/reports/2025-W53.html", reader, nil, nil)
	require.Equal(t, http.StatusBadRequest, code)
	require.Contains(t, string(body), "2025-W53")
}

// TestReportServerOptions: the report-server target reads its own group,
// the event store's, the SLOs' and the auth group, and checks them by key.
func TestReportServerOptions(t *testing.T) {
	out, _, err := runCmd(t, "report-server", "--help")
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, want := range []string{"--report.listen-addr", "--report.schedule", "--report.webhook.url", "--report.thresholds.budget-amber", "--report.collector-url", "--events.postgres-dsn", "--slo.prometheus-url", "--auth.issuer"} {
		require.Contains(t, out, want)
	}
	for _, not := range []string{"--collector.", "--invoicing.", "--credit."} {
		require.NotContains(t, out, not)
	}
	_, _, err = runCmd(t, "report-server", "--data-dir", t.TempDir(), "--report.schedule=sometimes", "--report.webhook.url=ftp://chat")
	require.ErrorContains(t, err, `report.schedule: "sometimes" is not a cron schedule`)
	require.ErrorContains(t, err, `report.webhook.url: must be an http or https URL with a host, not "ftp://chat"`)
	_, _, err = runCmd(t, "invoicing", "--data-dir", t.TempDir(), "--report.schedule=@daily")
	require.EqualError(t, err, "invoicing: --report.schedule is an option of the report-server target, which this command does not run")
}
