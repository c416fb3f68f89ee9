//go:build !servicesonly

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/chaos"
	chaoshttp "github.com/estatehq/estate/chaos/http"
	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/demo"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/sloreport"
)

// TestUpDemo runs `estate up --demo` with fast traffic and a short game
// day, and follows the joins end to end: both services' requests reach the
// collector's RED series and their SLOs' events; a trace id taken from a service's log line finds
// its trace and its logs; the scripted history is in the event store
// (rollbacks and lead times in /v1/dora, and posting it again adds
// nothing); the game day's opening run and a scheduled one break their
// hypothesis and open incidents that resolve; and the report of the last days holds that
// incident as chaos's, with its MTTR, and the scripted rollback.
func TestUpDemo(t *testing.T) {
	before := time.Now()
	e := startUp(t, "--demo", "--demo.rate=60", "--demo.chaos-every=10s", "--demo.businesses=3",
		"--collector.scrape.interval=1s", "--collector.scrape.timeout=1s",
		"--demo.bad-release-after=20s", "--rollout.interval=10s", "--rollout.settle=5s")

	// The guide: printed once the demo runs, with one sign-in line for
	// browsers (printTokenHelp leaves it to the guide).
	require.Eventually(t, func() bool { return strings.Contains(e.stdout(), "See docs/demo.md") }, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, 1, strings.Count(e.stdout(), "/signin and paste the output of:"), e.stdout())

	// The history: every service's figures over its weeks, once the demo
	// has posted them.
	from, to := before.AddDate(0, 0, -7*demo.DefaultWeeks-1).UTC().Format(time.RFC3339), before.Add(time.Hour).UTC().Format(time.RFC3339)
	var dora struct {
		Services []struct {
			Service     string `json:"service"`
			Deployments int    `json:"deployments"`
			Rollbacks   int    `json:"rollbacks"`
			LeadTime    struct {
				P50 float64 `json:"p50"`
			} `json:"lead_time_seconds"`
		} `json:"services"`
	}
	var body []byte
	require.Eventually(t, func() bool {
		var code int
		code, body = e.do(t, http.MethodGet, e.urls["collector"]+"/v1/dora?from="+from+"&to="+to, e.reader(t), nil, nil)
		require.Equal(t, http.StatusOK, code, string(body))
		require.NoError(t, json.Unmarshal(body, &dora))
		return len(dora.Services) == len(demo.HistoryServices)
	}, 30*time.Second, 200*time.Millisecond, "the history's services in /v1/dora")
	rollbacks := 0
	for _, s := range dora.Services {
		rollbacks += s.Rollbacks
		require.Positive(t, s.Deployments, "the deployments of %s", s.Service)
		require.Positive(t, s.LeadTime.P50, "the lead time of %s", s.Service)
	}
	require.Positive(t, rollbacks, string(body))

	// Posting the history again, as a second start does, adds nothing.
	n, err := demo.PostHistory(context.Background(), e.as(t, auth.RoleEventsWrite), e.urls["collector"], demo.History(20261202, demo.DefaultWeeks, before, before))
	require.NoError(t, err)
	require.Zero(t, n, "events of the history stored twice")

	// The traffic: requests of both services in the collector's RED
	// series, through its PromQL API.
	q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: e.urls["collector"], Transport: &auth.Transport{
		Token: func(context.Context) (string, error) { return e.reader(t), nil }}})
	require.NoError(t, err)
	requests := map[string]float64{}
	require.Eventually(t, func() bool {
		v, err := q.Query(context.Background(), `sum by (service) (estate_red_requests_total)`, time.Now())
		require.NoError(t, err)
		vec, ok := v.(model.Vector)
		require.True(t, ok, "a vector, not %s", v.Type())
		for _, s := range vec {
			requests[string(s.Metric["service"])] = float64(s.Value)
		}
		return requests["invoicing"] >= 50 && requests["credit"] >= 5
	}, 60*time.Second, 500*time.Millisecond, "requests by service: %v", requests)

	// The SLOs count the traffic: events, and an error budget, on both
	// services.
	var slos struct {
		SLOs []struct {
			Name   string
			Events struct{ Total float64 }
		}
	}
	require.Eventually(t, func() bool {
		code, b := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/slos", e.reader(t), nil, nil)
		require.Equal(t, http.StatusOK, code, string(b))
		require.NoError(t, json.Unmarshal(b, &slos))
		counted := map[string]bool{}
		for _, s := range slos.SLOs {
			counted[s.Name] = s.Events.Total > 0
		}
		return counted["invoicing-availability"] && counted["credit-availability"]
	}, 90*time.Second, time.Second, "the availability SLOs' events: %+v", slos)

	// The game day: a scheduled run of the credit experiment broke its
	// hypothesis and opened an incident.
	c := chaoshttp.NewClient(e.urls["chaos"], e.as(t, auth.RoleChaosOperate))
	// So did its opening run, at start, without waiting for the period.
	var runs []chaos.Run
	require.Eventually(t, func() bool {
		runs, err = c.Runs(context.Background(), chaos.RunFilter{States: []chaos.State{chaos.StateFinished}})
		require.NoError(t, err)
		scheduled, opening := false, false
		for _, r := range runs {
			if r.Experiment.Metadata.Name != "demo-credit-errors" {
				continue
			}
			require.Equal(t, chaos.VerdictFailed, r.Verdict, r.Reason)
			require.NotEmpty(t, r.IncidentID)
			if r.ParentID != "" {
				scheduled = true
			} else if r.Experiment.Spec.Schedule == nil {
				opening = true
			}
		}
		return scheduled && opening
	}, 60*time.Second, 500*time.Millisecond, "no finished scheduled and opening runs of the game day: %+v", runs)

	// A request, from its log line to its trace and back to its logs.
	traceID := ""
	require.Eventually(t, func() bool {
		code, b := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/logs?service=invoicing&limit=100", e.reader(t), nil, nil)
		require.Equal(t, http.StatusOK, code, string(b))
		var logs struct{ Logs []collector.LogRecord }
		require.NoError(t, json.Unmarshal(b, &logs))
		for _, l := range logs.Logs {
			if l.TraceID != "" {
				traceID = l.TraceID
				return true
			}
		}
		return false
	}, 30*time.Second, 500*time.Millisecond, "no log line of invoicing with a trace id")
	var trace struct{ Spans []collector.Span }
	require.Eventually(t, func() bool {
		code, b := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/traces/"+traceID, e.reader(t), nil, nil)
		if code == http.StatusNotFound {
			return false // the spans are still in the exporter's batch
		}
		require.Equal(t, http.StatusOK, code, string(b))
		require.NoError(t, json.Unmarshal(b, &trace))
		return len(trace.Spans) > 0
	}, 30*time.Second, 500*time.Millisecond, "the trace %s of a log line", traceID)
	// The trace holds the service's span; its root may be credit's, which
	// calls invoicing.
	services := map[string]bool{}
	for _, sp := range trace.Spans {
		services[sp.Service] = true
	}
	require.True(t, services["invoicing"], "invoicing's span in trace %s: %+v", traceID, trace.Spans)
	code, b := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/logs?trace_id="+traceID, e.reader(t), nil, nil)
	require.Equal(t, http.StatusOK, code, string(b))
	var traceLogs struct{ Logs []collector.LogRecord }
	require.NoError(t, json.Unmarshal(b, &traceLogs))
	require.NotEmpty(t, traceLogs.Logs, "the logs of trace %s", traceID)
	for _, l := range traceLogs.Logs {
		require.Equal(t, traceID, l.TraceID)
	}

	// The report of the last eight days: the game day's incident, as
	// chaos's and resolved, with an MTTR; the scripted bad deployment
	// rolled back.
	var incidentID string
	for _, r := range runs {
		if r.Experiment.Metadata.Name == "demo-credit-errors" && r.IncidentID != "" {
			incidentID = r.IncidentID
		}
	}
	var report struct {
		Incidents []sloreport.IncidentEntry `json:"incidents"`
		Services  []sloreport.ServiceReport `json:"services"`
		Overall   sloreport.ServiceReport   `json:"overall"`
	}
	var chaosIncident *sloreport.IncidentEntry
	require.Eventually(t, func() bool {
		out, stderr, err := runCmd(t, "report", "--format", "json", "--include-chaos", "--data-dir", e.dataDir,
			"--collector-url", e.urls["collector"], "--token", e.reader(t),
			"--from", time.Now().AddDate(0, 0, -8).UTC().Format(time.RFC3339), "--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		require.NoError(t, err, stderr)
		require.NoError(t, json.Unmarshal([]byte(out), &report))
		for i, inc := range report.Incidents {
			if inc.ID == incidentID && inc.ResolvedAt != nil {
				chaosIncident = &report.Incidents[i]
				return true
			}
		}
		return false
	}, 60*time.Second, time.Second, "the game day's incident %s, resolved, in the report", incidentID)
	require.Equal(t, sloreport.CauseChaos, chaosIncident.Cause.Kind)
	require.NotNil(t, chaosIncident.DurationSeconds)
	bad := demo.BadDeploymentID(before)
	var credit, invoicing *sloreport.ServiceReport
	for i, s := range report.Services {
		switch s.Service {
		case "credit":
			credit = &report.Services[i]
		case "invoicing":
			invoicing = &report.Services[i]
		}
	}
	require.NotNil(t, credit, "credit in the report")
	require.NotNil(t, credit.Figures.MTTRMean.Value, "credit's MTTR, chaos included")
	require.NotNil(t, invoicing, "invoicing in the report")
	require.NotNil(t, invoicing.Figures.RollbackRate.Numerator)
	require.GreaterOrEqual(t, *invoicing.Figures.RollbackRate.Numerator, 1.0, "the rollback of %s", bad)
	found := false
	for _, inc := range report.Incidents {
		found = found || (inc.Cause.Kind == sloreport.CauseDeployment && inc.Cause.ID == bad)
	}
	require.True(t, found, "the incident of %s in the report", bad)

	// The bad release: failed by the post-deploy analysis within its
	// window, with the evidence and the queries that give it, and rolled
	// back by the demo's signed rollback hook, which answered once.
	var release rollout.Status
	require.Eventually(t, func() bool {
		code, b := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/analyses?service=invoicing&state=failed", e.reader(t), nil, nil)
		require.Equal(t, http.StatusOK, code, string(b))
		var list struct{ Analyses []rollout.Status }
		require.NoError(t, json.Unmarshal(b, &list))
		for _, a := range list.Analyses {
			if strings.HasSuffix(a.DeploymentID, "-release") {
				release = a
				return true
			}
		}
		return false
	}, 3*time.Minute, time.Second, "the bad release failed by the analysis")
	require.True(t, release.RollbackRecommended)
	require.False(t, release.DryRun, "the demo's hook is called")
	require.Less(t, release.DecidedAt.Sub(release.DeployedAt), rollout.DefaultWindow, "decided within the window")
	var detail rollout.Status
	require.Eventually(t, func() bool {
		code, b := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/analyses/"+release.DeploymentID, e.reader(t), nil, nil)
		require.Equal(t, http.StatusOK, code, string(b))
		require.NoError(t, json.Unmarshal(b, &detail))
		return len(detail.Hooks) == 1 && detail.RolledBackAt != nil
	}, time.Minute, time.Second, "the rollback hook answered and the release rolled back")
	require.Equal(t, "webhook", detail.Hooks[0].Hook)
	require.Equal(t, "succeeded", detail.Hooks[0].Outcome)
	require.Equal(t, http.StatusAccepted, detail.Hooks[0].Status)
	require.NotNil(t, detail.Result)
	require.Greater(t, detail.Result.After.Errors, 0.0)
	require.Greater(t, detail.Result.Before.Requests, 0.0)
	require.Len(t, detail.Result.Queries, 6)
	out, stderr, err := runCmd(t, "analysis", "show", release.DeploymentID, "--collector", e.urls["collector"], "--token", e.reader(t))
	require.NoError(t, err, stderr)
	require.Contains(t, out, "Verdict: FAILED")
	require.Contains(t, out, "Hook webhook: succeeded")
	require.Contains(t, out, "estate_red_errors_total{service=\"invoicing\"}")

	// The report lists the analysis, and counts its rollback among those
	// decided automatically, with the sample it is a share of.
	var withRelease struct {
		Analyses []sloreport.AnalysisEntry `json:"analyses"`
		Services []sloreport.ServiceReport `json:"services"`
	}
	out, stderr, err = runCmd(t, "report", "--format", "json", "--data-dir", e.dataDir,
		"--collector-url", e.urls["collector"], "--token", e.reader(t),
		"--from", time.Now().AddDate(0, 0, -8).UTC().Format(time.RFC3339), "--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	require.NoError(t, err, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &withRelease))
	var entry *sloreport.AnalysisEntry
	for i, a := range withRelease.Analyses {
		if a.DeploymentID == release.DeploymentID {
			entry = &withRelease.Analyses[i]
		}
	}
	require.NotNil(t, entry, "the bad release's analysis in the report")
	require.Equal(t, "failed", entry.Verdict)
	require.True(t, entry.RollbackDecidedAutomatically)
	for _, s := range withRelease.Services {
		if s.Service == "invoicing" {
			auto := s.Figures.RollbacksDecidedAutomatically
			require.NotNil(t, auto.Numerator)
			require.GreaterOrEqual(t, *auto.Numerator, 2.0, "the bad release's and the history's")
			require.NotNil(t, auto.Denominator)
		}
	}

	// Scheduling again, as a second start does, keeps the schedules; of
	// another period, replaces them.
	schedules := func() map[string]string {
		runs, err := c.Runs(context.Background(), chaos.RunFilter{States: []chaos.State{chaos.StateScheduled}})
		require.NoError(t, err)
		out := map[string]string{}
		for _, r := range runs {
			require.NotContains(t, out, r.Experiment.Metadata.Name, "two schedules of one experiment")
			out[r.Experiment.Metadata.Name] = r.Experiment.Spec.Schedule.Cron
		}
		return out
	}
	want := map[string]string{"demo-invoicing-latency": "@every 10s", "demo-credit-errors": "@every 10s"}
	require.Equal(t, want, schedules())
	require.NoError(t, demo.ScheduleChaos(context.Background(), c, 10*time.Second))
	require.Equal(t, want, schedules())
	require.NoError(t, demo.ScheduleChaos(context.Background(), c, time.Hour))
	require.Equal(t, map[string]string{"demo-invoicing-latency": "@every 1h0m0s", "demo-credit-errors": "@every 1h0m0s"}, schedules())
}

// TestUpDemoRefusesBadOptions: the demo's options are checked at start,
// each named.
func TestUpDemoRefusesBadOptions(t *testing.T) {
	_, _, err := runCmd(t, "up", "--data-dir", t.TempDir(), "--demo", "--demo.rate=-1", "--demo.chaos-every=1s")
	require.ErrorContains(t, err, "demo.rate: must be between 0 and 5000, not -1")
	require.ErrorContains(t, err, "demo.chaos_every: must be at least 10s, not 1s")
	_, _, err = runCmd(t, "up", "--data-dir", t.TempDir(), "--postgres", "mysql://db/x")
	require.ErrorContains(t, err, `postgres: must be a URL postgres://USER:PASSWORD@HOST:PORT/PREFIX, not "mysql://db/x"`)
}
