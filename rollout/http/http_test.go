package rollouthttp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/sqlite"
	"github.com/estatehq/estate/rollout"
	rollouthttp "github.com/estatehq/estate/rollout/http"
)

func TestRoutes(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	evidence, err := json.Marshal(rollout.Result{Service: "api", DeploymentID: "api/7", Verdict: rollout.Failed, Reason: "errors rose",
		Queries: []string{`sum(increase(estate_red_requests_total{service="api"}[15m] @ 1796213700))`},
		After:   rollout.Period{Requests: 300, Errors: 30, Buckets: []rollout.Bucket{{Le: 0.1, Count: 250}}}})
	require.NoError(t, err)
	ev := func(id string, at time.Time, d metrics.Data) metrics.Event {
		return metrics.Event{ID: id, Source: "ci", Time: at, Data: d}
	}
	_, err = st.Append(t.Context(), []metrics.Event{
		ev("1", now.Add(-time.Hour), metrics.DeploymentStarted{DeploymentID: "api/7", Service: "api", Environment: "production", Version: "v7"}),
		ev("2", now.Add(-time.Hour), metrics.DeploymentSucceeded{DeploymentID: "api/7"}),
		ev("3", now.Add(-50*time.Minute), metrics.DeploymentAnalysed{DeploymentID: "api/7", Verdict: "failed", Reason: "errors rose", Evidence: evidence}),
		ev("4", now.Add(-50*time.Minute), metrics.DeploymentRollbackRecommended{DeploymentID: "api/7", Reason: "errors rose", DryRun: true, Evidence: evidence}),
		ev("5", now.Add(-5*time.Minute), metrics.DeploymentStarted{DeploymentID: "web-8", Service: "web", Environment: "production", Version: "v8"}),
		ev("6", now.Add(-5*time.Minute), metrics.DeploymentSucceeded{DeploymentID: "web-8"}),
	})
	require.NoError(t, err)
	// The API reads what is stored; nothing is evaluated here.
	q := promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 1000), teststorage.New(t))
	a, err := rollout.NewAnalyser(rollout.Options{Store: st, Querier: q, Now: func() time.Time { return now }})
	require.NoError(t, err)
	r := chi.NewRouter()
	require.NoError(t, rollouthttp.Routes(r, a, nil))
	srv := httptest.NewServer(r)
	defer srv.Close()

	get := func(path string, want int, into any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, path)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(into))
	}

	var list rollouthttp.List
	get("/v1/analyses", 200, &list)
	require.Len(t, list.Analyses, 2)
	require.Equal(t, "web-8", list.Analyses[0].DeploymentID, "latest first")
	require.Equal(t, rollout.Running, list.Analyses[0].State)
	require.Equal(t, "failed", list.Analyses[1].State)
	require.True(t, list.Analyses[1].RollbackRecommended)
	require.True(t, list.Analyses[1].DryRun)
	require.Nil(t, list.Analyses[1].Result)

	get("/v1/analyses?state=failed&service=api", 200, &list)
	require.Len(t, list.Analyses, 1)
	get("/v1/analyses?from="+now.Add(-10*time.Minute).Format(time.RFC3339), 200, &list)
	require.Len(t, list.Analyses, 1)
	require.Equal(t, "web-8", list.Analyses[0].DeploymentID)

	var one rollout.Status
	get("/v1/analyses/api%2F7", 200, &one)
	require.Equal(t, "errors rose", one.Reason)
	require.NotNil(t, one.Result)
	require.Equal(t, 30.0, one.Result.After.Errors)
	require.Len(t, one.Result.Queries, 1)

	var p struct {
		Status int `json:"status"`
		Errors []struct {
			Location string `json:"location"`
		} `json:"errors"`
	}
	get("/v1/analyses/nope", 404, &p)
	require.Equal(t, 404, p.Status)
	get("/v1/analyses?state=maybe&from=yesterday", 400, &p)
	require.Len(t, p.Errors, 2)
	require.Equal(t, "query.from", p.Errors[0].Location)
	require.Equal(t, "query.state", p.Errors[1].Location)
}
