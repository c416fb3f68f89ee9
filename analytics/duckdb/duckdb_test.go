package duckdb_test

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2" // the database/sql driver "duckdb"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
	"github.com/estatehq/estate/sloreport"
)

var (
	from = time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC) // Monday of 2026-W41
	to   = from.AddDate(0, 0, 28)
)

// export writes four weeks of five services and opens DuckDB in memory.
func export(t *testing.T) ([]metrics.Event, string, *sql.DB) {
	t.Helper()
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 11, Services: 5, From: from, To: to, IncidentsPerDay: 1})
	dir := t.TempDir()
	_, err := analytics.Export(context.Background(), events, from, to, analytics.Options{Output: analytics.Dir{Root: dir}, TempDir: t.TempDir()})
	require.NoError(t, err)
	db, err := sql.Open("duckdb", "")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	_, err = db.Exec("SET TimeZone = 'UTC'")
	require.NoError(t, err)
	return events, dir, db
}

// report is the weekly report's figures of each service, by week then
// service.
func report(t *testing.T, events []metrics.Event) map[string]map[string]sloreport.Figures {
	t.Helper()
	out := map[string]map[string]sloreport.Figures{}
	for w := sloreport.WeekOf(from); w.Start().Before(to); w = w.Add(1) {
		r, err := sloreport.Compute(context.Background(), sloreport.Inputs{Events: events, Week: w, Now: to.Add(time.Hour)})
		require.NoError(t, err)
		out[w.String()] = map[string]sloreport.Figures{}
		for _, s := range r.Services {
			out[w.String()][s.Service] = s.Figures
		}
	}
	return out
}

func value(f sloreport.Figure) *float64 { return f.Value }

func requireSame(t *testing.T, want *float64, got sql.NullFloat64, what string) {
	t.Helper()
	if want == nil {
		require.False(t, got.Valid, "%s: NULL where the report has none, got %v", what, got.Float64)
		return
	}
	require.True(t, got.Valid, "%s: the report has %v", what, *want)
	require.InDelta(t, *want, got.Float64, 1e-9, what)
}

// TestDuckDBReadsTheWeeklyTable: the weekly table, read with SQL over the
// Hive-partitioned folder, holds the weekly report's figures.
func TestDuckDBReadsTheWeeklyTable(t *testing.T) {
	events, dir, db := export(t)
	want := report(t, events)
	rows, err := db.Query(`
		SELECT week, service, dt, deployments, failed_deployments, rollback_rate, change_failure_rate,
		       deployment_frequency_per_day, lead_time_p50_seconds, lead_time_p90_seconds, incidents,
		       chaos_incidents, downtime_seconds, mttr_seconds, mttr_median_seconds, mtbf_seconds
		FROM read_parquet(?, hive_partitioning = true, hive_types = {'dt': VARCHAR})
		ORDER BY week, service`, filepath.Join(dir, "weekly", "*", "*.parquet"))
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			week, service, dt                                 string
			deployments, failed, incidents, chaos             int64
			rollback, cfr, freq, p50, p90, down, mttr, median sql.NullFloat64
			mtbf                                              sql.NullFloat64
		)
		require.NoError(t, rows.Scan(&week, &service, &dt, &deployments, &failed, &rollback, &cfr, &freq, &p50, &p90,
			&incidents, &chaos, &down, &mttr, &median, &mtbf))
		f, ok := want[week][service]
		require.True(t, ok, "%s %s: not in the report", week, service)
		w, err := sloreport.ParseWeek(week)
		require.NoError(t, err)
		require.Equal(t, w.Start().Format(time.DateOnly), dt, "the partition is the week's Monday")
		what := week + " " + service + " "
		require.InDelta(t, *value(f.Deployments), float64(deployments), 0, what+"deployments")
		require.InDelta(t, *value(f.FailedDeployments), float64(failed), 0, what+"failed deployments")
		require.InDelta(t, *value(f.Incidents), float64(incidents), 0, what+"incidents")
		require.InDelta(t, *value(f.ChaosIncidents), float64(chaos), 0, what+"chaos incidents")
		requireSame(t, value(f.RollbackRate), rollback, what+"rollback rate")
		requireSame(t, value(f.ChangeFailureRate), cfr, what+"change failure rate")
		requireSame(t, value(f.DeploymentFrequency), freq, what+"deployment frequency")
		requireSame(t, value(f.LeadTimeP50), p50, what+"lead time p50")
		requireSame(t, value(f.LeadTimeP90), p90, what+"lead time p90")
		requireSame(t, value(f.Downtime), down, what+"downtime")
		requireSame(t, value(f.MTTRMean), mttr, what+"MTTR")
		requireSame(t, value(f.MTTRMedian), median, what+"MTTR median")
		requireSame(t, value(f.MTBF), mtbf, what+"MTBF")
		n++
	}
	require.NoError(t, rows.Err())
	services := 0
	for _, s := range want {
		services += len(s)
	}
	require.Equal(t, services, n, "a row for each service of each week's report")
}

// TestDuckDBComputesTheReportFromTheFoldedTables: an analyst's SQL over
// the deployments and incidents tables gives the report's deployments,
// rollbacks and mean time to repair of each week.
func TestDuckDBComputesTheReportFromTheFoldedTables(t *testing.T) {
	events, dir, db := export(t)
	want := report(t, events)
	deployments := filepath.Join(dir, "deployments", "*", "*.parquet")
	incidents := filepath.Join(dir, "incidents", "*", "*.parquet")
	rows, err := db.Query(`
		WITH d AS (
		  SELECT service, succeeded_at, rolled_back_at, date_trunc('week', succeeded_at) AS week_start
		  FROM read_parquet(?) WHERE succeeded_at IS NOT NULL
		), i AS (
		  SELECT service, date_trunc('week', resolved_at) AS week_start, avg(duration_seconds) AS mttr
		  FROM read_parquet(?) WHERE resolved_at IS NOT NULL AND chaos_experiment_id IS NULL
		  GROUP BY ALL
		)
		SELECT strftime(d.week_start, '%G-W%V') AS week, d.service, count(*) AS deployments,
		       count(*) FILTER (WHERE rolled_back_at < d.week_start + INTERVAL 7 DAY) AS rollbacks,
		       any_value(i.mttr) AS mttr
		FROM d LEFT JOIN i USING (service, week_start)
		WHERE d.week_start < ?
		GROUP BY ALL ORDER BY week, service`, deployments, incidents, to)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			week, service        string
			deployed, rolledBack int64
			mttr                 sql.NullFloat64
		)
		require.NoError(t, rows.Scan(&week, &service, &deployed, &rolledBack, &mttr))
		f, ok := want[week][service]
		require.True(t, ok, "%s %s: not in the report", week, service)
		what := week + " " + service + " "
		require.InDelta(t, *value(f.Deployments), float64(deployed), 0, what+"deployments")
		require.InDelta(t, *f.RollbackRate.Numerator, float64(rolledBack), 0, what+"rollbacks")
		if mttr.Valid {
			// The report rounds to the millisecond, half up.
			mttr.Float64 = math.Floor(mttr.Float64*1000+0.5) / 1000
		}
		requireSame(t, value(f.MTTRMean), mttr, what+"MTTR")
		n++
	}
	require.NoError(t, rows.Err())
	require.Positive(t, n)
}
