package sloreport

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
)

// knownWeekSeries are the known week's counters, as promtool loads them
// into a real Prometheus.
func knownWeekSeries() []promquerytest.Series {
	requests, errs := knownWeek()
	points := func(ss []sample) []promquerytest.Point {
		out := make([]promquerytest.Point, len(ss))
		for i, s := range ss {
			out[i] = promquerytest.Point{T: s.t, V: s.v}
		}
		return out
	}
	labels := map[string]string{"service": "inv", "route": "GET /invoices"}
	return []promquerytest.Series{
		{Family: "requests", Type: "counter", Name: "requests_total", Labels: labels, Points: points(requests)},
		{Family: "errors", Type: "counter", Name: "errors_total", Labels: labels, Points: points(errs)},
	}
}

// TestReportAgainstPrometheus runs the report's SLO figures against a real
// Prometheus 2.42 loaded, by promtool, with the known week: 1,008,000
// requests, 650 of them errors, for an objective of 99.9%. The report's
// attainment and budget are exactly those that follow: 1,007,350 good of
// 1,008,000, and 358 of the 1,008 bad events allowed left. The embedded
// engine over the same samples gives the same report.
func TestReportAgainstPrometheus(t *testing.T) {
	url := promquerytest.StartPrometheus(t, promquerytest.PrometheusOptions{DataDir: promquerytest.CreateBlocks(t, knownWeekSeries())})
	q, err := promquery.NewHTTP(promquery.HTTPOptions{URL: url})
	require.NoError(t, err)
	slo := ratioSLO(rolling(30 * 24 * time.Hour))
	slo.Service = "invoicing"
	week := WeekOf(weekStart)
	compute := func(q promquery.Querier) *Report {
		r, err := Compute(context.Background(), Inputs{Events: fixtureEvents(), SLOs: evaluatorWith(t, q, slo), Week: week, Now: weekEnd})
		require.NoError(t, err)
		return r
	}
	r := compute(q)
	inv := service(t, r, "invoicing")
	require.Len(t, inv.SLOs, 1)
	got := inv.SLOs[0]

	require.Equal(t, EventCounts{Total: 1_008_000, Good: 1_007_350, Bad: 650}, got.Events)
	require.Equal(t, 1_007_350.0/1_008_000, *got.Attainment.Value)
	require.Equal(t, 1_007_350.0, *got.Attainment.Numerator)
	require.Equal(t, 1_008_000.0, *got.Attainment.Denominator)
	require.Equal(t, 358.0/1008, *got.BudgetRemaining.Value)
	require.Equal(t, 358.0, *got.BudgetRemaining.Numerator)
	require.Equal(t, 1008.0, *got.BudgetRemaining.Denominator)
	require.Equal(t, 1.0, *got.Attainment.Previous, "the day before the week: no error")
	require.Equal(t, 0.3551587301587302, *got.BudgetRemaining.Value)
	require.Equal(t, "35.5% left", FormatValue(got.BudgetRemaining.Measure)+" left")
	require.Contains(t, inv.Reason, "budget 35.5% left")
	// Its own 30-day window holds the day before too: 650 bad of 1,152,100.
	require.Equal(t, 1-650.0/1_152_100, *got.Own.Attainment)

	requests, errs := knownWeek()
	local := compute(loadPair(t, requests, errs))
	require.Empty(t, cmp.Diff(inv.SLOs, service(t, local, "invoicing").SLOs), "a real Prometheus and the embedded engine agree")
}
