package service

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery/promquerytest"
)

// TestPromtoolQueriesTheCollector runs promtool against a running
// collector's API port, as an operator would, over RED series in its TSDB:
// 33 requests every 15 s for five minutes (30 of them 2xx), appended
// directly so that the test holds whatever feeds the TSDB.
func TestPromtoolQueriesTheCollector(t *testing.T) {
	promtool := promquerytest.Promtool(t)
	s := start(t, Options{Config: testConfig(t)})
	require.DirExists(t, filepath.Join(s.opts.Dir, "tsdb", "wal"), "the TSDB lives under <data-dir>/collector/tsdb")

	end := time.Now().Truncate(time.Second)
	begin := end.Add(-5 * time.Minute)
	app := s.TSDB().Appendable().Appender(t.Context())
	for _, c := range []struct {
		class string
		per   float64
	}{{"2xx", 30}, {"5xx", 3}} {
		ls := labels.FromStrings("__name__", "estate_red_requests_total", "service", "invoicing", "route", "GET /v1/invoices", "status_class", c.class)
		for i := 0; !begin.Add(time.Duration(i) * 15 * time.Second).After(end); i++ {
			_, err := app.Append(0, ls, begin.Add(time.Duration(i)*15*time.Second).UnixMilli(), c.per*float64(i))
			require.NoError(t, err)
		}
	}
	require.NoError(t, app.Commit())

	const expr = `sum(rate(estate_red_requests_total[1m]))`
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %v: %s", args, out)
		return out
	}

	// The command as an operator types it, at the current time.
	out := run("query", "instant", s.URL(), expr)
	require.Regexp(t, `^\{\} => [0-9.]+ @\[[0-9.]+\]\n$`, string(out))

	// At a time seven seconds after the last sample, exactly 33 / 15 s.
	at := end.Add(7 * time.Second)
	out = run("query", "instant", "-o", "json", "--time", strconv.FormatInt(at.Unix(), 10), s.URL(), expr)
	var vec model.Vector
	require.NoError(t, json.Unmarshal(out, &vec), "%s", out)
	require.Len(t, vec, 1)
	require.InDelta(t, 2.2, float64(vec[0].Value), 1e-9)
	require.Equal(t, model.TimeFromUnix(at.Unix()), vec[0].Timestamp)

	out = run("query", "range", "-o", "json",
		"--start", strconv.FormatInt(at.Add(-2*time.Minute).Unix(), 10), "--end", strconv.FormatInt(at.Unix(), 10), "--step", "30s",
		s.URL(), `sum by (status_class) (rate(estate_red_requests_total[1m]))`)
	var m model.Matrix
	require.NoError(t, json.Unmarshal(out, &m), "%s", out)
	require.Len(t, m, 2)
	for _, ss := range m {
		want := map[model.LabelValue]float64{"2xx": 2, "5xx": 0.2}[ss.Metric["status_class"]]
		require.Len(t, ss.Values, 5, "%s", ss.Metric)
		for _, p := range ss.Values {
			require.InDelta(t, want, float64(p.Value), 1e-9, "%s at %s", ss.Metric, p.Timestamp)
		}
	}
}

// TestTSDBKeepsSamplesAcrossRestarts appends, stops the collector and
// starts another on the same folder: the samples are there.
func TestTSDBKeepsSamplesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	first, err := New(t.Context(), Options{Config: cfg, Dir: dir})
	require.NoError(t, err)
	require.NoError(t, first.Start(t.Context()))
	at := time.Now()
	app := first.TSDB().Appendable().Appender(t.Context())
	_, err = app.Append(0, labels.FromStrings("__name__", "estate_test_total"), at.UnixMilli(), 42)
	require.NoError(t, err)
	require.NoError(t, app.Commit())
	require.NoError(t, first.Shutdown(t.Context()))

	second := start(t, Options{Config: cfg, Dir: dir})
	v, err := second.TSDB().Querier().Query(t.Context(), `estate_test_total`, at)
	require.NoError(t, err)
	require.Equal(t, model.Vector{{Metric: model.Metric{"__name__": "estate_test_total"}, Value: 42, Timestamp: model.TimeFromUnixNano(at.UnixNano())}}, v)
}
