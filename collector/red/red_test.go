package red

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func span(kind ptrace.SpanKind, name string, attrs map[string]any, status ptrace.StatusCode) ptrace.Span {
	s := ptrace.NewSpan()
	s.SetKind(kind)
	s.SetName(name)
	_ = s.Attributes().FromRaw(attrs)
	s.Status().SetCode(status)
	start := time.Date(2026, 1, 1, 10, 0, 59, 0, time.UTC)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(1500 * time.Millisecond)))
	return s
}

func TestFromSpan(t *testing.T) {
	minute := time.Date(2026, 1, 1, 10, 1, 0, 0, time.UTC)
	end := minute.Add(500 * time.Millisecond)
	obs := func(route, class string, isErr bool) collector.REDObservation {
		return collector.REDObservation{Key: collector.REDKey{Service: "inv", Route: route, StatusClass: class, Version: "1.4.0"},
			Minute: minute, End: end, Duration: 1500 * time.Millisecond, Error: isErr}
	}
	res := pcommon.NewResource()
	res.Attributes().PutStr("service.name", "inv")
	res.Attributes().PutStr("service.version", "1.4.0")
	tests := []struct {
		name string
		span ptrace.Span
		want collector.REDObservation
		ok   bool
	}{
		{"client spans do not count", span(ptrace.SpanKindClient, "GET", nil, 0), collector.REDObservation{}, false},
		{"http route and status", span(ptrace.SpanKindServer, "GET /invoices/{id}", map[string]any{
			"http.route": "/invoices/{id}", "http.request.method": "GET", "http.response.status_code": 503}, 0),
			obs("GET /invoices/{id}", "5xx", true), true},
		{"old semconv", span(ptrace.SpanKindServer, "x", map[string]any{"http.status_code": "404"}, 0),
			obs("x", "4xx", false), true},
		{"rpc", span(ptrace.SpanKindServer, "x", map[string]any{"rpc.service": "credit.v1.Credit", "rpc.method": "Apply"}, ptrace.StatusCodeError),
			obs("credit.v1.Credit/Apply", "error", true), true},
		{"consumer, ok", span(ptrace.SpanKindConsumer, "invoice.sent process", nil, ptrace.StatusCodeOk),
			obs("invoice.sent process", "ok", false), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := FromSpan(res, tt.span)
			require.Equal(t, tt.ok, ok)
			require.Empty(t, cmp.Diff(tt.want, got))
		})
	}
}

func newConsumer(t *testing.T, maxSeries int) (*Consumer, *sqlite.Store, *prometheus.Registry) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "store.db")})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Shutdown(context.Background())) })
	reg := prometheus.NewRegistry()
	c, err := New(Options{Config: Config{MaxSeries: maxSeries}, Store: store, Registerer: reg})
	require.NoError(t, err)
	return c, store, reg
}

func TestAdmitBoundsSeries(t *testing.T) {
	r, _, _ := newConsumer(t, 2)
	a := collector.REDKey{Service: "s", Route: "a", StatusClass: "2xx"}
	b := collector.REDKey{Service: "s", Route: "b", StatusClass: "2xx"}
	c := collector.REDKey{Service: "s", Route: "c", StatusClass: "5xx"}
	require.Equal(t, a, r.Admit(a))
	require.Equal(t, b, r.Admit(b))
	require.Equal(t, collector.REDKey{Service: collector.REDOverflow, Route: collector.REDOverflow, StatusClass: "5xx", Version: collector.REDOverflow}, r.Admit(c))
	require.Equal(t, a, r.Admit(a), "known series stay")
	aNext := a
	aNext.Version = "1.5.0"
	require.Equal(t, collector.REDKey{Service: collector.REDOverflow, Route: collector.REDOverflow, StatusClass: "2xx", Version: collector.REDOverflow}, r.Admit(aNext),
		"another version of a known series is a series of its own")
}

// TestFromSpanResource: the service and version come from the span's
// resource, each "unknown_service" and "" when absent.
func TestFromSpanResource(t *testing.T) {
	sp := span(ptrace.SpanKindServer, "GET /x", nil, 0)
	for _, tc := range []struct {
		name    string
		attrs   map[string]any
		service string
		version string
	}{
		{"name and version", map[string]any{"service.name": "inv", "service.version": "1.4.0"}, "inv", "1.4.0"},
		{"no version", map[string]any{"service.name": "inv"}, "inv", ""},
		{"empty version", map[string]any{"service.name": "inv", "service.version": ""}, "inv", ""},
		{"nothing", nil, collector.UnknownService, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := pcommon.NewResource()
			require.NoError(t, res.Attributes().FromRaw(tc.attrs))
			o, ok := FromSpan(res, sp)
			require.True(t, ok)
			require.Equal(t, tc.service, o.Key.Service)
			require.Equal(t, tc.version, o.Key.Version)
		})
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tracesItem is a queue item of one trace of service: a server span per
// status code, plus one client span that RED must not count.
func tracesItem(t *testing.T, seq uint64, service string, trace byte, codes ...int) collector.Item {
	t.Helper()
	return versionedTracesItem(t, seq, service, "", trace, codes...)
}

// versionedTracesItem is tracesItem of a version of service: its
// resource's service.version, none when version is "".
func versionedTracesItem(t *testing.T, seq uint64, service, version string, trace byte, codes ...int) collector.Item {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	if version != "" {
		rs.Resource().Attributes().PutStr("service.version", version)
	}
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i, code := range append(codes, 0) {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{trace})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		sp.SetName("GET /v1/invoices")
		sp.SetKind(ptrace.SpanKindServer)
		if code == 0 {
			sp.SetKind(ptrace.SpanKindClient)
		} else {
			sp.Attributes().PutInt("http.response.status_code", int64(code))
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(20 * time.Millisecond)))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return collector.Item{Seq: seq, Time: t0, Signal: collector.SignalTraces, Payload: b}
}

func TestDeliverRollsUpOnce(t *testing.T) {
	c, store, reg := newConsumer(t, 100)
	ctx := context.Background()
	batch := []collector.Item{
		tracesItem(t, 1, "invoicing", 1, 200, 201),
		{Seq: 2, Time: t0, Signal: collector.SignalLogs, Payload: []byte("not a trace: skipped")},
		{Seq: 3, Time: t0, Signal: collector.SignalTraces, Payload: []byte{0xff, 0xff}},
		tracesItem(t, 4, "credit", 2, 503),
		versionedTracesItem(t, 5, "invoicing", "1.4.0", 3, 200),
		versionedTracesItem(t, 6, "invoicing", "1.5.0", 4, 500, 200),
	}
	require.NoError(t, c.Deliver(ctx, batch))
	require.NoError(t, c.Deliver(ctx, batch), "a replay after a crash")

	rows, err := store.REDMinutes(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	want := []collector.REDMinute{
		{Minute: t0, Key: collector.REDKey{Service: "credit", Route: "GET /v1/invoices", StatusClass: "5xx"}, Requests: 1, Errors: 1},
		{Minute: t0, Key: collector.REDKey{Service: "invoicing", Route: "GET /v1/invoices", StatusClass: "2xx"}, Requests: 2},
		{Minute: t0, Key: collector.REDKey{Service: "invoicing", Route: "GET /v1/invoices", StatusClass: "2xx", Version: "1.4.0"}, Requests: 1},
		{Minute: t0, Key: collector.REDKey{Service: "invoicing", Route: "GET /v1/invoices", StatusClass: "2xx", Version: "1.5.0"}, Requests: 1},
		{Minute: t0, Key: collector.REDKey{Service: "invoicing", Route: "GET /v1/invoices", StatusClass: "5xx", Version: "1.5.0"}, Requests: 1, Errors: 1},
	}
	require.Empty(t, cmp.Diff(want, rows, cmpopts.IgnoreFields(collector.REDMinute{}, "DurationSum", "DurationMax")))

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP estate_red_requests_total Server spans received, by service, route, status class and version.
# TYPE estate_red_requests_total counter
estate_red_requests_total{route="GET /v1/invoices",service="credit",status_class="5xx",version=""} 1
estate_red_requests_total{route="GET /v1/invoices",service="invoicing",status_class="2xx",version=""} 2
estate_red_requests_total{route="GET /v1/invoices",service="invoicing",status_class="2xx",version="1.4.0"} 1
estate_red_requests_total{route="GET /v1/invoices",service="invoicing",status_class="2xx",version="1.5.0"} 1
estate_red_requests_total{route="GET /v1/invoices",service="invoicing",status_class="5xx",version="1.5.0"} 1
# HELP estate_red_errors_total Server spans that failed (5xx or error status); present from a series' first request, so error ratios read 0, not no data.
# TYPE estate_red_errors_total counter
estate_red_errors_total{route="GET /v1/invoices",service="credit",status_class="5xx",version=""} 1
estate_red_errors_total{route="GET /v1/invoices",service="invoicing",status_class="2xx",version=""} 0
estate_red_errors_total{route="GET /v1/invoices",service="invoicing",status_class="2xx",version="1.4.0"} 0
estate_red_errors_total{route="GET /v1/invoices",service="invoicing",status_class="2xx",version="1.5.0"} 0
estate_red_errors_total{route="GET /v1/invoices",service="invoicing",status_class="5xx",version="1.5.0"} 1
# HELP estate_red_undecodable_records_total Queue records the RED consumer could not decode and skipped.
# TYPE estate_red_undecodable_records_total counter
estate_red_undecodable_records_total 2
`), "estate_red_requests_total", "estate_red_errors_total", "estate_red_undecodable_records_total"),
		"spans counted once despite the replay, a series per version (none without service.version); the undecodable record skipped at each delivery")
}

func TestDeliverFailsWhenTheStoreFails(t *testing.T) {
	c, store, reg := newConsumer(t, 100)
	require.NoError(t, store.Shutdown(context.Background()))
	err := c.Deliver(context.Background(), []collector.Item{tracesItem(t, 1, "invoicing", 1, 200)})
	require.ErrorContains(t, err, "storing RED rollups")
	n, err := testutil.GatherAndCount(reg, "estate_red_requests_total")
	require.NoError(t, err)
	require.Zero(t, n, "nothing counted that was not stored")
}

// TestErrorSeriesExistWithTheirRequests: after only successful spans,
// every series with requests has its error series, same labels, at 0,
// and its duration histogram: a ratio that divides by one or the other
// reads 0 from the first request, not no data.
func TestErrorSeriesExistWithTheirRequests(t *testing.T) {
	c, _, reg := newConsumer(t, 100)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "invoicing")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i, s := range []ptrace.Span{
		span(ptrace.SpanKindServer, "GET /v1/invoices", map[string]any{"http.route": "/v1/invoices", "http.request.method": "GET", "http.response.status_code": 200}, 0),
		span(ptrace.SpanKindServer, "GET /v1/invoices", map[string]any{"http.route": "/v1/invoices", "http.request.method": "GET", "http.response.status_code": 304}, 0),
		span(ptrace.SpanKindServer, "POST /v1/invoices", map[string]any{"http.route": "/v1/invoices", "http.request.method": "POST", "http.response.status_code": 422}, 0),
		span(ptrace.SpanKindServer, "x", map[string]any{"rpc.service": "credit.v1.Credit", "rpc.method": "Apply"}, ptrace.StatusCodeOk),
		span(ptrace.SpanKindConsumer, "invoice.sent process", nil, ptrace.StatusCodeUnset),
	} {
		s.SetTraceID(pcommon.TraceID{9})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.CopyTo(spans.AppendEmpty())
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	require.NoError(t, c.Deliver(context.Background(), []collector.Item{{Seq: 1, Time: t0, Signal: collector.SignalTraces, Payload: b}}))

	families, err := reg.Gather()
	require.NoError(t, err)
	series := map[string]map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := strings.Join(labels, ",")
			if series[f.GetName()] == nil {
				series[f.GetName()] = map[string]float64{}
			}
			switch {
			case m.GetCounter() != nil:
				series[f.GetName()][key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				series[f.GetName()][key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	requests := series["estate_red_requests_total"]
	require.Len(t, requests, 5, "a series per route and status class")
	zeros := map[string]float64{}
	for k := range requests {
		zeros[k] = 0
	}
	require.Empty(t, cmp.Diff(zeros, series["estate_red_errors_total"]), "an error series at 0 for each series with requests")
	require.Empty(t, cmp.Diff(requests, series["estate_red_request_duration_seconds"]), "a duration histogram for each")
}
