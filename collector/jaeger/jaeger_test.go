package jaeger_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/estatehq/estate/collector/jaeger"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/jaegertest"
	"github.com/estatehq/estate/internal/testenv"
)

type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			TraceID string `json:"traceID"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		Tags []struct {
			Key   string `json:"key"`
			Type  string `json:"type"`
			Value any    `json:"value"`
		} `json:"tags"`
		ProcessID string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// getTrace reads a trace from Jaeger's query API, waiting until it holds
// want spans (storage is asynchronous).
func getTrace(t *testing.T, query string, id pcommon.TraceID, want int) jaegerTrace {
	t.Helper()
	var tr jaegerTrace
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := testenv.WaitFor(ctx, 100*time.Millisecond, func() error {
		res, err := http.Get(query + "/api/traces/" + hex.EncodeToString(id[:]))
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET trace: %s", res.Status)
		}
		var body struct {
			Data []jaegerTrace `json:"data"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			return err
		}
		if len(body.Data) != 1 || len(body.Data[0].Spans) != want {
			return fmt.Errorf("trace not complete yet: %+v", body.Data)
		}
		tr = body.Data[0]
		return nil
	})
	require.NoError(t, err)
	return tr
}

// makeTrace builds a trace of a root span and a chain of depth children,
// each with typed attributes.
func makeTrace(service string, seed byte, depth int) (ptrace.Traces, pcommon.TraceID) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	rs.Resource().Attributes().PutStr("deployment.environment", "test")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("estate/test")
	tid := pcommon.TraceID{0xe5, seed, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	start := time.Now().Add(-time.Minute)
	var parent pcommon.SpanID
	for i := range depth + 1 {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sid := pcommon.SpanID{0x5a, seed, byte(i), 1, 2, 3, 4, 5}
		sp.SetSpanID(sid)
		sp.SetParentSpanID(parent)
		parent = sid
		sp.SetName(fmt.Sprintf("op-%d", i))
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i+10) * time.Millisecond)))
		sp.Attributes().PutStr("http.route", fmt.Sprintf("/v1/invoices/%d", i))
		sp.Attributes().PutInt("http.status_code", 200+int64(i))
		sp.Attributes().PutBool("retry", i%2 == 0)
		sp.Attributes().PutDouble("ratio", 0.5)
	}
	return td, tid
}

func tagMap(tags []struct {
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value any    `json:"value"`
},
) map[string]any {
	out := map[string]any{}
	for _, tg := range tags {
		out[tg.Key] = tg.Value
	}
	return out
}

func newRealExporter(t *testing.T, endpoint string) *jaeger.Exporter {
	t.Helper()
	cfg := defaults(t, endpoint)
	cfg.MaxAttempts = 2
	cfg.Timeout = 5 * time.Second
	exp, err := jaeger.New(cfg, jaeger.Options{})
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	return exp
}

func TestRealJaegerReceivesEverySpan(t *testing.T) {
	j := jaegertest.Start(t, jaegertest.Options{})
	exp := newRealExporter(t, j.OTLP)

	const traces, depth = 10, 4
	all := ptrace.NewTraces()
	ids := make([]pcommon.TraceID, traces)
	for i := range traces {
		td, id := makeTrace("checkout", byte(i), depth)
		ids[i] = id
		td.ResourceSpans().MoveAndAppendTo(all.ResourceSpans())
	}
	require.NoError(t, exp.ExportTraces(t.Context(), all))

	for i, id := range ids {
		tr := getTrace(t, j.Query, id, depth+1)
		sort.Slice(tr.Spans, func(a, b int) bool { return tr.Spans[a].OperationName < tr.Spans[b].OperationName })
		for k, sp := range tr.Spans {
			require.Equal(t, fmt.Sprintf("op-%d", k), sp.OperationName)
			require.Equal(t, hex.EncodeToString([]byte{0x5a, byte(i), byte(k), 1, 2, 3, 4, 5}), sp.SpanID)
			if k == 0 {
				require.Empty(t, sp.References, "the root has no parent")
			} else {
				require.Len(t, sp.References, 1)
				require.Equal(t, "CHILD_OF", sp.References[0].RefType)
				require.Equal(t, tr.Spans[k-1].SpanID, sp.References[0].SpanID)
				require.Equal(t, hex.EncodeToString(id[:]), sp.References[0].TraceID)
			}
			tags := tagMap(sp.Tags)
			want := map[string]any{
				"http.route":       fmt.Sprintf("/v1/invoices/%d", k),
				"http.status_code": float64(200 + k),
				"retry":            k%2 == 0,
				"ratio":            0.5,
				"span.kind":        "server",
			}
			for key, v := range want {
				require.Empty(t, cmp.Diff(v, tags[key]), "span %d tag %s in %v", k, key, tags)
			}
			require.Equal(t, "checkout", tr.Processes[sp.ProcessID].ServiceName)
		}
	}
}

func TestRealJaegerRestart(t *testing.T) {
	j := jaegertest.Start(t, jaegertest.Options{})
	exp := newRealExporter(t, j.OTLP)

	td, id := makeTrace("billing", 100, 2)
	require.NoError(t, exp.ExportTraces(t.Context(), td))
	getTrace(t, j.Query, id, 3)

	j.Stop()
	td2, id2 := makeTrace("billing", 101, 2)
	err := exp.ExportTraces(t.Context(), td2)
	require.Error(t, err, "jaeger is down")
	var perm *delivery.PermanentError
	require.NotErrorAs(t, err, &perm, "a stopped jaeger is retryable")
	require.True(t, strings.Contains(err.Error(), "Unavailable") || strings.Contains(err.Error(), "DeadlineExceeded"), "%v", err)

	require.NoError(t, j.Resume(t.Context()))
	// The caller retries the same batch, as the queue does.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 200*time.Millisecond, func() error { return exp.ExportTraces(ctx, td2) }))
	getTrace(t, j.Query, id2, 3)
}
