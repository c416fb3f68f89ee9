package service

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/problem/problemtest"
	"github.com/estatehq/estate/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	goleak.VerifyTestMain(m)
}

// testConfig is the default configuration on loopback with free ports.
func testConfig(t testing.TB) Config {
	t.Helper()
	var c Config
	fs := newFlagSet()
	c.RegisterFlags(fs)
	require.NoError(t, fs.Parse(nil))
	c.Collector.ListenAddr, c.Collector.OTLP.GRPCListenAddr, c.Collector.OTLP.HTTPListenAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	return c
}

func start(t *testing.T, opts Options) *Service {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := New(context.Background(), opts)
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
	})
	return s
}

func client(t *testing.T) *http.Client {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func logsRequest(service string, bodies ...string) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	now := pcommon.NewTimestampFromTime(time.Now())
	for _, b := range bodies {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.Body().SetStr(b)
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

func tracesRequest(service string, traceID pcommon.TraceID, spans int, withInvalid bool) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	start := time.Now().Add(-time.Second)
	for i := range spans {
		sp := ss.AppendEmpty()
		sp.SetTraceID(traceID)
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 1})
		}
		sp.SetName(fmt.Sprintf("op-%d", i))
		sp.SetKind(ptrace.SpanKindServer)
		sp.Attributes().PutStr("http.route", "/invoices/{id}")
		sp.Attributes().PutInt("http.response.status_code", 200)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(300 * time.Millisecond)))
	}
	if withInvalid {
		ss.AppendEmpty().SetName("no ids")
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

// reply is what post read of a response; the body is already closed.
type reply struct {
	StatusCode int
	Header     http.Header
}

func post(t *testing.T, c *http.Client, url, contentType string, body []byte, gz bool) (*reply, []byte) {
	t.Helper()
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		require.NoError(t, zw.Close())
		body = buf.Bytes()
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &reply{StatusCode: resp.StatusCode, Header: resp.Header}, b
}

func getJSON(t *testing.T, c *http.Client, url string, v any) int {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

// waitLogs polls the query API until want log records of service are
// stored.
func waitLogs(t *testing.T, c *http.Client, base, service string, want int) []collector.LogRecord {
	t.Helper()
	var got struct{ Logs []collector.LogRecord }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		got.Logs = nil
		getJSON(t, c, fmt.Sprintf("%s/v1/logs?service=%s&limit=10000", base, service), &got)
		if len(got.Logs) < want {
			return fmt.Errorf("%d of %d log records stored", len(got.Logs), want)
		}
		return nil
	})
	require.NoError(t, err)
	return got.Logs
}

func TestIngestHTTPAndQuery(t *testing.T) {
	s := start(t, Options{Config: testConfig(t)})
	c := client(t)
	otlpURL := "http://" + s.OTLPHTTPAddr()

	tests := []struct {
		name        string
		contentType string
		gzip        bool
		body        func() []byte
		path        string
		wantCode    int
		wantBody    string
	}{
		{"logs protobuf", "application/x-protobuf", false, func() []byte {
			b, _ := logsRequest("inv", "proto-1", "proto-2").MarshalProto()
			return b
		}, "/v1/logs", 200, ""},
		{"logs json gzip", "application/json", true, func() []byte {
			b, _ := logsRequest("inv", "json-1").MarshalJSON()
			return b
		}, "/v1/logs", 200, `{"partialSuccess":{}}`},
		{"traces json with an invalid span", "application/json", false, func() []byte {
			b, _ := tracesRequest("inv", pcommon.TraceID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 1}, 3, true).MarshalJSON()
			return b
		}, "/v1/traces", 200, `{"partialSuccess":{"rejectedSpans":"1","errorMessage":"spans with an empty trace_id or span_id are invalid and were dropped"}}`},
		{"metrics protobuf", "application/x-protobuf", false, func() []byte {
			md := pmetric.NewMetrics()
			m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("x")
			m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
			b, _ := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
			return b
		}, "/v1/metrics", 200, ""},
		{"bad json", "application/json", false, func() []byte { return []byte(`{"resourceLogs":[{`) }, "/v1/logs", 400, ""},
		{"bad media type", "text/plain", false, func() []byte { return []byte(`x`) }, "/v1/logs", 415, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, c, otlpURL+tt.path, tt.contentType, tt.body(), tt.gzip)
			require.Equal(t, tt.wantCode, resp.StatusCode, string(body))
			if tt.wantBody != "" {
				require.JSONEq(t, tt.wantBody, string(body))
			}
		})
	}

	logs := waitLogs(t, c, s.URL(), "inv", 3)
	var bodies []string
	for _, l := range logs {
		bodies = append(bodies, l.Body)
	}
	require.ElementsMatch(t, []string{"proto-1", "proto-2", "json-1"}, bodies)

	var trace struct {
		TraceID string
		Spans   []collector.Span
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		if code := getJSON(t, c, s.URL()+"/v1/traces/09090909090909090909090909090901", &trace); code != 200 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	}))
	require.Len(t, trace.Spans, 3)

	var list struct{ Traces []collector.TraceSummary }
	require.Equal(t, 200, getJSON(t, c, s.URL()+"/v1/traces?service=inv&min_duration=200ms", &list))
	require.Len(t, list.Traces, 1)
	require.Equal(t, "op-0", list.Traces[0].RootName)
	require.Equal(t, 200, getJSON(t, c, s.URL()+"/v1/traces?service=inv&min_duration=2s", &list))
	require.Empty(t, list.Traces)

	var prob struct {
		Status int
		Errors []struct{ Location string }
	}
	require.Equal(t, 400, getJSON(t, c, s.URL()+"/v1/traces?min_duration=soon", &prob))
	require.Equal(t, "query.min_duration", prob.Errors[0].Location)
	require.Equal(t, 400, getJSON(t, c, s.URL()+"/v1/traces/xyz", &prob))
	require.Equal(t, 404, getJSON(t, c, s.URL()+"/v1/traces/0909090909090909090909090909090f", &prob))

	// The RED rollup is a consumer of its own, which may lag the store's.
	const red = `estate_red_requests_total{route="/invoices/{id}",service="inv",status_class="2xx",version=""} 3`
	var metrics []byte
	require.NoError(t, testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		resp, err := c.Get(s.URL() + "/metrics")
		if err != nil {
			return err
		}
		metrics, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(metrics), red) {
			return fmt.Errorf("no %s yet", red)
		}
		return nil
	}))
	for _, name := range []string{
		red,
		"estate_collector_queue_bytes", "estate_collector_queue_fsync_duration_seconds_bucket",
		`estate_collector_ingest_items_total{outcome="rejected",signal="traces",transport="http"} 1`,
		"estate_collector_export_records_total", "estate_collector_memory_inflight_bytes",
	} {
		require.Contains(t, string(metrics), name)
	}
	rows, err := s.RED().REDMinutes(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, int64(3), rows[0].Requests)
}

func TestIngestGRPC(t *testing.T) {
	s := start(t, Options{Config: testConfig(t)})
	conn, err := grpc.NewClient(s.OTLPGRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, logsRequest("grpcsvc", "g-1", "g-2"))
	require.NoError(t, err)
	resp, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, tracesRequest("grpcsvc", pcommon.TraceID{1, 1}, 2, true))
	require.NoError(t, err)
	require.Equal(t, int64(1), resp.PartialSuccess().RejectedSpans())
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequest())
	require.NoError(t, err)
	waitLogs(t, client(t), s.URL(), "grpcsvc", 2)
}

func TestMountedRoutes(t *testing.T) {
	s := start(t, Options{Config: testConfig(t), Routes: func(r chi.Router) error {
		r.Get("/v1/events/ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("pong")) })
		return nil
	}})
	resp, err := client(t).Get(s.URL() + "/v1/events/ping")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "pong", string(b))
}

// gate is a sink that refuses (retryably) while closed.
// gate holds every sink's deliveries until open is closed.
type gate struct {
	open chan struct{}
}

func (g *gate) wrap(s collector.Sink) collector.Sink { return &gated{Sink: s, open: g.open} }

type gated struct {
	collector.Sink
	open chan struct{}
}

func (g *gated) Deliver(ctx context.Context, items []collector.Item) error {
	select {
	case <-g.open:
		return g.Sink.Deliver(ctx, items)
	default:
		return delivery.Throttle(fmt.Errorf("sink stopped"), 20*time.Millisecond)
	}
}

func TestBackpressure(t *testing.T) {
	cfg := testConfig(t)
	cfg.Collector.Queue.MaxBytes = 2 << 20
	cfg.Collector.Queue.SegmentBytes = 256 << 10
	cfg.Collector.OTLP.MaxRequestBytes = 256 << 10
	g := &gate{open: make(chan struct{})}
	s := start(t, Options{Config: cfg, WrapSink: g.wrap})
	c := client(t)
	url := "http://" + s.OTLPHTTPAddr() + "/v1/logs"
	body := strings.Repeat("x", 180)

	accepted := 0
	var refused *reply
	for i := 0; refused == nil && i < 10000; i++ {
		bodies := make([]string, 100)
		for j := range bodies {
			bodies[j] = fmt.Sprintf("bp-%06d-%s", accepted+j, body)
		}
		b, _ := logsRequest("bp", bodies...).MarshalProto()
		resp, _ := post(t, c, url, "application/x-protobuf", b, false)
		switch resp.StatusCode {
		case 200:
			accepted += 100
		case 429:
			refused = resp
		default:
			t.Fatalf("unexpected status %d", resp.StatusCode)
		}
	}
	require.NotNil(t, refused, "the queue never filled")
	require.Equal(t, "1", refused.Header.Get("Retry-After"))
	require.LessOrEqual(t, s.queue.Bytes(), cfg.Collector.Queue.MaxBytes)
	require.Greater(t, s.queue.Bytes(), cfg.Collector.Queue.MaxBytes*3/4, "refused only when nearly full")
	rss := readRSS(t, os.Getpid())
	t.Logf("queue %d bytes, %d records accepted, RSS %d MiB", s.queue.Bytes(), accepted, rss>>20)
	require.Less(t, rss, int64(256<<20), "RSS within budget")

	close(g.open)
	logs := waitLogs(t, c, s.URL(), "bp", accepted)
	require.Len(t, logs, accepted)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 20*time.Millisecond, func() error {
		if lag := s.queue.Lag()["local"]; lag != 0 {
			return fmt.Errorf("lag %d", lag)
		}
		return nil
	}))
	b, _ := logsRequest("bp", "after").MarshalProto()
	resp, _ := post(t, c, url, "application/x-protobuf", b, false)
	require.Equal(t, 200, resp.StatusCode, "accepting again once drained")
}

// readRSS is the resident set of a process, from /proc.
func readRSS(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "status"))
	require.NoError(t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d", &kb); err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

func TestMemoryLimiterRefuses(t *testing.T) {
	cfg := testConfig(t)
	cfg.Collector.Memory.MaxInflightBytes = 1
	s := start(t, Options{Config: cfg})
	// Hold the limiter with a request whose body never finishes.
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, "http://"+s.OTLPHTTPAddr()+"/v1/logs", pr)
	require.NoError(t, err)
	req.ContentLength = 1 << 10
	req.Header.Set("Content-Type", "application/x-protobuf")
	c := client(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
	}()
	_, _ = pw.Write([]byte{0x0a})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var code int
	var retry string
	require.NoError(t, testenv.WaitFor(ctx, 10*time.Millisecond, func() error {
		b, _ := logsRequest("m", "x").MarshalProto()
		resp, _ := post(t, c, "http://"+s.OTLPHTTPAddr()+"/v1/logs", "application/x-protobuf", b, false)
		code, retry = resp.StatusCode, resp.Header.Get("Retry-After")
		if code != 429 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	}))
	require.Equal(t, "1", retry)

	conn, err := grpc.NewClient(s.OTLPGRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	_, err = plogotlp.NewGRPCClient(conn).Export(context.Background(), logsRequest("m", "x"))
	require.Equal(t, codes.ResourceExhausted, status.Code(err))
	require.NotEmpty(t, status.Convert(err).Details(), "RetryInfo tells the client to retry")
	pw.CloseWithError(io.ErrUnexpectedEOF)
	<-done
}

func TestUnroutedAnswersProblems(t *testing.T) {
	s := start(t, Options{Config: testConfig(t)})
	problemtest.RequireUnrouted(t, s.router,
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/nowhere"},
		problemtest.Unrouted{Method: http.MethodPost, Path: "/v1/logs", Allow: "GET"},
		problemtest.Unrouted{Method: http.MethodDelete, Path: "/v1/traces/5b8efff798038103d269b633813fc60c", Allow: "GET"},
		problemtest.Unrouted{Method: http.MethodPut, Path: "/api/v1/query", Allow: "GET, POST"},
	)
}
