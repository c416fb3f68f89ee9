package sloreport

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics/metricstest"
)

// benchWeek is the last week of metricstest.Generate's year.
var benchWeek = ISOWeek{Year: 2026, Week: 45}

// benchSLOs fills a TSDB, as the collector's embedded store keeps one,
// with a request and an error counter per service, scraped every interval
// over the 35 days before the week's end (its own 30-day window and the
// week before it), and returns an evaluator of one availability SLO per
// service over Prometheus's engine on it.
func benchSLOs(b *testing.B, services int, interval time.Duration) *Evaluator {
	b.Helper()
	db, err := tsdb.Open(b.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	end := benchWeek.End()
	start := end.Add(-35 * 24 * time.Hour)
	type counters struct {
		reqs, errs labels.Labels
		r, e       float64
	}
	var (
		slos []SLO
		cs   []counters
	)
	for s := range services {
		name := fmt.Sprintf("svc-%02d", s)
		cs = append(cs, counters{
			reqs: labels.FromStrings("__name__", "estate_red_requests_total", "service", name),
			errs: labels.FromStrings("__name__", "estate_red_errors_total", "service", name),
		})
		slos = append(slos, SLO{
			Name: name + "-availability", Service: name, Labels: map[string]string{"environment": "production"},
			Indicator: Indicator{Bad: fmt.Sprintf(`estate_red_errors_total{service=%q}`, name), Total: fmt.Sprintf(`estate_red_requests_total{service=%q}`, name)},
			Objective: 0.999, Window: Window{Kind: Rolling, Length: 30 * 24 * time.Hour},
		})
	}
	// In time order, as a scrape appends: the head refuses samples far
	// behind its newest.
	i := 0
	for t := start; !t.After(end); t = t.Add(time.Hour) {
		app := db.Appender(context.Background())
		for ts := t; ts.Before(t.Add(time.Hour)) && !ts.After(end); ts = ts.Add(interval) {
			for s := range cs {
				c := &cs[s]
				c.r += 100
				if i%(97+s) == 0 {
					c.e += float64(1 + s%3)
				}
				_, err := app.Append(0, c.reqs, ts.UnixMilli(), c.r)
				require.NoError(b, err)
				_, err = app.Append(0, c.errs, ts.UnixMilli(), c.e)
				require.NoError(b, err)
			}
			i++
		}
		require.NoError(b, app.Commit())
	}
	// Into blocks, as the store keeps all but its last hours.
	require.NoError(b, db.Compact(context.Background()))
	db.DisableCompactions()
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	e, err := New(Options{Querier: promquery.NewEngine(engine, db), SLOs: slos, Chunk: ReportChunk, Policy: Policy{MinEvents: DefaultMinEvents, AtRiskRemaining: DefaultAtRiskRemaining}})
	require.NoError(b, err)
	return e
}

// BenchmarkReportYear is the weekly report over one year of events for 50
// services (metricstest.Generate, about 107,000 events), with one SLO per
// service computed from the embedded store (Prometheus's TSDB and engine in
// process), its counters scraped every minute: fold, metrics' figures over
// the 8 weeks and the days, every SLO over the week, the week before and
// its own 30 days, with its burn-down. The render is measured apart.
func BenchmarkReportYear(b *testing.B) { benchmarkReport(b, time.Minute, true) }

// BenchmarkReportYearScrape15s is BenchmarkReportYear with the counters
// scraped every 15 s, the collector's default: four times the samples.
func BenchmarkReportYearScrape15s(b *testing.B) { benchmarkReport(b, 15*time.Second, false) }

func benchmarkReport(b *testing.B, interval time.Duration, render bool) {
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 1})
	slos := benchSLOs(b, 50, interval)
	in := Inputs{Events: events, SLOs: slos, Week: benchWeek, Now: benchWeek.End()}
	b.Logf("%d events, %d SLOs, a sample every %s", len(events), len(slos.SLOs()), interval)
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
