package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/estatehq/estate/internal/promquery/promquerytest"
	"github.com/estatehq/estate/internal/testenv"
)

// TestPrometheusScrapesCollector has a real Prometheus scrape `estate
// collector` every second and reads the RED rollups of posted spans and the
// DORA series of posted events back through its HTTP API.
func TestPrometheusScrapesCollector(t *testing.T) {
	col := newCollector(t, "--events.metrics-ttl", "1s")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	require.NoError(t, col.start(ctx))

	// Spans: three 200s and one 503 of GET /v1/invoices, a 201 of POST.
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	start := time.Now().Add(-time.Second)
	for i, sp := range []struct {
		method string
		status int64
	}{{"GET", 200}, {"GET", 200}, {"GET", 200}, {"GET", 503}, {"POST", 201}} {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0xab, byte(i), 1})
		s.SetSpanID(pcommon.SpanID{0xcd, byte(i), 1})
		s.SetKind(ptrace.SpanKindServer)
		s.SetName(sp.method + " /v1/invoices")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(20 * time.Millisecond)))
		s.Attributes().PutStr("http.request.method", sp.method)
		s.Attributes().PutStr("http.route", "/v1/invoices")
		s.Attributes().PutInt("http.response.status_code", sp.status)
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	post(t, col.OTLPHTTP+"/v1/traces", "application/x-protobuf", body)

	// Events: the reliability events of the DORA example, as one batch.
	lines, err := os.ReadFile(filepath.Join("..", "metrics", "testdata", "issue_example.jsonl"))
	require.NoError(t, err)
	var batch []json.RawMessage
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		batch = append(batch, json.RawMessage(l))
	}
	events, err := json.Marshal(batch)
	require.NoError(t, err)
	post(t, col.API+"/v1/events", "application/cloudevents-batch+json", events)

	prom := startPrometheus(t, strings.TrimPrefix(col.API, "http://"))

	// What the example holds: 14 deployments started, 12 succeeded, 1
	// failed; 4 incidents, one of them opened by a chaos experiment.
	for _, c := range []struct {
		query string
		want  float64
	}{
		{`up{job="estate-collector"}`, 1},
		{`sum(estate_red_requests_total{service="checkout",route="GET /v1/invoices"})`, 4},
		{`estate_red_requests_total{service="checkout",route="GET /v1/invoices",status_class="2xx"}`, 3},
		{`estate_red_requests_total{service="checkout",route="POST /v1/invoices",status_class="2xx"}`, 1},
		{`sum(estate_red_errors_total{service="checkout",route="GET /v1/invoices"})`, 1},
		{`sum(estate_red_request_duration_seconds_count{service="checkout"})`, 5},
		{`estate_deployments_total{service="invoicing",environment="production"}`, 12},
		{`estate_deployments_failed_total{service="invoicing",environment="production"}`, 1},
		{`estate_incidents_total{service="invoicing",environment="production"}`, 3},
		{`estate_chaos_incidents_total{service="invoicing",environment="production"}`, 1},
	} {
		t.Run(c.query, func(t *testing.T) {
			var got float64
			err := testenv.WaitFor(ctx, 250*time.Millisecond, func() error {
				v, err := prom.query(ctx, c.query)
				if err != nil {
					return err
				}
				got = v
				if v != c.want {
					return fmt.Errorf("%s = %v, want %v", c.query, v, c.want)
				}
				return nil
			})
			require.NoError(t, err, "last value %v", got)
		})
	}
}

func post(t *testing.T, url, contentType string, body []byte) {
	t.Helper()
	res, err := http.Post(url, contentType, bytes.NewReader(body))
	require.NoError(t, err)
	var msg bytes.Buffer
	_, _ = msg.ReadFrom(res.Body)
	_ = res.Body.Close()
	require.Less(t, res.StatusCode, 300, "POST %s: %s: %s", url, res.Status, msg.String())
}

type prometheusProc struct{ url string }

// startPrometheus runs a real Prometheus that scrapes target's /metrics
// every second, with its storage in a temporary folder.
func startPrometheus(t *testing.T, target string) *prometheusProc {
	t.Helper()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: estate-collector
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: [%q]
`, target)
	return &prometheusProc{url: promquerytest.StartPrometheus(t, promquerytest.PrometheusOptions{Config: cfg})}
}

// query runs an instant query that must return one sample.
func (p *prometheusProc) query(ctx context.Context, q string) (float64, error) {
	body, err := getBody(ctx, p.url+"/api/v1/query?query="+url.QueryEscape(q))
	if err != nil {
		return 0, err
	}
	var res struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return 0, fmt.Errorf("decoding query result: %w", err)
	}
	if res.Status != "success" || len(res.Data.Result) != 1 {
		return 0, fmt.Errorf("%s: want one sample, got %s", q, body)
	}
	s, ok := res.Data.Result[0].Value[1].(string)
	if !ok {
		return 0, fmt.Errorf("%s: sample value is not a string: %s", q, body)
	}
	return strconv.ParseFloat(s, 64)
}
