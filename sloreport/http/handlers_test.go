package slohttp

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/sloreport"
)

// slos are the SLOs of the tests, over the series that load gives.
const slos = `apiVersion: openslo/v1
kind: SLO
metadata:
  name: inv-availability
  labels: {environment: production}
spec:
  service: inv
  indicator:
    metadata: {name: inv-errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'errors_total{service="inv"}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'requests_total{service="inv"}'}}}
  timeWindow: [{duration: 1d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: cr-availability}
spec:
  service: cr
  indicator:
    metadata: {name: cr-errors}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'errors_total{service="cr"}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'requests_total{service="cr"}'}}}
  timeWindow: [{duration: 1d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
`

// server serves the API over a real engine and store: inv gets 100
// requests a minute for a day and a half, the last ten minutes with 2
// errors each; cr gets nothing.
func server(t *testing.T, q promquery.Querier) *httptest.Server {
	t.Helper()
	defs, err := sloreport.Parse("slos.yaml", []byte(slos))
	require.NoError(t, err)
	if q == nil {
		st := promqltest.LoadedStorage(t, `
load 1m
	requests_total{service="inv",route="GET /invoices"} 0+100x2160
	errors_total{service="inv",route="GET /invoices"} 0+0x2150 2+2x9
`)
		q = promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000), st)
	}
	now := time.Unix(0, 0).Add(36 * time.Hour)
	e, err := sloreport.New(sloreport.Options{Querier: q, SLOs: defs, Policy: sloreport.Policy{MinEvents: 100, AtRiskRemaining: 0.25}, Now: func() time.Time { return now }})
	require.NoError(t, err)
	r := chi.NewRouter()
	require.NoError(t, Routes(r, Options{Evaluator: e}))
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

// answer is what get keeps of a response.
type answer struct {
	StatusCode int
	Header     http.Header
}

func get(t *testing.T, url string, into any) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	require.NoError(t, json.NewDecoder(res.Body).Decode(into))
	return answer{StatusCode: res.StatusCode, Header: res.Header}
}

func TestGetSLO(t *testing.T) {
	srv := server(t, nil)
	var got map[string]any
	res := get(t, srv.URL+"/v1/slos/inv-availability", &got)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"))
	burn := got["burn_rates"].([]any)
	require.Len(t, burn, 7)
	got["burn_rates"] = burn[:1] // the 5m window: 500 requests, 10 bad
	budget := got["error_budget"].(map[string]any)
	// 98.6% of a day at a third of the sustainable rate over the hour (20
	// bad in 6000), to the nanosecond of a time.Duration.
	require.InDelta(t, 0.9861111111111112*86400*3, budget["time_left_seconds"], 1e-6)
	delete(budget, "time_left_seconds")
	require.Equal(t, map[string]any{
		"name":      "inv-availability",
		"service":   "inv",
		"labels":    map[string]any{"environment": "production"},
		"objective": 0.99,
		"window":    map[string]any{"kind": "rolling", "length": "1d", "start": "1970-01-01T12:00:00Z", "end": "1970-01-02T12:00:00Z"},
		"at":        "1970-01-02T12:00:00Z",
		"state":     "healthy",
		"events":    map[string]any{"total": 144000.0, "good": 143980.0, "bad": 20.0},
		// 143980 / 144000; 1440 allowed, 20 spent.
		"attainment": 0.9998611111111111,
		"error_budget": map[string]any{
			"allowed_events": 1440.0, "remaining_events": 1420.0, "remaining_ratio": 0.9861111111111112,
		},
		"burn_rates": []any{map[string]any{"window": "5m", "rate": 2.0, "events": map[string]any{"total": 500.0, "good": 490.0, "bad": 10.0}, "counted": true}},
		"burning":    []any{},
	}, got)
}

func TestListSLOs(t *testing.T) {
	srv := server(t, nil)
	var got struct {
		SLOs []struct {
			Name       string   `json:"name"`
			State      string   `json:"state"`
			Attainment *float64 `json:"attainment"`
		} `json:"slos"`
	}
	res := get(t, srv.URL+"/v1/slos", &got)
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Len(t, got.SLOs, 2)
	require.Equal(t, "cr-availability", got.SLOs[0].Name, "by name")
	require.Equal(t, "no_data", got.SLOs[0].State)
	require.Nil(t, got.SLOs[0].Attainment)
	require.Equal(t, "inv-availability", got.SLOs[1].Name)
}

func TestProblems(t *testing.T) {
	var p problem.Details
	res := get(t, server(t, nil).URL+"/v1/slos/nope", &p)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	require.Equal(t, problem.ContentType, res.Header.Get("Content-Type"))
	require.Equal(t, "no SLO is named nope; GET /v1/slos lists them", p.Detail)

	// A metrics store that does not answer.
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: down.URL})
	require.NoError(t, err)
	res = get(t, server(t, q).URL+"/v1/slos", &p)
	require.Equal(t, http.StatusServiceUnavailable, res.StatusCode)
	require.Equal(t, "the metrics store did not answer in time; ask again", p.Detail)
}
