package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/estatehq/estate/internal/testenv"
)

// TestSLOsFromPrometheus runs `estate collector` with its SLOs computed
// from a real Prometheus (--slo.prometheus-url) that scrapes the
// collector's RED series every second, posts invoicing's spans, and reads
// the example SLOs' budgets back from GET /v1/slos and /metrics.
func TestSLOsFromPrometheus(t *testing.T) {
	col := newCollector(t, "--slo.cache-ttl", "0s")
	prom := startPrometheus(t, strings.TrimPrefix(col.API, "http://"))
	col.args = append(col.args, "--slo.prometheus-url", prom.url)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	require.NoError(t, col.start(ctx))

	// Ten requests to invoicing: one fails, two take 400 ms.
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "invoicing")
	ss := rs.ScopeSpans().AppendEmpty()
	start := time.Now().Add(-time.Second)
	for i := range 10 {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0x51, byte(i), 1})
		s.SetSpanID(pcommon.SpanID{0x0a, byte(i), 1})
		s.SetKind(ptrace.SpanKindServer)
		s.SetName("GET /v1/invoices")
		s.Attributes().PutStr("http.request.method", "GET")
		s.Attributes().PutStr("http.route", "/v1/invoices")
		status, took := int64(200), 20*time.Millisecond
		if i == 0 {
			status = 503
		}
		if i >= 8 {
			took = 400 * time.Millisecond
		}
		s.Attributes().PutInt("http.response.status_code", status)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(took)))
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	post(t, col.OTLPHTTP+"/v1/traces", "application/x-protobuf", body)

	type status struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Events struct {
			Total, Good, Bad float64
		} `json:"events"`
		ErrorBudget struct {
			AllowedEvents  float64 `json:"allowed_events"`
			RemainingRatio float64 `json:"remaining_ratio"`
		} `json:"error_budget"`
	}
	var got map[string]status
	require.NoError(t, testenv.WaitFor(ctx, 500*time.Millisecond, func() error {
		b, err := getBody(ctx, col.API+"/v1/slos")
		if err != nil {
			return err
		}
		var res struct{ SLOs []status }
		if err := json.Unmarshal([]byte(b), &res); err != nil {
			return err
		}
		got = map[string]status{}
		for _, s := range res.SLOs {
			got[s.Name] = s
		}
		if got["invoicing-availability"].Events.Total != 10 {
			return fmt.Errorf("invoicing's events not counted yet: %s", b)
		}
		return nil
	}))
	// The series are born in the window: their first samples count in
	// full. One error in ten against 99.9% spends the budget of 0.01
	// events a hundred times; two slow in ten against 99% twenty times.
	avail, lat := got["invoicing-availability"], got["invoicing-latency"]
	require.Equal(t, "exhausted", avail.State)
	require.Equal(t, 1.0, avail.Events.Bad)
	require.InDelta(t, 0.01, avail.ErrorBudget.AllowedEvents, 1e-12)
	require.Equal(t, "exhausted", lat.State)
	require.Equal(t, 10.0, lat.Events.Total)
	require.Equal(t, 2.0, lat.Events.Bad)
	require.Equal(t, "no_data", got["credit-availability"].State)
	require.Equal(t, "no_data", got["credit-latency"].State)

	metrics, err := getBody(ctx, col.API+"/metrics")
	require.NoError(t, err)
	require.Contains(t, metrics, `estate_slo_window_events{service="invoicing",slo="invoicing-availability"} 10`)
	require.Contains(t, metrics, `estate_slo_state{service="invoicing",slo="invoicing-latency",state="exhausted"} 1`)
	require.Contains(t, metrics, "estate_slo_evaluation_failures_total 0")
}
