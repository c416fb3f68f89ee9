package otlpmetrics_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/internal/promotlp"
	"github.com/estatehq/estate/collector/internal/promotlp/promotlptest"
	"github.com/estatehq/estate/collector/otlpmetrics"
	"github.com/estatehq/estate/internal/promquery"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fixture struct {
	sink *otlpmetrics.Sink
	reg  *prometheus.Registry
	q    promquery.Querier
}

func newFixture(t *testing.T, promote ...string) fixture {
	t.Helper()
	db := teststorage.New(t)
	reg := prometheus.NewRegistry()
	sink, err := otlpmetrics.New(otlpmetrics.Options{
		Translation: promotlp.Config{PromoteResourceAttributes: promote},
		Appendable:  db, Registerer: reg,
	})
	require.NoError(t, err)
	return fixture{sink: sink, reg: reg, q: promquery.NewEngine(promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery), db)}
}

// series renders expr at t: each series' labels but __name__, and its value.
func (f fixture) series(t *testing.T, expr string, at time.Time) map[string]string {
	t.Helper()
	v, err := f.q.Query(context.Background(), expr, at)
	require.NoError(t, err)
	vec, ok := v.(model.Vector)
	require.True(t, ok)
	out := map[string]string{}
	for _, s := range vec {
		m := s.Metric.Clone()
		delete(m, model.MetricNameLabel)
		out[m.String()] = s.Value.String()
	}
	return out
}

// counter reads one series of the sink's counters from its registry.
func (f fixture) counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func (f fixture) counts(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, o := range []string{"appended", "duplicate", "refused"} {
		out[o] = f.counter(t, "estate_collector_metrics_samples_total", "outcome", o)
	}
	return out
}

func TestDeliverStoresGaugeCounterAndHistogram(t *testing.T) {
	f := newFixture(t, "deployment.environment")
	ts := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	batch := []collector.Item{
		promotlptest.Item(t, 1, promotlptest.Metrics(ts, 1)),
		{Seq: 2, Signal: collector.SignalMetrics, Payload: []byte("not protobuf")},
		{Seq: 3, Signal: collector.SignalLogs, Payload: []byte("logs are another sink's")},
	}
	require.NoError(t, f.sink.Deliver(context.Background(), batch), "a bad item does not fail the batch")

	const res = `deployment_environment="test", instance="i-1", job="invoicing"`
	tests := []struct {
		expr string
		want map[string]string
	}{
		{"queue_depth", map[string]string{"{" + res + "}": "3"}},
		{"invoices_sent_total", map[string]string{`{currency="EUR", ` + res + "}": "10"}},
		{"http_server_request_duration_seconds_bucket", map[string]string{
			"{" + res + `, le="0.1"}`: "2", "{" + res + `, le="0.5"}`: "3", "{" + res + `, le="+Inf"}`: "4",
		}},
		{"http_server_request_duration_seconds_sum", map[string]string{"{" + res + "}": "1.5"}},
		{"http_server_request_duration_seconds_count", map[string]string{"{" + res + "}": "4"}},
		{`target_info`, map[string]string{`{deployment_environment="test", instance="i-1", job="invoicing"}`: "1"}},
		{"delta_things_total", map[string]string{}},
	}
	for _, tc := range tests {
		require.Empty(t, cmp.Diff(tc.want, f.series(t, tc.expr, ts)), tc.expr)
	}
	require.Equal(t, map[string]float64{"appended": promotlptest.Samples, "duplicate": 0, "refused": 0}, f.counts(t),
		"gauge 1, counter 1, histogram 3 buckets + sum + count, target_info 1")
	require.Equal(t, 1.0, f.counter(t, "estate_collector_metrics_dropped_total", "reason", "undecodable_record"))
	require.Equal(t, 1.0, f.counter(t, "estate_collector_metrics_dropped_total", "reason", "untranslatable"), "the delta sum")

	// A replay after a crash: the same batch, and a newer request after
	// it. The store takes an exact copy of a series' newest sample and
	// ignores it; a copy of an older one it refuses, as a duplicate.
	later := ts.Add(15 * time.Second)
	replay := append(slices.Clone(batch), promotlptest.Item(t, 4, promotlptest.Metrics(later, 2)))
	require.NoError(t, f.sink.Deliver(context.Background(), replay))
	require.Equal(t, map[string]float64{"appended": 3 * promotlptest.Samples, "duplicate": 0, "refused": 0}, f.counts(t))
	require.NoError(t, f.sink.Deliver(context.Background(), replay))
	require.Equal(t, map[string]float64{"appended": 4 * promotlptest.Samples, "duplicate": promotlptest.Samples, "refused": 0}, f.counts(t))
	require.Equal(t, map[string]string{"{" + res + "}": "2"}, f.series(t, "count_over_time(queue_depth[1m])", later),
		"each sample is stored once")
	require.Equal(t, map[string]string{`{currency="EUR", ` + res + "}": "20"}, f.series(t, "invoices_sent_total", later))
}

func TestDeliverCountsWhatTheStoreRefuses(t *testing.T) {
	f := newFixture(t)
	ts := time.Now().Truncate(time.Millisecond)
	require.NoError(t, f.sink.Deliver(context.Background(), []collector.Item{promotlptest.Item(t, 1, promotlptest.Metrics(ts, 1))}))
	// A new series (instance i-2) far before the head's window: the store
	// refuses it; a new series within it is kept.
	old := promotlptest.WithInstance(promotlptest.Metrics(ts.Add(-13*time.Hour), 1), "i-2")
	recent := promotlptest.WithInstance(promotlptest.Metrics(ts.Add(-time.Minute), 1), "i-3")
	require.NoError(t, f.sink.Deliver(context.Background(), []collector.Item{promotlptest.Item(t, 2, old), promotlptest.Item(t, 3, recent)}))
	got := f.counts(t)
	require.Equal(t, float64(promotlptest.Samples), got["refused"], "every sample of i-2")
	require.Equal(t, float64(2*promotlptest.Samples), got["appended"], "i-1, then i-3")
	require.Equal(t, map[string]string{`{instance="i-3", job="invoicing"}`: "3"}, f.series(t, `queue_depth{instance!="i-1"}`, ts))
}

func TestNew(t *testing.T) {
	_, err := otlpmetrics.New(otlpmetrics.Options{})
	require.ErrorContains(t, err, "Appendable is required")
	_, err = otlpmetrics.New(otlpmetrics.Options{
		Appendable:  teststorage.New(t),
		Translation: promotlp.Config{PromoteResourceAttributes: []string{"a", "a"}},
	})
	require.ErrorContains(t, err, `promote_resource_attributes[1]: "a" is listed twice`)
	s, err := otlpmetrics.New(otlpmetrics.Options{Appendable: teststorage.New(t)})
	require.NoError(t, err)
	require.Equal(t, "metrics", s.Name())
}
