package otlp

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/problem/problemtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeQueue records appends, or fails them with err. The real queue is
// exercised by collector/service's tests; this one isolates the receiver's
// status mapping.
type fakeQueue struct {
	mu   sync.Mutex
	recs [][]byte
	err  error
}

func (q *fakeQueue) Append(_ context.Context, recs ...[]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.recs = append(q.recs, recs...)
	return nil
}

func TestHTTPStatusMapping(t *testing.T) {
	logs := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}`
	tests := []struct {
		name       string
		queueErr   error
		body       string
		encoding   string
		wantCode   int
		wantRetry  string
		wantQueued int
	}{
		{"accepted", nil, logs, "", 200, "", 1},
		{"empty request is accepted, nothing queued", nil, `{}`, "", 200, "", 0},
		{"queue full", delivery.Throttle(errors.New("full"), 2*time.Second), logs, "", 429, "2", 0},
		{"queue shutting down", &delivery.ShutdownError{Err: errors.New("closed")}, logs, "", 503, "1", 0},
		{"record too large", delivery.Permanent(errors.New("too large")), logs, "", 413, "", 0},
		{"bad gzip", nil, logs, "gzip", 400, "", 0},
		{"unknown encoding", nil, logs, "br", 400, "", 0},
		{"not JSON", nil, `{"resourceLogs":`, "", 400, "", 0},
		{"body nested fifty levels", nil, `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":` +
			strings.Repeat(`{"arrayValue":{"values":[`, 50) + strings.Repeat(`]}}`, 50) + `}]}]}]}`, "", 400, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeQueue{err: tt.queueErr}
			r, err := New(Options{Queue: q})
			require.NoError(t, err)
			req := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewBufferString(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			w := httptest.NewRecorder()
			r.Handler().ServeHTTP(w, req)
			require.Equal(t, tt.wantCode, w.Code, w.Body.String())
			require.Equal(t, tt.wantRetry, w.Header().Get("Retry-After"))
			require.Len(t, q.recs, tt.wantQueued)
			require.Zero(t, r.opts.Limiter.InFlight(), "every reservation released")
		})
	}
}

func TestQueuedRecordRoundTrips(t *testing.T) {
	q := &fakeQueue{}
	r, err := New(Options{Queue: q})
	require.NoError(t, err)
	req := plogotlp.NewExportRequest()
	req.Logs().ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
	body, err := req.MarshalProto()
	require.NoError(t, err)
	hr := httptest.NewRequest(http.MethodPost, "/v1/logs", bytes.NewReader(body))
	hr.Header.Set("Content-Type", "application/x-protobuf")
	w := httptest.NewRecorder()
	r.Handler().ServeHTTP(w, hr)
	require.Equal(t, 200, w.Code)
	require.Len(t, q.recs, 1)
	sig, payload, err := collector.DecodeRecord(q.recs[0])
	require.NoError(t, err)
	require.Equal(t, collector.SignalLogs, sig)
	require.Equal(t, body, payload, "protobuf bodies are queued as received")
}

func TestLimiter(t *testing.T) {
	l := NewLimiter(100)
	require.True(t, l.TryAcquire(150), "one request alone always proceeds")
	require.False(t, l.TryAcquire(1))
	l.Release(150)
	require.True(t, l.TryAcquire(60))
	require.True(t, l.TryAcquire(40))
	require.True(t, l.Full())
	require.False(t, l.TryAcquire(1))
}

// FuzzDecodeJSON feeds arbitrary bytes to the OTLP/JSON decoders of every
// signal: they never panic, and what they accept is queued as protobuf that
// decodes again.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"1","body":{"stringValue":"x"},"traceId":"5b8efff798038103d269b633813fc60c"}]}]}]}`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"a","kind":2}]}]}]}`))
	f.Add([]byte(`{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"asInt":"1"}]}}]}]}]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []codec{tracesCodec, logsCodec, metricsCodec} {
			d, err := c.decode(b, true, nil)
			if err != nil || d.proto == nil {
				continue
			}
			rec := collector.EncodeRecord(c.signal, d.proto)
			sig, payload, err := collector.DecodeRecord(rec)
			require.NoError(t, err)
			it := collector.Item{Signal: sig, Payload: payload}
			switch sig {
			case collector.SignalTraces:
				td, err := it.Traces()
				require.NoError(t, err)
				require.Equal(t, d.accepted, td.SpanCount())
			case collector.SignalLogs:
				ld, err := it.Logs()
				require.NoError(t, err)
				require.Equal(t, d.accepted, ld.LogRecordCount())
			case collector.SignalMetrics:
				_, err := it.Metrics()
				require.NoError(t, err)
			}
		}
	})
}

func TestUnroutedAnswersProblems(t *testing.T) {
	r, err := New(Options{Queue: &fakeQueue{}})
	require.NoError(t, err)
	problemtest.RequireUnrouted(t, r.Handler(),
		problemtest.Unrouted{Method: http.MethodPost, Path: "/v1/profiles"},
		problemtest.Unrouted{Method: http.MethodGet, Path: "/"},
		problemtest.Unrouted{Method: http.MethodGet, Path: "/v1/traces", Allow: "POST"},
		problemtest.Unrouted{Method: http.MethodPut, Path: "/v1/logs", Allow: "POST"},
		problemtest.Unrouted{Method: http.MethodDelete, Path: "/v1/metrics", Allow: "POST"},
	)
}
