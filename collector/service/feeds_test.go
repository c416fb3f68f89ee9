package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/estatehq/estate/collector/internal/promotlp/promotlptest"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/testenv"
)

// metricsQuerier asks the collector's embedded metrics store.
func metricsQuerier(s *Service) promquery.Querier {
	return s.tsdb.Querier()
}

// gaugeRequest is an OTLP request of service svc with one gauge at now.
func gaugeRequest(t *testing.T, svc, name string, v float64) []byte {
	t.Helper()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", svc)
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName(name)
	p := m.SetEmptyGauge().DataPoints().AppendEmpty()
	p.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	p.SetDoubleValue(v)
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	require.NoError(t, err)
	return b
}

// waitQuery waits until expr, asked at now, has a series whose labels
// include want's (a subset) and whose value is value.
func waitQuery(t *testing.T, q promquery.Querier, expr string, want model.LabelSet, value float64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		v, err := q.Query(ctx, expr, time.Now())
		if err != nil {
			return err
		}
		vec, _ := v.(model.Vector)
		for _, s := range vec {
			match := float64(s.Value) == value
			for k, v := range want {
				match = match && s.Metric[k] == v
			}
			if match {
				return nil
			}
		}
		return fmt.Errorf("%s = %v, want %v at %v", expr, v, want, value)
	}))
}

// incidentBodies is an incident intake that keeps what it is sent.
type incidentBodies struct {
	mu     sync.Mutex
	bodies []string
}

func (i *incidentBodies) Alerts(_ context.Context, body []byte) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.bodies = append(i.bodies, string(body))
	return nil
}

func (i *incidentBodies) firing(alert string) bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, b := range i.bodies {
		if strings.Contains(b, `"status":"firing"`) && strings.Contains(b, `"alertname":"`+alert+`"`) {
			return true
		}
	}
	return false
}

// writeReceiver is a remote_write receiver that keeps the series names it
// is sent.
type writeReceiver struct {
	mu    sync.Mutex
	names map[string]bool
}

func (w *writeReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	raw, err := snappy.Decode(nil, body)
	var req prompb.WriteRequest
	if err == nil {
		err = req.Unmarshal(raw)
	}
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ts := range req.Timeseries {
		for _, l := range ts.Labels {
			if l.Name == model.MetricNameLabel {
				w.names[l.Value] = true
			}
		}
	}
	rw.WriteHeader(http.StatusNoContent)
}

func (w *writeReceiver) has(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.names[name]
}

// TestFeeds runs the collector with every feed of its metrics store: it
// scrapes itself (so its RED series are kept over time) and a configured
// target, keeps OTLP metrics and forwards them over remote_write, and
// evaluates a rule file whose alert reaches the incident intake.
func TestFeeds(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "# TYPE estate_test_static gauge\nestate_test_static 5")
	}))
	t.Cleanup(target.Close)
	rw := &writeReceiver{names: map[string]bool{}}
	rwSrv := httptest.NewServer(rw)
	t.Cleanup(rwSrv.Close)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yml")
	require.NoError(t, os.WriteFile(rulesFile, []byte(`groups:
- name: collector
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: CollectorScraped
    expr: up{job="collector"} == 1
    labels:
      service: collector
`), 0o600))

	cfg := testConfig(t)
	cfg.Collector.Scrape.Interval, cfg.Collector.Scrape.Timeout = 200*time.Millisecond, 200*time.Millisecond
	cfg.Collector.Scrape.Targets = []string{"static=" + strings.TrimPrefix(target.URL, "http://")}
	cfg.Collector.Rules.Files = []string{filepath.Join(dir, "*.yml")}
	cfg.Collector.Rules.Interval = 100 * time.Millisecond
	cfg.Collector.Rules.ReloadInterval = 0 // read at start and on SIGHUP
	cfg.RemoteWrite.URL = rwSrv.URL
	intake := &incidentBodies{}
	s := start(t, Options{Config: cfg, Dir: filepath.Join(dir, "collector"), Incidents: intake})
	c := client(t)
	q := metricsQuerier(s)

	b, err := tracesRequest("checkout", pcommon.TraceID{9, 9}, 3, false).MarshalProto()
	require.NoError(t, err)
	resp, _ := post(t, c, "http://"+s.OTLPHTTPAddr()+"/v1/traces", "application/x-protobuf", b, false)
	require.Equal(t, 200, resp.StatusCode)
	b, err = pmetricotlp.NewExportRequestFromMetrics(promotlptest.Metrics(time.Now(), 1)).MarshalProto()
	require.NoError(t, err)
	resp, _ = post(t, c, "http://"+s.OTLPHTTPAddr()+"/v1/metrics", "application/x-protobuf", b, false)
	require.Equal(t, 200, resp.StatusCode)

	api := model.LabelValue(strings.TrimPrefix(s.URL(), "http://"))
	waitQuery(t, q, "up", model.LabelSet{"job": "collector", "instance": api}, 1)
	waitQuery(t, q, "up", model.LabelSet{"job": "static"}, 1)
	waitQuery(t, q, "estate_test_static", model.LabelSet{"job": "static"}, 5)
	// The collector's RED series, scraped from its own /metrics.
	waitQuery(t, q, `sum(estate_red_requests_total{job="collector"})`, nil, 3)
	// OTLP metrics, through the queue: a gauge, a counter, a histogram.
	otlpJob := model.LabelSet{"job": "invoicing", "instance": "i-1"}
	waitQuery(t, q, "queue_depth", otlpJob, 3)
	waitQuery(t, q, "invoices_sent_total", model.LabelSet{"currency": "EUR"}, 10)
	waitQuery(t, q, "http_server_request_duration_seconds_count", otlpJob, 4)
	waitQuery(t, q, "histogram_quantile(0.5, http_server_request_duration_seconds_bucket)", nil, 0.1)
	waitQuery(t, q, "job:up:sum", model.LabelSet{"job": "static"}, 1) // a recording rule

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		if !intake.firing("CollectorScraped") {
			return fmt.Errorf("no firing alert at the intake")
		}
		if !rw.has("queue_depth") {
			return fmt.Errorf("OTLP metrics not forwarded over remote_write")
		}
		return nil
	}))

	// SIGHUP reads the rule files again.
	require.NoError(t, os.WriteFile(rulesFile, []byte(`groups:
- name: collector
  rules:
  - record: job:up:count
    expr: count by (job) (up)
`), 0o600))
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	waitQuery(t, q, "job:up:count", model.LabelSet{"job": "static"}, 1)
}

// TestScrapePastTheSeriesBound: when the metrics store holds its bound of
// series, a scrape that brings new ones keeps the series already stored and
// the target stays up; the refused series are counted.
func TestScrapePastTheSeriesBound(t *testing.T) {
	cfg := testConfig(t)
	cfg.Collector.Scrape.Interval = 200 * time.Millisecond
	cfg.Collector.Scrape.Timeout = 200 * time.Millisecond
	// The collector's own /metrics has hundreds of series: most are refused.
	cfg.Collector.TSDB.MaxSeries = 40
	s := start(t, Options{Config: cfg})
	q := metricsQuerier(s)
	waitQuery(t, q, `up{job="collector"}`, model.LabelSet{"job": "collector"}, 1)
	waitQuery(t, q, `count(up{job="collector"}) + count(scrape_samples_scraped{job="collector"})`, nil, 2)
	// The bound, plus the five report series (up, scrape_*) of the one
	// target, which are admitted past it so that a target stays visible.
	require.LessOrEqual(t, s.TSDB().HeadSeries(), uint64(40+5), "bounded")
	resp, err := client(t).Get(s.URL() + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NotContains(t, string(body), "estate_collector_tsdb_series_limit_refusals_total 0\n", "the refusals are counted")
	require.Contains(t, string(body), "estate_collector_tsdb_series_limit_refusals_total")
}
