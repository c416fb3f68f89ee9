package prometheus

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/sloreport"
)

// slo is 99% of inv's requests without error over a rolling day.
var slo = sloreport.SLO{
	Name: "inv-availability", Service: "inv", Objective: 0.99,
	Indicator: sloreport.Indicator{Bad: `errors_total{service="inv"}`, Total: `requests_total{service="inv"}`},
	Window:    sloreport.Window{Kind: sloreport.Rolling, Length: 24 * time.Hour},
}

// evaluator answers over a real engine and store: 10 requests a minute
// for a day and a half, the last ten minutes with one error each; the
// clock stands at the end.
func evaluator(t *testing.T, q promquery.Querier) *sloreport.Evaluator {
	t.Helper()
	if q == nil {
		st := promqltest.LoadedStorage(t, `
load 1m
	requests_total{service="inv"} 0+10x2160
	errors_total{service="inv"} 0+0x2150 1+1x9
`)
		q = promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000), st)
	}
	now := time.Unix(0, 0).Add(36 * time.Hour)
	e, err := sloreport.New(sloreport.Options{Querier: q, SLOs: []sloreport.SLO{slo}, Policy: sloreport.Policy{MinEvents: 100, AtRiskRemaining: 0.25}, Now: func() time.Time { return now }})
	require.NoError(t, err)
	return e
}

func TestCollector(t *testing.T) {
	c, err := NewCollector(Options{Evaluator: evaluator(t, nil)})
	require.NoError(t, err)
	// 14400 events, 10 bad: 144 allowed, 134 left. The last hour burns
	// 10/600/0.01 = 1.67 times; the 5m window (50 events) is under the
	// guard of 100 and has no burn rate, the 30m window (300) has.
	want := `
# HELP estate_slo_attainment_ratio Good / total events in the window; absent without events.
# TYPE estate_slo_attainment_ratio gauge
estate_slo_attainment_ratio{service="inv",slo="inv-availability"} 0.9993055555555556
# HELP estate_slo_burn_rate Bad-event ratio over the window / the budget's ratio; absent when the window holds fewer events than the low-traffic guard asks.
# TYPE estate_slo_burn_rate gauge
estate_slo_burn_rate{service="inv",slo="inv-availability",window="1d"} 0.06944444444444445
estate_slo_burn_rate{service="inv",slo="inv-availability",window="1h"} 1.6666666666666665
estate_slo_burn_rate{service="inv",slo="inv-availability",window="2h"} 0.8333333333333333
estate_slo_burn_rate{service="inv",slo="inv-availability",window="30m"} 3.333333333333333
estate_slo_burn_rate{service="inv",slo="inv-availability",window="3d"} 0.046296296296296294
estate_slo_burn_rate{service="inv",slo="inv-availability",window="6h"} 0.2777777777777778
# HELP estate_slo_error_budget_remaining_ratio Remaining / allowed bad events: 1 untouched (or no events), 0 exhausted, negative overspent.
# TYPE estate_slo_error_budget_remaining_ratio gauge
estate_slo_error_budget_remaining_ratio{service="inv",slo="inv-availability"} 0.9305555555555556
# HELP estate_slo_state 1 for the SLO's policy state (healthy, at_risk, exhausted, no_data), 0 for the others.
# TYPE estate_slo_state gauge
estate_slo_state{service="inv",slo="inv-availability",state="at_risk"} 0
estate_slo_state{service="inv",slo="inv-availability",state="exhausted"} 0
estate_slo_state{service="inv",slo="inv-availability",state="healthy"} 1
estate_slo_state{service="inv",slo="inv-availability",state="no_data"} 0
`
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(want),
		"estate_slo_attainment_ratio", "estate_slo_burn_rate", "estate_slo_error_budget_remaining_ratio", "estate_slo_state"))
	require.Equal(t, 9+6+7+4+1, testutil.CollectAndCount(c), "9 gauges of the SLO, 6 burn rates, 7 window counts, 4 states and the failures counter")

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	_, err = reg.Gather()
	require.NoError(t, err, "consistent with its descriptions")
}

// TestCollectorFailure: a metrics store that does not answer leaves the
// status series out and counts the failure; the scrape goes on.
func TestCollectorFailure(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: down.URL})
	require.NoError(t, err)
	c, err := NewCollector(Options{Evaluator: evaluator(t, q), Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP estate_slo_evaluation_failures_total Scrapes whose SLO computation failed; they carried no estate_slo_* status series.
# TYPE estate_slo_evaluation_failures_total counter
estate_slo_evaluation_failures_total 1
`)))
	_, err = evaluator(t, q).Statuses(context.Background())
	require.Error(t, err)
}
