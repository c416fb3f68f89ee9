package sloreport

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
)

// sample is one sample of a series.
type sample struct {
	t time.Time
	v float64
}

// counterSamples are the samples of a counter scraped every step from
// base, n of them: sample i holds the sum of inc(0..i).
func counterSamples(base time.Time, step time.Duration, n int, inc func(i int) float64) []sample {
	out := make([]sample, n)
	var c float64
	for i := range n {
		c += inc(i)
		out[i] = sample{t: base.Add(time.Duration(i) * step), v: c}
	}
	return out
}

// resetAt restarts the counter at sample k: from there it counts from zero
// the increments it counted before, as a restarted process does.
func resetAt(s []sample, k int) []sample {
	out := append([]sample(nil), s...)
	before := s[k-1].v
	for i := k; i < len(out); i++ {
		out[i].v -= before
	}
	return out
}

// without drops the samples in [from, to): a scrape gap.
func without(s []sample, from, to time.Time) []sample {
	var out []sample
	for _, p := range s {
		if p.t.Before(from) || !p.t.Before(to) {
			out = append(out, p)
		}
	}
	return out
}

// series is a series to load.
type series struct {
	metric  string
	samples []sample
}

// querier loads the series into a real TSDB and answers with Prometheus's
// engine over it.
func querier(t *testing.T, ss ...series) promquery.Querier {
	t.Helper()
	st := teststorage.New(t)
	app := st.Appender(context.Background())
	p := promqlParser
	for _, s := range ss {
		ls, err := p.ParseMetric(s.metric)
		require.NoError(t, err, s.metric)
		for _, smp := range s.samples {
			_, err := app.Append(0, ls, smp.t.UnixMilli(), smp.v)
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())
	return promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000), st)
}

// ratioSLO is a 99.9% SLO on requests_total and errors_total of service
// inv, over window.
func ratioSLO(window Window) SLO {
	return SLO{
		Name:    "inv-availability",
		Service: "inv",
		Indicator: Indicator{
			Bad:   `errors_total{service="inv"}`,
			Total: `requests_total{service="inv"}`,
		},
		Objective: 0.999,
		Window:    window,
	}
}

func rolling(d time.Duration) Window { return Window{Kind: Rolling, Length: d} }

func evaluator(t *testing.T, q promquery.Querier, p Policy) *Evaluator {
	t.Helper()
	e, err := New(Options{Querier: q, Policy: p, Chunk: 6 * time.Hour})
	require.NoError(t, err)
	return e
}
