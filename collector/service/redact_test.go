package service

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// What the services could let slip into their telemetry: each must be
// redacted before the queue appends it.
const (
	secretEmail  = "jane.doe@northwind.example"
	secretCard   = "4111 1111 1111 1111"
	secretIBAN   = "GB82 WEST 1234 5698 7654 32"
	secretJWT    = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImRldi0xIn0.eyJzdWIiOiJ1c2VyLTQyIiwiYnVzaW5lc3NfaWQiOiJiaXpfOSJ9.c2lnbmF0dXJlLW9mLXRoZS1pc3N1ZXI"
	secretBearer = "Bearer s3cr3t-0paque-t0ken"
	secretCookie = "session=9f86d081884c7d659a2feaa0c55ad015"
	secretName   = "Northwind Traders Ltd"
)

var secrets = []string{secretEmail, secretCard, secretIBAN, secretJWT, "s3cr3t-0paque-t0ken", "9f86d081884c7d659a2feaa0c55ad015", secretName}

// sendSecrets posts logs (OTLP/HTTP protobuf and gRPC), traces (OTLP/HTTP
// JSON) and metrics (gRPC) carrying every secret.
func sendSecrets(t *testing.T, s *Service) {
	t.Helper()
	c := client(t)
	base := "http://" + s.OTLPHTTPAddr()

	logs := logsRequest("invoicing",
		`{"level":"INFO","msg":"invoice sent","invoice_id":"inv_01JDX4","to":"`+secretEmail+`"}`,
		"payment by card "+secretCard+" to "+secretIBAN,
		"upstream call failed\nAuthorization: "+secretBearer+"\nCookie: "+secretCookie)
	lr := logs.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	lr.Attributes().PutStr("estate.business.legal_name", secretName)
	lr.Attributes().PutStr("http.request.header.authorization", "Bearer "+secretJWT)
	b, err := logs.MarshalProto()
	require.NoError(t, err)
	resp, body := post(t, c, base+"/v1/logs", "application/x-protobuf", b, false)
	require.Equal(t, 200, resp.StatusCode, string(body))

	traces := tracesRequest("credit", pcommon.TraceID{7, 7, 7}, 1, false)
	sp := traces.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	sp.Attributes().PutEmptySlice("http.request.header.cookie").AppendEmpty().SetStr(secretCookie)
	sp.Attributes().PutStr("url.full", "https://invoicing.internal/v1/invoices?access_token="+secretJWT)
	sp.Attributes().PutStr("estate.business.billing_email", secretEmail)
	sp.Events().AppendEmpty().Attributes().PutStr("exception.message", "duplicate key (billing_email)=("+secretEmail+")")
	b, err = traces.MarshalJSON()
	require.NoError(t, err)
	resp, body = post(t, c, base+"/v1/traces", "application/json", b, true)
	require.Equal(t, 200, resp.StatusCode, string(body))

	conn, err := grpc.NewClient(s.OTLPGRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := context.Background()
	grpcLogs := logsRequest("credit", "applicant contact "+secretEmail)
	grpcLogs.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().PutStr("cookie", secretCookie)
	_, err = plogotlp.NewGRPCClient(conn).Export(ctx, grpcLogs)
	require.NoError(t, err)
	md := pmetric.NewMetrics()
	dp := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetEmptySum().DataPoints().AppendEmpty()
	dp.SetIntValue(3)
	dp.Attributes().PutStr("http.request.header.authorization", secretBearer)
	_, err = pmetricotlp.NewGRPCClient(conn).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	require.NoError(t, err)
	_, err = ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequest())
	require.NoError(t, err)
}

// filesUnder reads every file under dir, by path.
func filesUnder(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		out[path] = b
		return err
	}))
	return out
}

func TestQueueOnDiskHoldsNoRedactedValue(t *testing.T) {
	dir := t.TempDir()
	// Sinks hold their records, so everything stays in the queue's files.
	g := &gate{open: make(chan struct{})}
	s := start(t, Options{Config: testConfig(t), Dir: dir, WrapSink: g.wrap})
	sendSecrets(t, s)

	var queue bytes.Buffer
	for path, b := range filesUnder(t, filepath.Join(dir, "queue")) {
		for _, secret := range secrets {
			require.NotContains(t, string(b), secret, "%s holds a value that should have been redacted", path)
		}
		queue.Write(b)
	}
	for _, marker := range []string{
		"[REDACTED:email]", "[REDACTED:card]", "[REDACTED:iban]", "[REDACTED:jwt]",
		"[REDACTED:authorization]", "[REDACTED:cookie]", "[REDACTED:personal]", "inv_01JDX4",
	} {
		require.Contains(t, queue.String(), marker, "the queue holds the requests, redacted")
	}

	resp, err := client(t).Get(s.URL() + "/metrics")
	require.NoError(t, err)
	exposition, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	for _, series := range []string{
		`estate_collector_redacted_total{rule="email",signal="logs"} 2`,
		`estate_collector_redacted_total{rule="card",signal="logs"} 1`,
		`estate_collector_redacted_total{rule="personal",signal="logs"} 1`,
		`estate_collector_redacted_total{rule="jwt",signal="traces"} 1`,
		`estate_collector_redacted_total{rule="cookie",signal="traces"} 1`,
		`estate_collector_redacted_total{rule="email",signal="traces"} 1`,
		`estate_collector_redacted_total{rule="authorization",signal="metrics"} 1`,
	} {
		require.Contains(t, string(exposition), series+"\n")
	}

	// Delivered, the records reach the store as redacted as they were
	// queued, and no file of the collector holds a secret.
	close(g.open)
	logs := waitLogs(t, client(t), s.URL(), "invoicing", 3)
	for _, l := range logs {
		for _, secret := range secrets {
			require.NotContains(t, l.Body, secret)
		}
	}
	for path, b := range filesUnder(t, dir) {
		for _, secret := range secrets {
			require.NotContains(t, string(b), secret, "%s holds a value that should have been redacted", path)
		}
	}
}

func TestQueueHoldsValuesWhenRedactionIsOff(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(t)
	cfg.Collector.Redact.Enabled = false
	g := &gate{open: make(chan struct{})}
	s := start(t, Options{Config: cfg, Dir: dir, WrapSink: g.wrap})
	sendSecrets(t, s)
	var queue strings.Builder
	for _, b := range filesUnder(t, filepath.Join(dir, "queue")) {
		queue.Write(b)
	}
	for _, secret := range secrets {
		require.Contains(t, queue.String(), secret, "the check above would see a value left in the queue")
	}
}
