package sloreport

import (
	"context"
	"fmt"
	"io"
	"maps"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics/metricstest"
)

// benchWeek is the last week of metricstest.Generate's year.
var benchWeek = ISOWeek{Year: 2026, Week: 45}

// benchStepOffset is where in each Step the counts groups of benchSLOs
// are evaluated, as the rules manager offsets each group.
const benchStepOffset = 2*time.Minute + 17*time.Second

// benchSLOs fills a TSDB, as the collector's embedded store keeps one,
// with a request and an error counter per service, scraped every interval
// over the 35 days before the week's end (its own 30-day window and the
// week before it), and returns an evaluator of one availability SLO per
// service over Prometheus's engine on it. With steps, the store also
// holds what the SLOs' counts groups (CountsGroup) record every Step, as
// the collector's rules evaluator writes them; without, it is a
// Prometheus that does not evaluate them.
func benchSLOs(b *testing.B, services int, interval time.Duration, steps bool) *Evaluator {
	b.Helper()
	ctx := context.Background()
	// As the collector's store keeps them (collector/prometheus): 35
	// days, in blocks of up to a tenth of that.
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = (35 * 24 * time.Hour).Milliseconds()
	opts.MaxBlockDuration = opts.RetentionDuration / 10
	db, err := tsdb.Open(b.TempDir(), nil, nil, opts, nil)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	end := benchWeek.End()
	start := end.Add(-35 * 24 * time.Hour)
	type counter struct {
		series labels.Labels
		v      float64
		// The recorded series of the counter's step increase and sum, and
		// the sum at the step before.
		increase, sum labels.Labels
		before        float64
	}
	var (
		slos []SLO
		cs   [][2]*counter // requests, errors
	)
	recorded := func(s SLO, rule int) labels.Labels {
		r := CountsGroup(s).Rules[rule]
		m := maps.Clone(r.Labels)
		m[model.MetricNameLabel] = r.Record
		return labels.FromMap(m)
	}
	for i := range services {
		name := fmt.Sprintf("svc-%02d", i)
		s := SLO{
			Name: name + "-availability", Service: name, Labels: map[string]string{"environment": "production"},
			Indicator: Indicator{Bad: fmt.Sprintf(`estate_red_errors_total{service=%q}`, name), Total: fmt.Sprintf(`estate_red_requests_total{service=%q}`, name)},
			Objective: 0.999, Window: Window{Kind: Rolling, Length: 30 * 24 * time.Hour},
		}
		slos = append(slos, s)
		cs = append(cs, [2]*counter{
			{series: labels.FromStrings("__name__", "estate_red_requests_total", "service", name), increase: recorded(s, 0), sum: recorded(s, 1)},
			{series: labels.FromStrings("__name__", "estate_red_errors_total", "service", name), increase: recorded(s, 2), sum: recorded(s, 3)},
		})
	}
	// In time order, as a scrape appends: the head refuses samples far
	// behind its newest.
	i := 0
	stepAt := start.Add(benchStepOffset)
	for t := start; !t.After(end); t = t.Add(time.Hour) {
		app := db.Appender(ctx)
		for ts := t; ts.Before(t.Add(time.Hour)) && !ts.After(end); ts = ts.Add(interval) {
			for s := range cs {
				req, errs := cs[s][0], cs[s][1]
				req.v += 100
				if i%(97+s) == 0 {
					errs.v += float64(1 + s%3)
				}
				for _, c := range cs[s] {
					_, err := app.Append(0, c.series, ts.UnixMilli(), c.v)
					require.NoError(b, err)
				}
			}
			i++
			// The last sample up to a step's end: its evaluation. The
			// first step after start has no sample before it, and is not
			// recorded.
			if next := ts.Add(interval); steps && !stepAt.Before(ts) && stepAt.Before(next) {
				for _, pair := range cs {
					for _, c := range pair {
						if stepAt.Sub(start) > Step {
							_, err := app.Append(0, c.increase, stepAt.UnixMilli(), c.v-c.before)
							require.NoError(b, err)
							_, err = app.Append(0, c.sum, stepAt.UnixMilli(), c.v)
							require.NoError(b, err)
						}
						c.before = c.v
					}
				}
				stepAt = stepAt.Add(Step)
			}
		}
		require.NoError(b, app.Commit())
	}
	// Into blocks, as the store keeps all but its last hours.
	require.NoError(b, db.Compact(ctx))
	db.DisableCompactions()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	q := promquery.NewEngine(engine, db)
	if steps {
		// What was written is what the rules record.
		for _, s := range []int{0, services - 1} {
			for _, r := range CountsGroup(slos[s]).Rules {
				for _, at := range []time.Time{start.Add(benchStepOffset + 7*Step), end.Add(benchStepOffset - Step)} {
					want, err := q.Query(ctx, fmt.Sprintf("%s{slo=%q, selector=%q}", r.Record, slos[s].Name, r.Labels[SelectorLabel]), at)
					require.NoError(b, err)
					got, err := q.Query(ctx, r.Expr, at)
					require.NoError(b, err)
					require.Len(b, want, 1, "%s of %s at %s", r.Record, slos[s].Name, at)
					require.Len(b, got, 1)
					require.Equal(b, want.(model.Vector)[0].Value, got.(model.Vector)[0].Value, "%s of %s at %s", r.Record, slos[s].Name, at)
				}
			}
		}
	}
	e, err := New(Options{Querier: q, SLOs: slos, Chunk: ReportChunk, Policy: Policy{MinEvents: DefaultMinEvents, AtRiskRemaining: DefaultAtRiskRemaining}})
	require.NoError(b, err)
	return e
}

// BenchmarkReportYear is the weekly report over one year of events for 50
// services (metricstest.Generate, about 107,000 events), with one SLO per
// service computed from the embedded store (Prometheus's TSDB and engine in
// process), its counters scraped every minute and its counts recorded
// every Step: fold, metrics' figures over the 8 weeks and the days, every
// SLO over the week, the week before and its own 30 days, with its
// burn-down. The render is measured apart.
func BenchmarkReportYear(b *testing.B) { benchmarkReport(b, time.Minute, true, true) }

// BenchmarkReportYearScrape15s is BenchmarkReportYear with the counters
// scraped every 15 s, the collector's default: four times the samples.
func BenchmarkReportYearScrape15s(b *testing.B) { benchmarkReport(b, 15*time.Second, true, false) }

// BenchmarkReportYearScrape15sRaw is BenchmarkReportYearScrape15s without
// the recorded counts (a Prometheus that does not evaluate the SLOs'
// rules): every SLO is counted from raw samples.
func BenchmarkReportYearScrape15sRaw(b *testing.B) { benchmarkReport(b, 15*time.Second, false, false) }

func benchmarkReport(b *testing.B, interval time.Duration, steps, render bool) {
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1})
	slos := benchSLOs(b, 50, interval, steps)
	in := Inputs{Events: events, SLOs: slos, Week: benchWeek, Now: benchWeek.End()}
	b.Logf("%d events, %d SLOs, a sample every %s, counts recorded: %t", len(events), len(slos.SLOs()), interval, steps)
	b.Run("compute", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := Compute(context.Background(), in)
			require.NoError(b, err)
			require.Len(b, r.Services, 50)
		}
	})
	if !render {
		return
	}
	r, err := Compute(context.Background(), in)
	require.NoError(b, err)
	for _, f := range Formats() {
		b.Run("render="+string(f), func(b *testing.B) {
			for b.Loop() {
				require.NoError(b, r.Render(io.Discard, f))
			}
		})
	}
}
