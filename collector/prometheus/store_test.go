package prometheus_test

import (
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	client "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector/prometheus"
	"github.com/estatehq/estate/internal/promquery"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(runCrashChild(dir))
	}
	goleak.VerifyTestMain(m)
}

// defaults is the configuration with every default, as the flags set it.
func defaults(t *testing.T) prometheus.Config {
	t.Helper()
	var c prometheus.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.RegisterFlags(fs, "collector.tsdb.")
	require.NoError(t, fs.Parse(nil))
	return c
}

// open opens a store in dir and closes it when the test ends.
func open(t *testing.T, dir string, cfg prometheus.Config, reg client.Registerer) *prometheus.Store {
	t.Helper()
	s, err := prometheus.Open(prometheus.Options{Config: cfg, Dir: dir, Registerer: reg})
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s
}

// serve serves the store's Prometheus API on a loopback port.
func serve(t *testing.T, s *prometheus.Store, o prometheus.APIOptions) string {
	t.Helper()
	r := chi.NewRouter()
	s.Routes(r, o)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConfigDefaultsAndValidate(t *testing.T) {
	c := defaults(t)
	require.NoError(t, c.Validate())
	require.Equal(t, prometheus.DefaultRetention, c.Retention)
	require.Equal(t, prometheus.DefaultMaxSeries, c.MaxSeries)

	tests := []struct {
		name   string
		modify func(*prometheus.Config)
		want   string
	}{
		{"retention", func(c *prometheus.Config) { c.Retention = 0 }, "retention: must be positive"},
		{"max bytes", func(c *prometheus.Config) { c.MaxBytes = -1 }, "max_bytes: must not be negative"},
		{"no size bound", func(c *prometheus.Config) { c.MaxBytes = 0 }, ""},
		{"max series", func(c *prometheus.Config) { c.MaxSeries = 0 }, "max_series: must be positive"},
		{"out of order", func(c *prometheus.Config) { c.OutOfOrderWindow = -time.Second }, "out_of_order_window: must not be negative"},
		{"in order only", func(c *prometheus.Config) { c.OutOfOrderWindow = 0 }, ""},
		{"timeout", func(c *prometheus.Config) { c.QueryTimeout = 0 }, "query_timeout: must be positive"},
		{"samples", func(c *prometheus.Config) { c.QueryMaxSamples = 0 }, "query_max_samples: must be positive"},
		{"concurrency", func(c *prometheus.Config) { c.QueryMaxConcurrency = 0 }, "query_max_concurrency: must be positive"},
		{"lookback", func(c *prometheus.Config) { c.LookbackDelta = 0 }, "lookback_delta: must be positive"},
		{"subquery step", func(c *prometheus.Config) { c.SubqueryStep = 0 }, "subquery_step: must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := defaults(t)
			tc.modify(&c)
			err := c.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// TestSeriesLimit fills the head to the bound: a new series is refused and
// counted, samples of the series there are still taken, and a store opened
// again with a lower bound keeps what its WAL holds.
func TestSeriesLimit(t *testing.T) {
	dir := t.TempDir()
	cfg := defaults(t)
	cfg.MaxSeries = 3
	reg := client.NewRegistry()
	s := open(t, dir, cfg, reg)
	ctx := t.Context()
	now := time.Now().UnixMilli()
	series := func(i int) labels.Labels {
		return labels.FromStrings("__name__", "temperature", "instance", string(rune('a'+i)))
	}
	app := s.Appendable().Appender(ctx)
	for i := range 3 {
		_, err := app.Append(0, series(i), now, 1)
		require.NoError(t, err)
	}
	require.NoError(t, app.Commit())
	require.Equal(t, uint64(3), s.HeadSeries())

	app = s.Appendable().Appender(ctx)
	_, err := app.Append(0, series(3), now, 1)
	require.ErrorIs(t, err, prometheus.ErrSeriesLimit)
	require.ErrorIs(t, err, storage.ErrOutOfBounds, "a class the scrape loop skips")
	_, err = app.Append(0, series(0), now+15000, 2)
	require.NoError(t, err, "a series in the head takes samples")
	_, err = app.Append(0, labels.FromStrings("__name__", "up", "job", "a"), now, 1)
	require.NoError(t, err, "a scrape's report series are admitted past the bound")
	require.NoError(t, app.Commit())
	require.Equal(t, 1.0, gathered(t, reg, "estate_collector_tsdb_series_limit_refusals_total"))
	require.Equal(t, 3.0, gathered(t, reg, "estate_collector_tsdb_max_series"))
	require.Equal(t, 2.0, value(t, s.Querier(), `temperature{instance="a"}`, time.UnixMilli(now+15000)))
	require.Equal(t, 3.0, value(t, s.Querier(), `count(temperature)`, time.UnixMilli(now+15000)))
	require.NoError(t, s.Shutdown(ctx))

	// Opened again with a lower bound, the WAL brings every series back;
	// none may be added.
	cfg.MaxSeries = 2
	s = open(t, dir, cfg, nil)
	require.Equal(t, uint64(4), s.HeadSeries())
	require.Equal(t, 2.0, value(t, s.Querier(), `temperature{instance="a"}`, time.UnixMilli(now+15000)))
	app = s.Appendable().Appender(ctx)
	_, err = app.Append(0, series(4), now+30000, 1)
	require.ErrorIs(t, err, prometheus.ErrSeriesLimit)
	require.ErrorIs(t, err, storage.ErrOutOfBounds, "a class the scrape loop skips")
	require.NoError(t, app.Rollback())
}

// gathered is the value of a metric without labels in reg.
func gathered(t *testing.T, reg *client.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// value is the value of a query that answers one sample.
func value(t *testing.T, q promquery.Querier, expr string, at time.Time) float64 {
	t.Helper()
	v, err := q.Query(t.Context(), expr, at)
	require.NoError(t, err)
	vec, ok := v.(model.Vector)
	require.True(t, ok, "%s answered a %s", expr, v.Type())
	require.Len(t, vec, 1, "%s answered %s", expr, vec)
	return float64(vec[0].Value)
}
