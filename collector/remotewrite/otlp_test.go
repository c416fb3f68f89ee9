package remotewrite_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/internal/promotlp/promotlptest"
	"github.com/estatehq/estate/collector/remotewrite"
	"github.com/estatehq/estate/internal/delivery"
)

func TestOTLPSinkSendsTheTranslatedSeries(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	exp, err := remotewrite.New(defaults(t, srv.URL), remotewrite.Options{Gatherer: testRegistry(), Registerer: reg})
	require.NoError(t, err)
	sink := exp.OTLPSink()
	require.Equal(t, "remote_write", sink.Name())

	ts := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	later := ts.Add(15 * time.Second)
	// The later request first: each series' samples go in time order.
	require.NoError(t, sink.Deliver(t.Context(), []collector.Item{
		promotlptest.Item(t, 1, promotlptest.Metrics(later, 2)),
		{Seq: 2, Signal: collector.SignalMetrics, Payload: []byte("not protobuf")},
		{Seq: 3, Signal: collector.SignalLogs},
		promotlptest.Item(t, 4, promotlptest.Metrics(ts, 1)),
	}))

	require.Len(t, rcv.reqs, 1, "one batch, one request")
	got := map[string][]prompb.Sample{}
	for _, s := range rcv.reqs[0].Timeseries {
		got[seriesString(s)] = s.Samples
	}
	at := func(v1, v2 float64) []prompb.Sample {
		return []prompb.Sample{{Value: v1, Timestamp: ts.UnixMilli()}, {Value: v2, Timestamp: later.UnixMilli()}}
	}
	const res = "instance=i-1,job=invoicing"
	want := map[string][]prompb.Sample{
		"__name__=queue_depth," + res:                                              at(3, 6),
		"__name__=invoices_sent_total,currency=EUR," + res:                         at(10, 20),
		"__name__=http_server_request_duration_seconds_bucket," + res + ",le=0.1":  at(2, 2),
		"__name__=http_server_request_duration_seconds_bucket," + res + ",le=0.5":  at(3, 3),
		"__name__=http_server_request_duration_seconds_bucket," + res + ",le=+Inf": at(4, 4),
		"__name__=http_server_request_duration_seconds_sum," + res:                 at(1.5, 1.5),
		"__name__=http_server_request_duration_seconds_count," + res:               at(4, 4),
		"__name__=target_info,deployment_environment=test," + res:                  at(1, 1),
	}
	require.Empty(t, cmp.Diff(want, got))
	families := map[string]prompb.MetricMetadata_MetricType{}
	for _, m := range rcv.reqs[0].Metadata {
		families[m.MetricFamilyName] = m.Type
	}
	require.Equal(t, map[string]prompb.MetricMetadata_MetricType{
		"queue_depth": prompb.MetricMetadata_GAUGE, "invoices_sent_total": prompb.MetricMetadata_COUNTER,
		"http_server_request_duration_seconds": prompb.MetricMetadata_HISTOGRAM, "target_info": prompb.MetricMetadata_GAUGE,
	}, families)

	require.Equal(t, 1.0, counterValue(t, reg, "estate_remote_write_otlp_dropped_total", "undecodable_record"))
	require.Equal(t, 2.0, counterValue(t, reg, "estate_remote_write_otlp_dropped_total", "untranslatable"), "the delta sum of each request")
	require.Equal(t, 16.0, counterValue(t, reg, "estate_remote_write_samples_total", ""))

	// A batch with nothing to send sends nothing.
	require.NoError(t, sink.Deliver(t.Context(), []collector.Item{{Seq: 5, Signal: collector.SignalTraces}}))
	require.Len(t, rcv.reqs, 1)
}

// counterValue is the value of the counter name in reg whose one label
// (or none) has value.
func counterValue(t *testing.T, reg *prometheus.Registry, name, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if ls := m.GetLabel(); len(ls) == 0 && value == "" || len(ls) == 1 && ls[0].GetValue() == value {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s with %q", name, value)
	return 0
}

func TestOTLPSinkErrors(t *testing.T) {
	tests := []struct {
		name      string
		statuses  []int
		wantCalls int
		permanent bool
	}{
		{"5xx is retried", []int{503}, 2, false},
		{"4xx is permanent", []int{400}, 1, true},
		{"handed back to the queue after max attempts", []int{500, 500, 500}, 3, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{statuses: tc.statuses}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			exp, err := remotewrite.New(defaults(t, srv.URL), remotewrite.Options{
				Gatherer: testRegistry(),
				Sleep:    func(context.Context, time.Duration) error { return nil },
			})
			require.NoError(t, err)
			err = exp.OTLPSink().Deliver(t.Context(), []collector.Item{promotlptest.Item(t, 1, promotlptest.Metrics(testNow, 1))})
			require.Equal(t, tc.wantCalls, rcv.calls)
			switch {
			case tc.permanent:
				require.True(t, delivery.IsPermanent(err), "%v", err)
			case len(tc.statuses) >= 3:
				require.Error(t, err)
				require.False(t, delivery.IsPermanent(err), "the queue retries it: %v", err)
			default:
				require.NoError(t, err)
				require.Len(t, rcv.reqs, 1)
			}
		})
	}
}

func TestOTLPSinkAfterShutdown(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	exp, err := remotewrite.New(defaults(t, srv.URL), remotewrite.Options{Gatherer: testRegistry()})
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context()))
	require.NoError(t, exp.Shutdown(t.Context()))
	err = exp.OTLPSink().Deliver(t.Context(), []collector.Item{promotlptest.Item(t, 1, promotlptest.Metrics(testNow, 1))})
	require.True(t, delivery.IsShutdown(err), "%v", err)
}

func TestOTLPSinkToRealPrometheus(t *testing.T) {
	base := startPrometheus(t)
	exp, err := remotewrite.New(defaults(t, base+"/api/v1/write"), remotewrite.Options{Gatherer: testRegistry()})
	require.NoError(t, err)
	sink := exp.OTLPSink()
	now := time.Now().Truncate(time.Millisecond)
	first := []collector.Item{promotlptest.Item(t, 1, promotlptest.Metrics(now.Add(-30*time.Second), 1))}
	require.NoError(t, sink.Deliver(t.Context(), first))
	require.NoError(t, sink.Deliver(t.Context(), []collector.Item{promotlptest.Item(t, 2, promotlptest.Metrics(now, 2))}))

	require.Equal(t, map[string]string{"": "6"}, query(t, base, `queue_depth{job="invoicing",instance="i-1"}`))
	require.Equal(t, map[string]string{"currency=EUR": "20"}, query(t, base, `invoices_sent_total`))
	require.Equal(t, map[string]string{"currency=EUR": "10"}, query(t, base, `invoices_sent_total - invoices_sent_total offset 30s`))
	require.Equal(t, map[string]string{"le=+Inf": "4", "le=0.1": "2", "le=0.5": "3"},
		query(t, base, `http_server_request_duration_seconds_bucket`))
	// Rank 2 of 4 is the last of the first bucket: 0.1.
	require.Equal(t, map[string]string{"": "0.1"}, query(t, base, `histogram_quantile(0.5, http_server_request_duration_seconds_bucket)`))
	require.Equal(t, map[string]string{"deployment_environment=test": "1"}, query(t, base, `target_info`))

	// A replay of a batch older than what Prometheus holds is refused for
	// good: remote_write 1.0 has no way to say "already stored".
	err = sink.Deliver(t.Context(), first)
	require.True(t, delivery.IsPermanent(err), "%v", err)
	require.Equal(t, map[string]string{"": "6"}, query(t, base, `queue_depth`))
}
