package service

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestREDErrorRatioReadsZeroOnAHealthyService: after only successful
// requests, the RED error series is in the embedded metrics store at 0,
// and the error ratio that dashboards and SLO alerts divide reads 0, not
// no data. The series carry the version of the spans' resource.
func TestREDErrorRatioReadsZeroOnAHealthyService(t *testing.T) {
	cfg := testConfig(t)
	cfg.Collector.Scrape.Interval, cfg.Collector.Scrape.Timeout = 200*time.Millisecond, 200*time.Millisecond
	s := start(t, Options{Config: cfg})
	req := tracesRequest("checkout", pcommon.TraceID{7, 7}, 3, false)
	req.Traces().ResourceSpans().At(0).Resource().Attributes().PutStr("service.version", "2.1.0")
	b, err := req.MarshalProto()
	require.NoError(t, err)
	resp, _ := post(t, client(t), "http://"+s.OTLPHTTPAddr()+"/v1/traces", "application/x-protobuf", b, false)
	require.Equal(t, 200, resp.StatusCode)

	q := metricsQuerier(s)
	series := model.LabelSet{"service": "checkout", "route": "/invoices/{id}", "status_class": "2xx", "version": "2.1.0"}
	waitQuery(t, q, `estate_red_requests_total{job="collector"}`, series, 3)
	waitQuery(t, q, `estate_red_errors_total{job="collector"}`, series, 0)
	waitQuery(t, q, `sum by (service) (rate(estate_red_errors_total{job="collector"}[1m]))
		/ sum by (service) (rate(estate_red_requests_total{job="collector"}[1m]))`, model.LabelSet{"service": "checkout"}, 0)
}
