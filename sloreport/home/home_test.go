package home_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics/sqlite"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/home"
	"github.com/estatehq/estate/sloreport/reportserver"
)

const collectorURL = "http://127.0.0.1:8088"

func page(t *testing.T, o home.Options) *home.Page {
	t.Helper()
	if o.CollectorURL == "" {
		o.CollectorURL = collectorURL
	}
	o.Now = func() time.Time { return now }
	p, err := home.New(o)
	require.NoError(t, err)
	return p
}

// TestStatus assembles the page from an SQLite event store holding the
// fixture's events and the embedded PromQL engine over its RED series,
// with the estate's example SLOs.
func TestStatus(t *testing.T) {
	q := querier(t)
	st := page(t, home.Options{Events: eventStore(t), Querier: q, SLOs: evaluator(t, q)}).Status(context.Background())
	require.Empty(t, st.REDError)
	require.Empty(t, st.SLOError)
	require.Empty(t, st.EventsError)
	require.Equal(t, now, st.At)

	require.Len(t, st.Services, 2)
	cr, inv := st.Services[0], st.Services[1]
	require.Equal(t, "credit", cr.Name)
	require.Equal(t, "invoicing", inv.Name)

	// invoicing: 10 requests a second, one in ten failing for the last
	// ten minutes, 98% within 250 ms and the rest within 500: the p99 is
	// half-way through the (0.25, 0.5] bucket.
	require.InDelta(t, 10, *inv.RED.RequestRate, 1e-9)
	require.InDelta(t, 0.1, *inv.RED.ErrorRatio, 1e-9)
	require.InDelta(t, 0.375, *inv.RED.P99Seconds, 1e-9)
	require.Equal(t, home.StatusBreached, inv.Status)
	require.Len(t, inv.SLOs, 2)
	avail, latency := inv.SLOs[0], inv.SLOs[1]
	require.Equal(t, "invoicing-availability", avail.Name)
	require.Equal(t, "Invoicing availability", avail.DisplayName)
	require.Equal(t, 0.999, avail.Objective)
	require.Equal(t, "30d rolling", avail.Window)
	require.Equal(t, home.StatusBreached, avail.Status, "600 bad of 72,000 requests spend the 72 allowed")
	require.InDelta(t, 1-600.0/72000, *avail.SLI, 1e-4)
	require.Negative(t, avail.BudgetRemaining)
	// The last hour: 600 bad of 36,000, for a budget of 0.1%.
	require.InDelta(t, 600.0/36000/0.001, *avail.BurnRate, 1e-6)
	require.True(t, avail.BurnCounted)
	require.Equal(t, "invoicing-latency", latency.Name)
	require.Equal(t, home.StatusBreached, latency.Status, "2% over 250 ms, for an objective of 99% within")
	require.InDelta(t, 0.98, *latency.SLI, 1e-3)

	// credit: 5 a second, all within 100 ms, none failing.
	require.InDelta(t, 5, *cr.RED.RequestRate, 1e-9)
	require.Zero(t, *cr.RED.ErrorRatio)
	require.InDelta(t, 0.099, *cr.RED.P99Seconds, 1e-9)
	require.Equal(t, home.StatusOK, cr.Status)
	for _, s := range cr.SLOs {
		require.Equal(t, home.StatusOK, s.Status, s.Name)
		require.Equal(t, 1.0, s.BudgetRemaining, s.Name)
		require.Equal(t, 1.0, *s.SLI, s.Name)
	}
	require.Equal(t, collectorURL+"/v1/logs?from=2026-12-02T11%3A00%3A00Z&level=error&service=credit", cr.ErrorLogs)
	require.Equal(t, collectorURL+"/v1/traces?from=2026-12-02T11%3A00%3A00Z&limit=50&service=credit", cr.Traces)
	require.Equal(t, collectorURL+"/v1/traces?from=2026-12-02T11%3A00%3A00Z&min_duration=375ms&service=invoicing", inv.SlowTraces)

	// Deployments, newest first, with their fates and lead times.
	var ids, fates []string
	for _, d := range st.Deployments {
		ids, fates = append(ids, d.ID), append(fates, d.Fate)
	}
	require.Equal(t, []string{"d4", "d3", "d2", "d1"}, ids)
	require.Equal(t, []string{home.FateInProgress, home.FateFailed, home.FateSucceeded, home.FateRolledBack}, fates)
	require.Nil(t, st.Deployments[0].LeadTimeSeconds, "not in production yet")
	require.Nil(t, st.Deployments[1].LeadTimeSeconds, "failed")
	require.Equal(t, (4*time.Hour + 5*time.Minute).Seconds(), *st.Deployments[2].LeadTimeSeconds)
	require.Equal(t, (24*time.Hour + 10*time.Minute).Seconds(), *st.Deployments[3].LeadTimeSeconds, "from its oldest commit")
	require.Equal(t, "1.3.9", st.Deployments[3].RolledBackTo)
	require.Equal(t, "failed", st.Deployments[3].Verdict)
	require.True(t, st.Deployments[3].RollbackRecommended)
	require.Equal(t, "passed", st.Deployments[2].Verdict)
	require.Empty(t, st.Deployments[0].Verdict, "not analysed")

	// Incidents: the open ones, newest first, and the one resolved today.
	require.Len(t, st.Incidents, 2)
	require.Equal(t, "i4", st.Incidents[0].ID)
	require.Equal(t, "x1", st.Incidents[0].ChaosExperiment, "opened on invoicing while x1 ran there")
	require.Equal(t, "i1", st.Incidents[1].ID)
	require.Equal(t, "d1", st.Incidents[1].CauseDeployment)
	require.Equal(t, collectorURL+"/v1/incidents/i1/timeline", st.Incidents[1].Timeline)
	require.Len(t, st.Resolved, 1)
	require.Equal(t, "i2", st.Resolved[0].ID)
	require.Equal(t, now.Add(-150*time.Minute), *st.Resolved[0].ResolvedAt)

	// Experiments: x1 runs, x2 finished today; x3 finished days ago, and
	// x4's controller died more than four hours ago.
	require.Len(t, st.Experiments, 2)
	require.Equal(t, home.Experiment{ID: "x1", Kind: "latency", Target: "invoicing", StartedAt: now.Add(-5 * time.Minute), Running: true}, st.Experiments[0])
	require.Equal(t, "x2", st.Experiments[1].ID)
	require.False(t, st.Experiments[1].Running)
	require.Equal(t, "hypothesis_broken", st.Experiments[1].Outcome)

	require.Equal(t, home.Links{
		Logs:          collectorURL + "/v1/logs?from=2026-12-02T11%3A00%3A00Z&limit=100",
		ErrorLogs:     collectorURL + "/v1/logs?from=2026-12-02T11%3A00%3A00Z&level=error&limit=100",
		Traces:        collectorURL + "/v1/traces?from=2026-12-02T11%3A00%3A00Z&limit=50",
		CurrentReport: "/reports/2026-W49.html",
		LatestReport:  "/reports/latest",
		Archive:       "/reports",
	}, st.Links)
}

// TestStatusDegrades: a collector that refuses connections, a collector
// that never answers and an event store that cannot be read each leave
// their sections saying why, and the page still renders.
func TestStatusDegrades(t *testing.T) {
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		return "http://" + addr
	}()
	stop := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hanging.Close()
	defer close(stop)
	closed, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, closed.Close())

	for _, tc := range []struct {
		name      string
		promURL   string
		wantRED   string
		wantEvent string
	}{
		{name: "collector unreachable", promURL: refused, wantRED: "the RED figures unavailable: collector unreachable"},
		{name: "collector too slow", promURL: hanging.URL, wantRED: "the RED figures unavailable: the collector did not answer within 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: tc.promURL})
			require.NoError(t, err)
			p := page(t, home.Options{Events: closed, Querier: q, SLOs: evaluator(t, q), Timeout: 200 * time.Millisecond})
			st := p.Status(context.Background())
			require.Contains(t, st.REDError, tc.wantRED)
			require.Contains(t, st.SLOError, "the SLOs unavailable: ")
			require.Equal(t, "deployments, incidents and experiments unavailable: the event store failed; the report server's log has the cause", st.EventsError)
			require.Empty(t, st.Deployments)
			require.NotContains(t, st.REDError+st.SLOError, "127.0.0.1", "hosts go to the log, not the page")

			var html bytes.Buffer
			require.NoError(t, p.WriteHTML(&html, st))
			for _, want := range []string{tc.wantRED, "the SLOs unavailable: ", "deployments, incidents and experiments unavailable"} {
				require.Contains(t, html.String(), want)
			}
		})
	}
}

func TestNewRefusesWhatCannotWork(t *testing.T) {
	_, err := home.New(home.Options{CollectorURL: "collector:8088", Timeout: -time.Second})
	require.ErrorContains(t, err, "events is required")
	require.ErrorContains(t, err, `collector url must be an http(s) URL, not "collector:8088"`)
	require.ErrorContains(t, err, "must not be negative")
}

// TestStatusJSON: the report server answers the page's figures as JSON at
// /v1/status, and at / for a client that accepts JSON and not HTML.
func TestStatusJSON(t *testing.T) {
	q := querier(t)
	p := page(t, home.Options{Events: eventStore(t), Querier: q, SLOs: evaluator(t, q)})
	archive, err := reportserver.OpenArchive(filepath.Join(t.TempDir(), "reports"))
	require.NoError(t, err)
	rs, err := reportserver.New(reportserver.Options{
		Generate: func(context.Context, sloreport.ISOWeek) (*sloreport.Report, error) {
			return nil, errors.New("not asked")
		},
		Archive: archive, Home: p, Schedule: reportserver.ScheduleOff,
	})
	require.NoError(t, err)
	srv := httptest.NewServer(rs.Handler())
	defer srv.Close()

	want, err := json.Marshal(p.Status(context.Background()))
	require.NoError(t, err)
	for _, tc := range []struct{ path, accept string }{
		{"/v1/status", ""},
		{"/", "application/json"},
	} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
		require.NoError(t, err)
		req.Header.Set("Accept", tc.accept)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.path)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"), tc.path)
		require.JSONEq(t, string(want), string(body), tc.path)
	}
	var doc map[string]any
	require.NoError(t, json.Unmarshal(want, &doc))
	for _, key := range []string{"at", "services", "deployments", "open_incidents", "recently_resolved_incidents", "experiments", "links"} {
		require.Contains(t, doc, key)
	}
}
