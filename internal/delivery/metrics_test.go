package delivery_test

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/delivery"
)

func TestNewMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	extra := delivery.Counter("test_exporter", "extra_total", "Extra.")
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

func TestMetricsObserveAndAccepted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := delivery.NewMetrics(reg, delivery.MetricsOpts{
		Subsystem: "test_exporter", ItemsName: "items_total", ItemsHelp: "Items.", ItemLabels: []string{"signal", "outcome"},
	})
	require.NoError(t, err)
	m.Observe(time.Now(), "Unavailable")
	m.Observe(time.Now(), "OK")
	m.Accepted(5, 2, "logs")
	m.Accepted(3, 9, "logs") // a server claiming more than it was sent
	m.Accepted(4, -1, "traces")

	got := map[string]float64{}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			key := mf.GetName() // then the label values, by label name
			for _, lp := range metric.GetLabel() {
				key += "," + lp.GetValue()
			}
			switch {
			case metric.GetCounter() != nil:
				got[key] = metric.GetCounter().GetValue()
			case metric.GetHistogram() != nil:
				got[key] = float64(metric.GetHistogram().GetSampleCount())
			}
		}
	}
	require.Empty(t, cmp.Diff(map[string]float64{
		"estate_test_exporter_requests_total,OK":           1,
		"estate_test_exporter_requests_total,Unavailable":  1,
		"estate_test_exporter_request_duration_seconds":    2,
		"estate_test_exporter_retries_total":               0,
		"estate_test_exporter_items_total,accepted,logs":   3,
		"estate_test_exporter_items_total,rejected,logs":   5,
		"estate_test_exporter_items_total,accepted,traces": 4,
		"estate_test_exporter_items_total,rejected,traces": 0,
	}, got))
}

func TestTelemetryDefaults(t *testing.T) {
	d := delivery.Telemetry{}.Defaults()
	require.NotNil(t, d.Logger)
	require.NotNil(t, d.Registerer)
	require.WithinDuration(t, time.Now(), d.Now(), time.Minute)

	reg := prometheus.NewRegistry()
	now := func() time.Time { return testNow }
	set := delivery.Telemetry{Registerer: reg, Now: now}.Defaults()
	require.Same(t, reg, set.Registerer, "what is set is kept")
	require.Equal(t, testNow, set.Now())
}
