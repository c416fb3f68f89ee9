package analytics_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/analytics/analyticstest"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
)

// seriesStore is a Prometheus TSDB with two hours of RED and SLO series
// from 23:00 on the first day, scraped every 15 s: 4 requests a scrape
// (16 a minute), one error every other scrape, every request in the
// 0.1 s bucket; and an SLO at 99.9% whose attainment falls by 0.0001 a
// scrape.
func seriesStore(t *testing.T) promquery.Querier {
	t.Helper()
	labels := func(extra ...string) map[string]string {
		m := map[string]string{"service": "invoicing", "route": "GET /v1/invoices", "status_class": "2xx"}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	reqs := promquerytest.Series{Family: "estate_red_requests", Type: "counter", Name: "estate_red_requests_total", Labels: labels()}
	errs := promquerytest.Series{Family: "estate_red_errors", Type: "counter", Name: "estate_red_errors_total", Labels: labels()}
	les := []float64{0.05, 0.1, 0.25}
	var buckets []promquerytest.Series
	for _, le := range append(les, -1) {
		l := strconv.FormatFloat(le, 'g', -1, 64)
		if le < 0 {
			l = "+Inf"
		}
		buckets = append(buckets, promquerytest.Series{Family: "estate_red_request_duration_seconds", Type: "histogram",
			Name: "estate_red_request_duration_seconds_bucket", Labels: labels("le", l)})
	}
	slo := map[string]string{"slo": "invoicing-availability", "service": "invoicing"}
	objective := promquerytest.Series{Family: "estate_slo_objective_ratio", Type: "gauge", Name: "estate_slo_objective_ratio", Labels: slo}
	attainment := promquerytest.Series{Family: "estate_slo_attainment_ratio", Type: "gauge", Name: "estate_slo_attainment_ratio", Labels: slo}
	start := from.Add(23 * time.Hour)
	for i := 0; i <= 8*60; i++ {
		at := start.Add(time.Duration(i) * 15 * time.Second)
		n := float64(4 * i)
		reqs.Points = append(reqs.Points, promquerytest.Point{T: at, V: n})
		errs.Points = append(errs.Points, promquerytest.Point{T: at, V: float64(i / 2)})
		for k := range buckets {
			v := n
			if k == 0 {
				v = 0 // nothing under 0.05 s
			}
			buckets[k].Points = append(buckets[k].Points, promquerytest.Point{T: at, V: v})
		}
		objective.Points = append(objective.Points, promquerytest.Point{T: at, V: 0.999})
		attainment.Points = append(attainment.Points, promquerytest.Point{T: at, V: 1 - 0.0001*float64(i)})
	}
	st := teststorage.New(t)
	require.NoError(t, promquerytest.Append(context.Background(), st, append([]promquerytest.Series{reqs, errs, objective, attainment}, buckets...)))
	return promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000), st)
}

func TestSeriesTables(t *testing.T) {
	q := seriesStore(t)
	dir := t.TempDir()
	m := export(t, dir, nil, analytics.Options{Series: q, Tables: []string{analytics.TableRED, analytics.TableSLO}})
	require.Len(t, m.Tables, 2)

	// A row a minute: day one has 23:00 to 23:59, day two 00:00 to 00:59.
	day1 := filepath.Join(dir, analytics.PartitionKey("red", from))
	red, err := parquet.ReadFile[analytics.REDRow](day1)
	require.NoError(t, err)
	require.Len(t, red, 60)
	red2, err := parquet.ReadFile[analytics.REDRow](filepath.Join(dir, analytics.PartitionKey("red", from.AddDate(0, 0, 1))))
	require.NoError(t, err)
	require.Len(t, red2, 60)
	for i, r := range append(red, red2...) {
		require.Equal(t, from.Add(23*time.Hour+time.Duration(i)*time.Minute), r.Minute.UTC(), "a row a minute, in order")
		require.Equal(t, "invoicing", r.Service)
		require.Equal(t, "GET /v1/invoices", r.Route)
		require.InDelta(t, 16, r.Requests, 1e-9)
		require.InDelta(t, 2, r.Errors, 0.7, "one error every other scrape")
		require.NotNil(t, r.LatencyP50Seconds)
		require.InDelta(t, 0.075, *r.LatencyP50Seconds, 1e-9, "half way through the 0.05-0.1 s bucket")
		require.InDelta(t, 0.0995, *r.LatencyP99Seconds, 1e-9)
	}

	slo, err := parquet.ReadFile[analytics.SLORow](filepath.Join(dir, analytics.PartitionKey("slo", from.AddDate(0, 0, 1))))
	require.NoError(t, err)
	require.Len(t, slo, 60)
	for _, r := range slo {
		require.Equal(t, "invoicing-availability", r.SLO)
		require.InDelta(t, 0.999, *r.ObjectiveRatio, 1e-12)
		// The last scrape of the minute that ends at minute+1m.
		i := int(r.Minute.Add(time.Minute).Sub(from.Add(23*time.Hour)) / (15 * time.Second))
		require.InDelta(t, 1-0.0001*float64(i), *r.AttainmentRatio, 1e-12, r.Minute)
		require.Nil(t, r.ErrorBudgetRemainingRatio, "no such series")
	}

	f, err := parquet.OpenFile(bytesReaderAt(t, day1))
	require.NoError(t, err)
	for _, c := range []string{"required int64 minute (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))", "required binary route (STRING)",
		"required double requests", "optional double latency_p99_seconds"} {
		require.Contains(t, f.Schema().String(), c)
	}

	// Again: the same bytes.
	before := analyticstest.Files(t, dir)
	m = export(t, dir, nil, analytics.Options{Series: q, Tables: []string{analytics.TableRED, analytics.TableSLO}})
	require.Equal(t, before, analyticstest.Files(t, dir))
	for _, tr := range m.Tables {
		for _, p := range tr.Partitions {
			require.Equal(t, analytics.StatusUnchanged, p.Status)
		}
	}
}

func bytesReaderAt(t *testing.T, path string) (*bytes.Reader, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return bytes.NewReader(b), int64(len(b))
}

func TestSeriesTablesNeedAQuerier(t *testing.T) {
	_, err := analytics.Export(context.Background(), nil, from, to, analytics.Options{Output: analytics.Dir{Root: t.TempDir()}, Tables: []string{"red"}})
	require.ErrorContains(t, err, "tables: red is read from the metrics store: series is required")
	tables, err := analytics.ParseTables("")
	require.NoError(t, err)
	require.Equal(t, analytics.EventTables(), tables)
	tables, err = analytics.ParseTables("all")
	require.NoError(t, err)
	require.Equal(t, analytics.Tables(), tables)
}
