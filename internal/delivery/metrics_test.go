package delivery_test

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/delivery"
)

func TestNewMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	extra := prometheus.NewCounter(prometheus.CounterOpts{Name: "estate_test_exporter_extra_total", Help: "Extra."})
	m, err := delivery.NewMetrics(reg, delivery.MetricsOpts{
		Subsystem: "test_exporter", ItemsName: "items_total", ItemsHelp: "Items.",
		ItemLabels: []string{"signal", "outcome"}, Preset: [][]string{{"logs", "accepted"}, {"logs", "failed"}},
		RetriesName: "retry_rounds_total", Extra: []prometheus.Collector{extra},
	})
	require.NoError(t, err)
	m.Requests.WithLabelValues("OK").Inc()
	m.Duration.Observe(0.1)
	m.Retries.Inc()

	mfs, err := reg.Gather()
	require.NoError(t, err)
	series := map[string]int{}
	for _, mf := range mfs {
		series[mf.GetName()] = len(mf.GetMetric())
	}
	require.Empty(t, cmp.Diff(map[string]int{
		"estate_test_exporter_items_total":              2, // preset, at zero
		"estate_test_exporter_requests_total":           1,
		"estate_test_exporter_request_duration_seconds": 1,
		"estate_test_exporter_retry_rounds_total":       1,
		"estate_test_exporter_extra_total":              1,
	}, series))
	for _, mf := range mfs {
		if mf.GetName() == "estate_test_exporter_request_duration_seconds" {
			b := mf.GetMetric()[0].GetHistogram().GetBucket()
			require.Len(t, b, 14)
			require.InDelta(t, 0.001, b[0].GetUpperBound(), 1e-12)
			require.True(t, sort.SliceIsSorted(b, func(i, j int) bool { return b[i].GetUpperBound() < b[j].GetUpperBound() }))
		}
	}

	_, err = delivery.NewMetrics(reg, delivery.MetricsOpts{Subsystem: "test_exporter", ItemsName: "items_total", ItemsHelp: "Items."})
	require.ErrorContains(t, err, "registering test_exporter metrics")
}
