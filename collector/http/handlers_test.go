package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/logging"
	"github.com/estatehq/estate/internal/problem"
)

// recorder is a QueryStore that records the query it was given; the real
// store's queries are tested in collector/sqlite.
type recorder struct {
	logs   collector.LogQuery
	traces collector.TraceQuery
}

func (r *recorder) QueryLogs(_ context.Context, q collector.LogQuery) ([]collector.LogRecord, error) {
	r.logs = q
	return []collector.LogRecord{}, nil
}

func (r *recorder) Trace(_ context.Context, id string) ([]collector.Span, error) {
	if id == "5b8efff798038103d269b633813fc60c" {
		return []collector.Span{{TraceID: id, SpanID: "eee19b7ec3c1b174"}}, nil
	}
	return nil, collector.ErrNotFound
}

func (r *recorder) QueryTraces(_ context.Context, q collector.TraceQuery) ([]collector.TraceSummary, error) {
	r.traces = q
	return []collector.TraceSummary{}, nil
}

func TestQueryAPI(t *testing.T) {
	from := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		url        string
		wantCode   int
		wantLogs   *collector.LogQuery
		wantTraces *collector.TraceQuery
		wantBad    []string
	}{
		{name: "logs, every filter", url: "/v1/logs?service=inv&level=warn&q=42&trace_id=5b8efff798038103d269b633813fc60c&from=2026-01-02T03:04:05Z&to=2026-01-02T04:04:05Z&limit=5",
			wantCode: 200, wantLogs: &collector.LogQuery{Service: "inv", Level: "warn", Text: "42", TraceID: "5b8efff798038103d269b633813fc60c", From: from, To: from.Add(time.Hour), Limit: 5}},
		{name: "logs, defaults", url: "/v1/logs", wantCode: 200, wantLogs: &collector.LogQuery{Limit: 100}},
		{name: "logs, bad params named", url: "/v1/logs?level=loud&trace_id=xyz&from=yesterday&limit=100000",
			wantCode: 400, wantBad: []string{"query.level", "query.trace_id", "query.from", "query.limit"}},
		{name: "logs, window beyond nanoseconds since 1970", url: "/v1/logs?from=1600-01-01T00:00:00Z&to=2300-01-01T00:00:00Z",
			wantCode: 400, wantBad: []string{"query.from", "query.to"}},
		{name: "traces, from beyond nanoseconds since 1970", url: "/v1/traces?from=0001-01-01T00:00:00Z", wantCode: 400, wantBad: []string{"query.from"}},
		{name: "logs, unknown param", url: "/v1/logs?servce=inv", wantCode: 400, wantBad: []string{"query.servce"}},
		{name: "logs, empty window", url: "/v1/logs?from=2026-01-02T03:04:05Z&to=2026-01-02T03:04:05Z", wantCode: 400, wantBad: []string{"query.to"}},
		{name: "traces", url: "/v1/traces?service=inv&min_duration=250ms&limit=10", wantCode: 200,
			wantTraces: &collector.TraceQuery{Service: "inv", MinDuration: 250 * time.Millisecond, Limit: 10}},
		{name: "traces, bad duration", url: "/v1/traces?min_duration=-1s", wantCode: 400, wantBad: []string{"query.min_duration"}},
		{name: "trace", url: "/v1/traces/5b8efff798038103d269b633813fc60c", wantCode: 200},
		{name: "trace, unknown", url: "/v1/traces/5b8efff798038103d269b633813fc60d", wantCode: 404},
		{name: "trace, bad id", url: "/v1/traces/00000000000000000000000000000000", wantCode: 400, wantBad: []string{"path.trace_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &recorder{}
			r := chi.NewRouter()
			Routes(r, store, logging.Discard())
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.url, nil))
			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			if tt.wantLogs != nil {
				require.Empty(t, cmp.Diff(*tt.wantLogs, store.logs))
			}
			if tt.wantTraces != nil {
				require.Empty(t, cmp.Diff(*tt.wantTraces, store.traces))
			}
			if tt.wantCode >= 400 {
				require.Equal(t, problem.ContentType, w.Header().Get("Content-Type"))
				var p problem.Details
				require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
				var locs []string
				for _, e := range p.Errors {
					locs = append(locs, e.Location)
				}
				require.Equal(t, tt.wantBad, locs)
			}
		})
	}
}
