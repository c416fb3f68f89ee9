package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	invoicinghttp "github.com/estatehq/estate/services/invoicing/http"
	"github.com/estatehq/estate/services/invoicing/sqlite"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestInstrumentation(t *testing.T) {
	logs := &syncBuffer{}
	spans := tracetest.NewSpanRecorder()
	tel, err := telemetry.New(context.Background(), telemetry.Options{
		ServiceName: "invoicing", Logger: slog.New(slog.NewJSONHandler(logs, nil)),
		SpanProcessors: []sdktrace.SpanProcessor{spans},
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "invoicing.db"), sqlite.Options{TracerProvider: tel.TracerProvider})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	e := newEnv(t, store, func(o *invoicinghttp.Options) { o.Telemetry, o.Logger = tel, tel.Logger() })
	alice := e.register(t, "alice", "Alice")

	// W3C trace context in: the request joins the caller's trace.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := expect(t, e.do(t, req{method: "GET", path: "/v1/businesses/" + alice.id, token: alice.token,
		header: map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}}), 200)
	_ = r

	var line map[string]any
	sc := bufio.NewScanner(bytes.NewReader([]byte(logs.String())))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		if m["msg"] == "request" && m["route"] == "/v1/businesses/{id}" {
			line = m
		}
	}
	require.NotNil(t, line, "the request was logged: %s", logs.String())
	require.Equal(t, traceID, line["trace_id"])
	require.Len(t, line["span_id"], 16)

	// Spans: the server span is named by route pattern, the store call is
	// its child.
	var server, storeSpan sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		switch s.Name() {
		case "GET /v1/businesses/{id}":
			server = s
		case "store.Business":
			if s.SpanContext().TraceID().String() == traceID {
				storeSpan = s
			}
		}
	}
	require.NotNil(t, server)
	require.Equal(t, traceID, server.SpanContext().TraceID().String())
	require.NotNil(t, storeSpan)
	require.Equal(t, server.SpanContext().SpanID(), storeSpan.Parent().SpanID(), "the store span is a child of the request span")

	// RED metrics on /metrics, by route pattern, method and status.
	res, err := e.client.Get(e.url + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Contains(t, string(b), `http_server_requests_total{method="GET",route="/v1/businesses/{id}",status="200"} 1`)
	require.Contains(t, string(b), `http_server_requests_total{method="POST",route="/v1/businesses",status="201"} 1`)
	require.Contains(t, string(b), `http_server_request_duration_seconds_bucket{method="GET",route="/v1/businesses/{id}",status="200",le="0.005"}`)
}
