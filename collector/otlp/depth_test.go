package otlp

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/estatehq/estate/collector"
)

// nest makes v a map nested levels deep, the costliest shape for the
// protobuf decoder (three messages a level); alternate levels are arrays
// when withArrays.
func nest(v pcommon.Value, levels int, withArrays bool) {
	if withArrays && levels%2 == 0 {
		s := v.SetEmptySlice()
		if levels > 1 {
			nest(s.AppendEmpty(), levels-1, withArrays)
		}
		return
	}
	m := v.SetEmptyMap()
	if levels > 1 {
		nest(m.PutEmpty("k"), levels-1, withArrays)
	}
}

// exportRequest is one signal's request with a value nested somewhere.
type exportRequest interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// deepCase puts a value of levels deep in one place of one signal's
// request, sends it over gRPC, and finds it again in a queued record.
type deepCase struct {
	name     string
	endpoint string
	path     string
	build    func(levels int) exportRequest
	grpc     func(ctx context.Context, conn *grpc.ClientConn, req exportRequest) error
	read     func(t *testing.T, it collector.Item) pcommon.Value
}

func exportLogs(ctx context.Context, conn *grpc.ClientConn, req exportRequest) error {
	_, err := plogotlp.NewGRPCClient(conn).Export(ctx, req.(plogotlp.ExportRequest))
	return err
}

var deepCases = []deepCase{
	{
		name:     "log body",
		endpoint: "/v1/logs",
		path:     "resourceLogs[0].scopeLogs[0].logRecords[0].body",
		build: func(levels int) exportRequest {
			req := plogotlp.NewExportRequest()
			nest(req.Logs().ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body(), levels, false)
			return req
		},
		grpc: exportLogs,
		read: func(t *testing.T, it collector.Item) pcommon.Value {
			ld, err := it.Logs()
			require.NoError(t, err)
			return ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body()
		},
	},
	{
		name:     "resource attribute of logs",
		endpoint: "/v1/logs",
		path:     `resourceLogs[0].resource.attributes["deep"]`,
		build: func(levels int) exportRequest {
			req := plogotlp.NewExportRequest()
			rl := req.Logs().ResourceLogs().AppendEmpty()
			nest(rl.Resource().Attributes().PutEmpty("deep"), levels, true)
			rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("x")
			return req
		},
		grpc: exportLogs,
		read: func(t *testing.T, it collector.Item) pcommon.Value {
			ld, err := it.Logs()
			require.NoError(t, err)
			v, _ := ld.ResourceLogs().At(0).Resource().Attributes().Get("deep")
			return v
		},
	},
	{
		name:     "span event attribute",
		endpoint: "/v1/traces",
		path:     `resourceSpans[0].scopeSpans[0].spans[0].events[0].attributes["deep"]`,
		build: func(levels int) exportRequest {
			req := ptraceotlp.NewExportRequest()
			s := req.Traces().ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{1})
			s.SetSpanID(pcommon.SpanID{1})
			nest(s.Events().AppendEmpty().Attributes().PutEmpty("deep"), levels, false)
			return req
		},
		grpc: func(ctx context.Context, conn *grpc.ClientConn, req exportRequest) error {
			_, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, req.(ptraceotlp.ExportRequest))
			return err
		},
		read: func(t *testing.T, it collector.Item) pcommon.Value {
			td, err := it.Traces()
			require.NoError(t, err)
			v, _ := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Events().At(0).Attributes().Get("deep")
			return v
		},
	},
	{
		name:     "data point attribute",
		endpoint: "/v1/metrics",
		path:     `resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0].attributes["deep"]`,
		build: func(levels int) exportRequest {
			req := pmetricotlp.NewExportRequest()
			m := req.Metrics().ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
			m.SetName("m")
			p := m.SetEmptySum().DataPoints().AppendEmpty()
			p.SetIntValue(1)
			nest(p.Attributes().PutEmpty("deep"), levels, false)
			return req
		},
		grpc: func(ctx context.Context, conn *grpc.ClientConn, req exportRequest) error {
			_, err := pmetricotlp.NewGRPCClient(conn).Export(ctx, req.(pmetricotlp.ExportRequest))
			return err
		},
		read: func(t *testing.T, it collector.Item) pcommon.Value {
			md, err := it.Metrics()
			require.NoError(t, err)
			v, _ := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0).Attributes().Get("deep")
			return v
		},
	},
}

// TestDeepValuesRefusedBeforeAcknowledged: a value nested MaxValueDepth
// levels is acknowledged on every transport and read back from the queued
// record with the decoder the queue's readers use; one level more is
// refused as invalid, naming where, and nothing is queued.
func TestDeepValuesRefusedBeforeAcknowledged(t *testing.T) {
	q := &fakeQueue{}
	r, err := New(Options{Queue: q, GRPCAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()

	send := map[string]func(t *testing.T, c deepCase, req exportRequest) (ok bool, msg string){
		"HTTP JSON": func(t *testing.T, c deepCase, req exportRequest) (bool, string) {
			body, err := req.MarshalJSON()
			require.NoError(t, err)
			return postOTLP(t, r, c.endpoint, contentJSON, body)
		},
		"HTTP protobuf": func(t *testing.T, c deepCase, req exportRequest) (bool, string) {
			body, err := req.MarshalProto()
			require.NoError(t, err)
			return postOTLP(t, r, c.endpoint, contentProto, body)
		},
		"gRPC": func(t *testing.T, c deepCase, req exportRequest) (bool, string) {
			err := c.grpc(context.Background(), conn, req)
			if err == nil {
				return true, ""
			}
			require.Equal(t, codes.InvalidArgument, status.Code(err), err.Error())
			return false, status.Convert(err).Message()
		},
	}
	for _, c := range deepCases {
		for transport, send := range send {
			t.Run(c.name+" over "+transport, func(t *testing.T) {
				q.mu.Lock()
				q.recs = nil
				q.mu.Unlock()

				ok, msg := send(t, c, c.build(MaxValueDepth))
				require.True(t, ok, msg)
				q.mu.Lock()
				require.Len(t, q.recs, 1)
				sig, payload, err := collector.DecodeRecord(q.recs[0])
				q.mu.Unlock()
				require.NoError(t, err)
				v := c.read(t, collector.Item{Signal: sig, Payload: payload})
				require.Equal(t, MaxValueDepth, valueDepth(v, MaxValueDepth), "read back whole")

				ok, msg = send(t, c, c.build(MaxValueDepth+1))
				require.False(t, ok, "acknowledged a value nested one level too deep")
				require.Contains(t, msg, c.path)
				require.Contains(t, msg, "more than 32 levels deep")
				q.mu.Lock()
				require.Len(t, q.recs, 1, "nothing more queued")
				q.mu.Unlock()
			})
		}
	}
}

// postOTLP posts an OTLP/HTTP request and returns whether it was
// acknowledged, and otherwise the message of the google.rpc.Status
// answered with 400.
func postOTLP(t *testing.T, r *Receiver, path, contentType string, body []byte) (bool, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	w := httptest.NewRecorder()
	r.Handler().ServeHTTP(w, req)
	if w.Code == http.StatusOK {
		return true, ""
	}
	require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())
	var st spb.Status
	if contentType == contentJSON {
		require.NoError(t, protojson.Unmarshal(w.Body.Bytes(), &st))
	} else {
		require.NoError(t, proto.Unmarshal(w.Body.Bytes(), &st))
	}
	require.Equal(t, int32(codes.InvalidArgument), st.Code)
	return false, st.Message
}
