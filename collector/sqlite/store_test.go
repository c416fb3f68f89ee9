package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.Path = filepath.Join(t.TempDir(), "store.db")
	s, err := Open(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s
}

type logSpec struct {
	service, body, trace string
	sev                  plog.SeverityNumber
	at                   time.Time
}

func logsItem(t *testing.T, seq uint64, specs ...logSpec) collector.Item {
	t.Helper()
	ld := plog.NewLogs()
	for _, sp := range specs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", sp.service)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.Body().SetStr(sp.body)
		lr.SetSeverityNumber(sp.sev)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(sp.at))
		if sp.trace != "" {
			var id pcommon.TraceID
			_, _ = fmt.Sscanf(sp.trace, "%032x", &id)
			copy(id[:], mustHex(sp.trace))
			lr.SetTraceID(id)
		}
	}
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	require.NoError(t, err)
	return collector.Item{Seq: seq, Time: t0, Signal: collector.SignalLogs, Payload: b}
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		_, _ = fmt.Sscanf(s[2*i:2*i+2], "%02x", &b[i])
	}
	return b
}

func spansItem(t *testing.T, seq uint64, service string, trace byte, spans int, dur time.Duration, at time.Time) collector.Item {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range spans {
		sp := ss.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{trace, 1})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if i > 0 {
			sp.SetParentSpanID(pcommon.SpanID{1})
		}
		sp.SetName(fmt.Sprintf("%s-%d", service, i))
		sp.SetKind(ptrace.SpanKindServer)
		sp.Attributes().PutInt("http.response.status_code", 500)
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(dur)))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	require.NoError(t, err)
	return collector.Item{Seq: seq, Time: t0, Signal: collector.SignalTraces, Payload: b}
}

func bodies(logs []collector.LogRecord) []string {
	out := []string{}
	for _, l := range logs {
		out = append(out, l.Body)
	}
	return out
}

func TestQueryLogs(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	trace := "5b8efff798038103d269b633813fc60c"
	require.NoError(t, s.Deliver(ctx, []collector.Item{logsItem(t, 1,
		logSpec{"inv", "invoice 42 sent", "", plog.SeverityNumberInfo, t0},
		logSpec{"inv", "invoice 42 failed", trace, plog.SeverityNumberError, t0.Add(time.Minute)},
		logSpec{"credit", "limit 100% used", "", plog.SeverityNumberWarn, t0.Add(2 * time.Minute)},
	)}))
	tests := []struct {
		name string
		q    collector.LogQuery
		want []string
	}{
		{"all, newest first", collector.LogQuery{}, []string{"limit 100% used", "invoice 42 failed", "invoice 42 sent"}},
		{"service", collector.LogQuery{Service: "inv"}, []string{"invoice 42 failed", "invoice 42 sent"}},
		{"level and above", collector.LogQuery{Level: "warn"}, []string{"limit 100% used", "invoice 42 failed"}},
		{"text", collector.LogQuery{Text: "42"}, []string{"invoice 42 failed", "invoice 42 sent"}},
		{"text with a LIKE wildcard is literal", collector.LogQuery{Text: "100%"}, []string{"limit 100% used"}},
		{"trace id", collector.LogQuery{TraceID: trace}, []string{"invoice 42 failed"}},
		{"window", collector.LogQuery{From: t0.Add(30 * time.Second), To: t0.Add(90 * time.Second)}, []string{"invoice 42 failed"}},
		{"limit", collector.LogQuery{Limit: 1}, []string{"limit 100% used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.QueryLogs(ctx, tt.q)
			require.NoError(t, err)
			require.Empty(t, cmp.Diff(tt.want, bodies(got)))
		})
	}
}

func TestDeliverIsIdempotent(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	batch := []collector.Item{
		logsItem(t, 7, logSpec{"inv", "once", "", plog.SeverityNumberInfo, t0}),
		spansItem(t, 8, "inv", 1, 2, 300*time.Millisecond, t0),
	}
	require.NoError(t, s.Deliver(ctx, batch))
	require.NoError(t, s.Deliver(ctx, batch), "a replay after a crash")
	logs, err := s.QueryLogs(ctx, collector.LogQuery{})
	require.NoError(t, err)
	require.Equal(t, []string{"once"}, bodies(logs))
	spans, err := s.Trace(ctx, pcommon.TraceID{1, 1}.String())
	require.NoError(t, err)
	require.Len(t, spans, 2)
}

func redObs(trace, span string, route, version string, minute time.Time, d time.Duration, isErr bool) collector.REDObservation {
	return collector.REDObservation{
		TraceID: trace, SpanID: span, Key: collector.REDKey{Service: "inv", Route: route, StatusClass: "5xx", Version: version},
		Minute: minute, End: minute.Add(time.Second), Duration: d, Error: isErr,
	}
}

// TestAddREDIsIdempotent also keeps versions apart: the rows of one
// minute, service, route and status class, one per version, ordered by it.
func TestAddREDIsIdempotent(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	batch := []collector.REDObservation{
		redObs("t1", "s1", "GET /a", "1.5.0", t0, 300*time.Millisecond, true),
		redObs("t1", "s2", "GET /a", "1.4.0", t0, 100*time.Millisecond, false),
		redObs("t1", "s3", "GET /b", "", t0.Add(time.Minute), 50*time.Millisecond, true),
		redObs("t1", "s4", "GET /a", "1.4.0", t0, 70*time.Millisecond, false),
	}
	added, err := s.AddRED(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true, true}, added)
	added, err = s.AddRED(ctx, append(batch, redObs("t2", "s1", "GET /a", "1.5.0", t0, 200*time.Millisecond, false)))
	require.NoError(t, err)
	require.Equal(t, []bool{false, false, false, false, true}, added, "a replay after a crash adds only the new span")
	rows, err := s.REDMinutes(ctx, t0.Add(-time.Hour), t0.Add(time.Hour))
	require.NoError(t, err)
	key := func(route, version string) collector.REDKey {
		return collector.REDKey{Service: "inv", Route: route, StatusClass: "5xx", Version: version}
	}
	want := []collector.REDMinute{
		{Minute: t0, Key: key("GET /a", "1.4.0"), Requests: 2, DurationSum: 170 * time.Millisecond, DurationMax: 100 * time.Millisecond},
		{Minute: t0, Key: key("GET /a", "1.5.0"), Requests: 2, Errors: 1, DurationSum: 500 * time.Millisecond, DurationMax: 300 * time.Millisecond},
		{Minute: t0.Add(time.Minute), Key: key("GET /b", ""), Requests: 1, Errors: 1, DurationSum: 50 * time.Millisecond, DurationMax: 50 * time.Millisecond},
	}
	require.Empty(t, cmp.Diff(want, rows))
	rows, err = s.REDMinutes(ctx, t0.Add(time.Minute), t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, rows, 1, "the window is [from, to)")
}

func TestQueryTraces(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	require.NoError(t, s.Deliver(ctx, []collector.Item{
		spansItem(t, 1, "inv", 1, 3, 2*time.Second, t0),
		spansItem(t, 2, "credit", 2, 1, 10*time.Millisecond, t0.Add(time.Minute)),
	}))
	tests := []struct {
		name string
		q    collector.TraceQuery
		want []string
	}{
		{"all", collector.TraceQuery{}, []string{"credit-0", "inv-0"}},
		{"service", collector.TraceQuery{Service: "inv"}, []string{"inv-0"}},
		{"min duration", collector.TraceQuery{MinDuration: time.Second}, []string{"inv-0"}},
		{"window", collector.TraceQuery{From: t0.Add(30 * time.Second)}, []string{"credit-0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.QueryTraces(ctx, tt.q)
			require.NoError(t, err)
			names := []string{}
			for _, tr := range got {
				names = append(names, tr.RootName)
			}
			require.Equal(t, tt.want, names)
		})
	}
	_, err := s.Trace(ctx, pcommon.TraceID{9}.String())
	require.ErrorIs(t, err, collector.ErrNotFound)
}

func TestRetention(t *testing.T) {
	now := t0
	s := openStore(t, Options{Config: Config{MaxAge: time.Hour}, Now: func() time.Time { return now }})
	ctx := context.Background()
	require.NoError(t, s.Deliver(ctx, []collector.Item{
		logsItem(t, 1, logSpec{"inv", "old", "", plog.SeverityNumberInfo, t0.Add(-2 * time.Hour)},
			logSpec{"inv", "new", "", plog.SeverityNumberInfo, t0.Add(-time.Minute)}),
		spansItem(t, 2, "inv", 1, 1, time.Millisecond, t0.Add(-2*time.Hour)),
	}))
	require.NoError(t, s.ApplyRetention(ctx))
	logs, err := s.QueryLogs(ctx, collector.LogQuery{})
	require.NoError(t, err)
	require.Equal(t, []string{"new"}, bodies(logs))
	_, err = s.Trace(ctx, pcommon.TraceID{1, 1}.String())
	require.ErrorIs(t, err, collector.ErrNotFound)
}

func TestRetentionBySize(t *testing.T) {
	s := openStore(t, Options{Config: Config{MaxBytes: 256 << 10}})
	ctx := context.Background()
	body := fmt.Sprintf("%0500d", 0)
	for i := range 20 {
		var specs []logSpec
		for j := range 100 {
			specs = append(specs, logSpec{"inv", fmt.Sprintf("%d-%d-%s", i, j, body), "", plog.SeverityNumberInfo, t0.Add(time.Duration(i*100+j) * time.Second)})
		}
		require.NoError(t, s.Deliver(ctx, []collector.Item{logsItem(t, uint64(i), specs...)}))
	}
	before, err := s.usedBytes(ctx)
	require.NoError(t, err)
	require.Greater(t, before, int64(256<<10))
	require.NoError(t, s.ApplyRetention(ctx))
	after, err := s.usedBytes(ctx)
	require.NoError(t, err)
	require.LessOrEqual(t, after, int64(256<<10))
	newest, err := s.QueryLogs(ctx, collector.LogQuery{Limit: 1})
	require.NoError(t, err)
	require.Equal(t, "19-99-"+body, newest[0].Body, "the oldest go first")
}

func TestUndecodableRecordSkipped(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	require.NoError(t, s.Deliver(ctx, []collector.Item{
		{Seq: 1, Signal: collector.SignalLogs, Payload: []byte{0xff, 0xff}},
		logsItem(t, 2, logSpec{"inv", "fine", "", plog.SeverityNumberInfo, t0}),
	}))
	logs, err := s.QueryLogs(ctx, collector.LogQuery{})
	require.NoError(t, err)
	require.Equal(t, []string{"fine"}, bodies(logs))
}

func TestSignalsLeftOutAreNotStored(t *testing.T) {
	s := openStore(t, Options{Signals: []collector.Signal{collector.SignalLogs}})
	ctx := context.Background()
	require.NoError(t, s.Deliver(ctx, []collector.Item{spansItem(t, 1, "inv", 1, 2, time.Second, t0)}))
	_, err := s.Trace(ctx, pcommon.TraceID{1, 1}.String())
	require.ErrorIs(t, err, collector.ErrNotFound, "traces go to another sink")
}
