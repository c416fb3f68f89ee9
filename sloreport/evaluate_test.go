package sloreport

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
)

// The known week: Monday 2 to Monday 9 November 2026, UTC, with a day of
// traffic before it. Every minute brings 100 requests; the bad minutes are
// half an hour on Wednesday at 20 errors a minute (600) and the week's
// last ten minutes at 5 a minute (50).
var (
	weekStart = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	weekEnd   = weekStart.Add(7 * 24 * time.Hour)
	dataStart = weekStart.Add(-24 * time.Hour)
	// samples: one a minute from dataStart to weekEnd, both included.
	weekSamples = 8*24*60 + 1
	outage      = weekStart.Add(2*24*time.Hour + 10*time.Hour) // Wednesday 10:00
)

func minuteAt(i int) time.Time { return dataStart.Add(time.Duration(i) * time.Minute) }

func knownWeekErrors(i int) float64 {
	t := minuteAt(i)
	switch {
	case !t.Before(outage) && t.Before(outage.Add(30*time.Minute)):
		return 20
	case t.After(weekEnd.Add(-10 * time.Minute)):
		return 5
	}
	return 0
}

func knownWeek() (requests, errs []sample) {
	requests = counterSamples(dataStart, time.Minute, weekSamples, func(int) float64 { return 100 })
	errs = counterSamples(dataStart, time.Minute, weekSamples, knownWeekErrors)
	return requests, errs
}

func loadPair(t *testing.T, requests, errs []sample) promquery.Querier {
	t.Helper()
	return querier(t,
		series{`requests_total{service="inv",route="GET /invoices"}`, requests},
		series{`errors_total{service="inv",route="GET /invoices"}`, errs},
	)
}

func TestEvaluateKnownWeek(t *testing.T) {
	requests, errs := knownWeek()
	e := evaluator(t, loadPair(t, requests, errs), Policy{MinEvents: 100, AtRiskRemaining: 0.25})
	st, err := e.Evaluate(context.Background(), ratioSLO(rolling(7*24*time.Hour)), weekEnd)
	require.NoError(t, err)

	// 10080 minutes of 100 requests; 650 bad.
	require.Equal(t, Events{Total: 1_008_000, Good: 1_007_350, Bad: 650}, st.Events)
	require.Equal(t, 0.9993551587301587, *st.Attainment) // 1007350 / 1008000
	require.Equal(t, 1008.0, st.Budget.Allowed)          // 0.001 * 1008000
	require.Equal(t, 358.0, st.Budget.Remaining)
	require.Equal(t, 0.3551587301587302, st.Budget.RemainingRatio) // 358 / 1008
	require.Equal(t, weekStart, st.Start)
	require.Equal(t, weekEnd, st.End)

	// The last ten minutes burn: 5 errors in 100 requests a minute.
	want := map[time.Duration]float64{
		5 * time.Minute:  50,                  // 25 / 500 / 0.001
		30 * time.Minute: 50.0 / 3000 / 0.001, // 16.67
		time.Hour:        50.0 / 6000 / 0.001,
		2 * time.Hour:    50.0 / 12000 / 0.001,
		6 * time.Hour:    50.0 / 36000 / 0.001,
		24 * time.Hour:   50.0 / 144000 / 0.001,
		72 * time.Hour:   50.0 / 432000 / 0.001, // Wednesday's outage is 4.5 days back
	}
	require.Len(t, st.BurnRates, len(want))
	for _, br := range st.BurnRates {
		require.InDelta(t, want[br.Window], *br.Rate, 1e-9, br.Window)
		require.True(t, br.Counted, br.Window)
		require.Equal(t, float64(br.Window/time.Minute)*100, br.Events.Total, br.Window)
	}
	require.Empty(t, st.Burning, "8.3 times over the last hour pages nobody")
	require.Equal(t, Healthy, st.State)
	// 35.5% of a week at 8.33 times the sustainable rate.
	require.InDelta(t, 0.3551587301587302*7*24*3600/(50.0/6000/0.001), st.Budget.TimeLeft.Seconds(), 1e-6)
}

// TestEvaluateExactness: counter resets, scrape gaps and new series
// neither create nor hide events.
func TestEvaluateExactness(t *testing.T) {
	requests, errs := knownWeek()
	slo := ratioSLO(rolling(7 * 24 * time.Hour))
	policy := Policy{MinEvents: 100, AtRiskRemaining: 0.25}
	base, err := evaluator(t, loadPair(t, requests, errs), policy).Evaluate(context.Background(), slo, weekEnd)
	require.NoError(t, err)

	thursdayNoon := int(weekStart.Add(3*24*time.Hour+12*time.Hour).Sub(dataStart) / time.Minute)
	gapFrom := weekStart.Add(4*24*time.Hour + 3*time.Hour)
	tests := []struct {
		name           string
		requests, errs []sample
	}{
		{"both counters reset on Thursday", resetAt(requests, thursdayNoon), resetAt(errs, thursdayNoon)},
		{"the errors counter resets during the outage", requests, resetAt(errs, int(outage.Add(10*time.Minute).Sub(dataStart)/time.Minute))},
		{"a 45-minute scrape gap on Friday", without(requests, gapFrom, gapFrom.Add(45*time.Minute)), without(errs, gapFrom, gapFrom.Add(45*time.Minute))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := evaluator(t, loadPair(t, tc.requests, tc.errs), policy).Evaluate(context.Background(), slo, weekEnd)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(base, got))
		})
	}
}

// TestEvaluateAdjacentWindowsSplitExactly: a scrape gap across the start of
// a window gives its increase to the window of the sample after it; the
// two weeks together count every increment once.
func TestEvaluateAdjacentWindowsSplitExactly(t *testing.T) {
	requests, errs := knownWeek()
	gap := func(s []sample) []sample {
		return without(s, weekStart.Add(-20*time.Minute), weekStart.Add(25*time.Minute))
	}
	q := loadPair(t, resetAt(gap(requests), 4000), gap(errs))
	e := evaluator(t, q, Policy{})
	slo := ratioSLO(rolling(7 * 24 * time.Hour))
	before, err := e.Evaluate(context.Background(), slo, weekStart)
	require.NoError(t, err)
	after, err := e.Evaluate(context.Background(), slo, weekEnd)
	require.NoError(t, err)
	// The series are born in the first window: their first samples count
	// from zero.
	require.Equal(t, float64(weekSamples)*100, before.Events.Total+after.Events.Total)
	require.Equal(t, 650.0, before.Events.Bad+after.Events.Bad)
	require.Equal(t, 1_008_000.0+21*100, after.Events.Total, "the gap's 21 minutes up to the start belong to the week after")
}

// TestEvaluateAfterOutage: a window that starts after an outage has its
// whole budget, even when the service restarted (its counters reset) at
// the window's start.
func TestEvaluateAfterOutage(t *testing.T) {
	outageStart, outageEnd := weekStart.Add(-3*time.Hour), weekStart.Add(-time.Hour)
	inOutage := func(i int) bool { return minuteAt(i).After(outageStart) && !minuteAt(i).After(outageEnd) }
	requests := counterSamples(dataStart, time.Minute, weekSamples, func(int) float64 { return 100 })
	errs := counterSamples(dataStart, time.Minute, weekSamples, func(i int) float64 {
		if inOutage(i) {
			return 100
		}
		return 0
	})
	restart := int(weekStart.Add(5*time.Minute).Sub(dataStart) / time.Minute)
	q := loadPair(t, resetAt(requests, restart), resetAt(errs, restart))
	e := evaluator(t, q, Policy{MinEvents: 100, AtRiskRemaining: 0.25})
	slo := ratioSLO(rolling(7 * 24 * time.Hour))

	st, err := e.Evaluate(context.Background(), slo, weekEnd)
	require.NoError(t, err)
	require.Equal(t, Events{Total: 1_008_000, Good: 1_008_000}, st.Events)
	require.Equal(t, 1.0, st.Budget.RemainingRatio)
	require.Equal(t, Healthy, st.State)
	require.Nil(t, st.Budget.TimeLeft, "nothing burns")

	// The week that ends with the outage has spent 12000 events of its
	// budget of 1008.
	st, err = e.Evaluate(context.Background(), slo, outageEnd)
	require.NoError(t, err)
	require.Equal(t, 12_000.0, st.Events.Bad)
	require.Equal(t, Exhausted, st.State)
	require.Equal(t, time.Duration(0), *st.Budget.TimeLeft)
	require.Equal(t, BurnAlerts(), st.Burning, "two hours of errors only burn every window")
}

// TestEvaluateNewSeries: a series born inside the window counts from zero.
func TestEvaluateNewSeries(t *testing.T) {
	requests, errs := knownWeek()
	born := weekStart.Add(5 * 24 * time.Hour)
	newRoute := counterSamples(born, time.Minute, 60, func(i int) float64 {
		if i == 0 {
			return 7 // counted before the first scrape
		}
		return 10
	})
	q := querier(t,
		series{`requests_total{service="inv",route="GET /invoices"}`, requests},
		series{`errors_total{service="inv",route="GET /invoices"}`, errs},
		series{`requests_total{service="inv",route="POST /invoices"}`, newRoute},
	)
	st, err := evaluator(t, q, Policy{}).Evaluate(context.Background(), ratioSLO(rolling(7*24*time.Hour)), weekEnd)
	require.NoError(t, err)
	require.Equal(t, 1_008_000.0+7+59*10, st.Events.Total)
}

// TestEvaluateLowTrafficGuard: one error on a service that gets a request
// every five minutes burns fast over every short window, but none of those
// windows has enough events for its burn rate to count.
func TestEvaluateLowTrafficGuard(t *testing.T) {
	last := weekSamples - 1 // the sample at weekEnd: a request, which fails
	requests := counterSamples(dataStart, time.Minute, weekSamples, func(i int) float64 {
		if i%5 == 0 {
			return 1
		}
		return 0
	})
	errs := counterSamples(dataStart, time.Minute, weekSamples, func(i int) float64 {
		if i == last {
			return 1
		}
		return 0
	})
	q := loadPair(t, requests, errs)
	slo := ratioSLO(rolling(7 * 24 * time.Hour))

	guarded, err := evaluator(t, q, Policy{MinEvents: 100, AtRiskRemaining: 0.25}).Evaluate(context.Background(), slo, weekEnd)
	require.NoError(t, err)
	require.Equal(t, Events{Total: 2016, Good: 2015, Bad: 1}, guarded.Events)
	rates := map[time.Duration]BurnRate{}
	for _, br := range guarded.BurnRates {
		rates[br.Window] = br
	}
	require.Equal(t, 1000.0, *rates[5*time.Minute].Rate, "1 in 1")
	require.False(t, rates[5*time.Minute].Counted)
	require.False(t, rates[6*time.Hour].Counted, "72 events")
	require.True(t, rates[24*time.Hour].Counted, "288 events")
	require.Empty(t, guarded.Burning)
	require.Equal(t, Healthy, guarded.State, "half the week's budget of 2 errors remains")
	require.Nil(t, guarded.Budget.TimeLeft)

	unguarded, err := evaluator(t, q, Policy{AtRiskRemaining: 0.25}).Evaluate(context.Background(), slo, weekEnd)
	require.NoError(t, err)
	require.Equal(t, BurnAlerts(), unguarded.Burning, "without the guard, one error pages twice and tickets twice")
	require.Equal(t, AtRisk, unguarded.State)
}

func TestEvaluateLatency(t *testing.T) {
	// Prometheus 3 writes a whole bucket boundary as 1.0; Prometheus 2 and
	// client libraries as 1.
	for _, le := range []string{"1", "1.0"} {
		t.Run("le="+le, func(t *testing.T) {
			inc := func(v float64) func(int) float64 { return func(int) float64 { return v } }
			q := querier(t,
				series{`lat_bucket{service="inv",le="0.5"}`, counterSamples(dataStart, time.Minute, weekSamples, inc(90))},
				series{`lat_bucket{service="inv",le="` + le + `"}`, counterSamples(dataStart, time.Minute, weekSamples, inc(98))},
				series{`lat_bucket{service="inv",le="+Inf"}`, counterSamples(dataStart, time.Minute, weekSamples, inc(100))},
				series{`lat_count{service="inv"}`, counterSamples(dataStart, time.Minute, weekSamples, inc(100))},
			)
			good, total, err := histogramSelectors(`lat{service="inv"}`, 1)
			require.NoError(t, err)
			slo := SLO{
				Name: "inv-latency", Service: "inv", Objective: 0.99, Window: rolling(7 * 24 * time.Hour),
				Indicator: Indicator{Good: good, Total: total, Latency: &Latency{Histogram: `lat{service="inv"}`, Threshold: 1}},
			}
			st, err := evaluator(t, q, Policy{AtRiskRemaining: 0.25}).Evaluate(context.Background(), slo, weekEnd)
			require.NoError(t, err)
			require.Equal(t, Events{Total: 1_008_000, Good: 987_840, Bad: 20_160}, st.Events)
			require.Equal(t, 0.98, *st.Attainment)
			require.Equal(t, Exhausted, st.State, "2% slow against a 1% budget")
			require.InDelta(t, 2.0, *st.BurnRates[0].Rate, 1e-12)
		})
	}
}

func TestEvaluateCalendarMonth(t *testing.T) {
	requests, errs := knownWeek()
	slo := ratioSLO(Window{Kind: Calendar, Unit: Month, Anchor: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)})
	st, err := evaluator(t, loadPair(t, requests, errs), Policy{}).Evaluate(context.Background(), slo, weekEnd)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), st.Start)
	require.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), st.End)
	// Every sample after the first, on 1 November at midnight.
	require.Equal(t, Events{Total: 1_152_000, Good: 1_151_350, Bad: 650}, st.Events)
	require.Equal(t, 0.001*1_152_000, st.Budget.Allowed)
	// The current burn is over the last hour; the period is November.
	want := st.Budget.RemainingRatio * float64(30*24*time.Hour) / (50.0 / 6000 / 0.001)
	require.InDelta(t, want, float64(*st.Budget.TimeLeft), 1e3)
}

func TestEvaluateNoData(t *testing.T) {
	q := querier(t, series{`other_total`, counterSamples(dataStart, time.Minute, 10, func(int) float64 { return 1 })})
	st, err := evaluator(t, q, Policy{AtRiskRemaining: 0.25}).Evaluate(context.Background(), ratioSLO(rolling(7*24*time.Hour)), weekEnd)
	require.NoError(t, err)
	require.Equal(t, NoData, st.State)
	require.Nil(t, st.Attainment)
	require.Equal(t, 1.0, st.Budget.RemainingRatio)
	for _, br := range st.BurnRates {
		require.Nil(t, br.Rate)
		require.False(t, br.Counted)
	}
}

func TestEvaluateQueryError(t *testing.T) {
	q := querier(t)
	slo := ratioSLO(rolling(7 * 24 * time.Hour))
	slo.Indicator.Total = `requests_total{service="inv"` // cannot come from Parse
	_, err := evaluator(t, q, Policy{}).Evaluate(context.Background(), slo, weekEnd)
	var qe *promquery.Error
	require.ErrorAs(t, err, &qe)
	require.Equal(t, promquery.ErrBadData, qe.Type)
}

// countingQuerier counts the queries that reach the real engine under it.
type countingQuerier struct {
	promquery.Querier
	n int
}

func (c *countingQuerier) Query(ctx context.Context, expr string, t time.Time) (model.Value, error) {
	c.n++
	return c.Querier.Query(ctx, expr, t)
}

func TestStatusesCache(t *testing.T) {
	requests, errs := knownWeek()
	q := &countingQuerier{Querier: loadPair(t, requests, errs)}
	now := weekEnd
	slo := ratioSLO(rolling(7 * 24 * time.Hour))
	e, err := New(Options{Querier: q, SLOs: []SLO{slo}, CacheTTL: 30 * time.Second, Now: func() time.Time { return now }})
	require.NoError(t, err)
	ctx := context.Background()

	all, err := e.Statuses(ctx)
	require.NoError(t, err)
	require.Len(t, all, 1)
	queries := q.n
	require.Positive(t, queries)

	now = now.Add(29 * time.Second)
	one, err := e.Status(ctx, slo.Name)
	require.NoError(t, err)
	require.Equal(t, all[0], one)
	require.Equal(t, queries, q.n, "served from the cache")

	now = now.Add(time.Second)
	one, err = e.Status(ctx, slo.Name)
	require.NoError(t, err)
	require.Equal(t, weekEnd.Add(30*time.Second), one.At)
	require.Equal(t, 2*queries, q.n)

	_, err = e.Status(ctx, "nope")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestNewRejectsOptions(t *testing.T) {
	_, err := New(Options{Policy: Policy{MinEvents: -1, AtRiskRemaining: 2}, CacheTTL: -time.Second})
	require.EqualError(t, err, "slo evaluator: querier is required\n"+
		"min events must not be negative, not -1\n"+
		"at-risk remaining must be between 0 and 1, not 2\n"+
		"cache TTL (-1s) and chunk (0s) must not be negative")
}
