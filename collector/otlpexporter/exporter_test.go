package otlpexporter_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/grpc/codes"

	"github.com/estatehq/estate/collector/otlpexporter"
	"github.com/estatehq/estate/internal/delivery"
)

var protocols = []string{otlpexporter.ProtocolGRPC, otlpexporter.ProtocolHTTP}

func makeTraces(spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range spans {
		sp := ss.Spans().AppendEmpty()
		sp.SetName(fmt.Sprintf("op-%d", i))
		sp.SetTraceID(pcommon.TraceID{1, byte(i)})
		sp.SetSpanID(pcommon.SpanID{2, byte(i)})
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(testNow))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(testNow.Add(time.Millisecond)))
		sp.Attributes().PutInt("i", int64(i))
	}
	return td
}

func makeLogs(records int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range records {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(testNow))
		lr.Body().SetStr(fmt.Sprintf("record %d", i))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
	}
	return ld
}

func makeMetrics(points int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("requests")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for i := range points {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(testNow))
		dp.SetIntValue(int64(i))
		dp.Attributes().PutInt("i", int64(i))
	}
	return md
}

func TestExportEverySignal(t *testing.T) {
	for _, protocol := range protocols {
		for _, compression := range []string{otlpexporter.CompressionGzip, otlpexporter.CompressionNone} {
			t.Run(protocol+"/"+compression, func(t *testing.T) {
				h := newHarness(t, protocol, newFake(), "--otlp-compression", compression,
					"--otlp-header", "Authorization=Bearer s3cret", "--otlp-header", "X-Tenant=acme")
				require.NoError(t, h.exp.ExportTraces(t.Context(), makeTraces(3)))
				require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs(2)))
				require.NoError(t, h.exp.ExportMetrics(t.Context(), makeMetrics(4)))
				require.NoError(t, h.exp.ExportLogs(t.Context(), plog.NewLogs()), "nothing to send")

				wantEnc := ""
				if compression == otlpexporter.CompressionGzip {
					wantEnc = "gzip"
				}
				reqs := h.fake.seen()
				var got []string
				for _, r := range reqs {
					got = append(got, fmt.Sprintf("%s:%d", r.signal, r.items))
					require.Equal(t, wantEnc, r.encoding, "%s request", r.signal)
					require.Equal(t, "Bearer s3cret", r.header.Get("Authorization"))
					require.Equal(t, "acme", r.header.Get("X-Tenant"))
					require.Contains(t, r.header.Get("User-Agent"), "estate-collector")
				}
				require.Equal(t, []string{"traces:3", "logs:2", "metrics:4"}, got, "every signal, decoded by the server")
				require.Empty(t, cmp.Diff(map[string]float64{"traces/accepted": 3, "logs/accepted": 2, "metrics/accepted": 4}, h.items(t)))
				require.InDelta(t, 3, h.counter(t, "estate_otlp_exporter_requests_total"), 0)
			})
		}
	}
}

func TestRetry(t *testing.T) {
	const ms = time.Millisecond
	var (
		ok          = answer{}
		unavailable = answer{code: codes.Unavailable, status: http.StatusServiceUnavailable}
	)
	tests := []struct {
		name      string
		only      string // a protocol, when the case is one protocol's
		script    []answer
		wantCalls int
		wantSleep []time.Duration
		wantErr   string // "", "permanent", "throttle", "transient"
		wantDelay time.Duration
	}{
		{"unavailable then success", "", []answer{unavailable}, 2, []time.Duration{100 * ms}, "", 0},
		{"backoff doubles", "", []answer{unavailable, unavailable, {code: codes.Aborted, status: http.StatusBadGateway}}, 4,
			[]time.Duration{100 * ms, 200 * ms, 400 * ms}, "", 0},
		{"gateway timeout", "", []answer{{code: codes.DeadlineExceeded, status: http.StatusGatewayTimeout}}, 2, []time.Duration{100 * ms}, "", 0},
		{"server delay honoured", "", []answer{{code: codes.Unavailable, status: http.StatusServiceUnavailable, delay: 2 * time.Second}}, 2,
			[]time.Duration{2 * time.Second}, "", 0},
		{"throttled with a delay", "", []answer{{code: codes.ResourceExhausted, status: http.StatusTooManyRequests, delay: time.Second}}, 2,
			[]time.Duration{time.Second}, "", 0},
		{"429 without a delay backs off", otlpexporter.ProtocolHTTP, []answer{{status: http.StatusTooManyRequests}}, 2, []time.Duration{100 * ms}, "", 0},
		{"resource exhausted without retry info", otlpexporter.ProtocolGRPC, []answer{{code: codes.ResourceExhausted}}, 1, nil, "permanent", 0},
		{"long server delay handed back", "", []answer{{code: codes.Unavailable, status: http.StatusServiceUnavailable, delay: 30 * time.Second}}, 1,
			nil, "throttle", 30 * time.Second},
		{"attempts exhausted", "", []answer{unavailable, unavailable, unavailable, unavailable, unavailable}, 5,
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms}, "transient", 0},
		{"invalid argument / 400", "", []answer{{code: codes.InvalidArgument, status: http.StatusBadRequest}}, 1, nil, "permanent", 0},
		{"unauthenticated / 401", "", []answer{{code: codes.Unauthenticated, status: http.StatusUnauthorized}}, 1, nil, "permanent", 0},
		{"permission denied / 403", "", []answer{{code: codes.PermissionDenied, status: http.StatusForbidden}}, 1, nil, "permanent", 0},
		{"unimplemented / 404", "", []answer{{code: codes.Unimplemented, status: http.StatusNotFound}}, 1, nil, "permanent", 0},
		{"internal / 500", "", []answer{{code: codes.Internal, status: http.StatusInternalServerError}}, 1, nil, "permanent", 0},
		{"too large", otlpexporter.ProtocolHTTP, []answer{{status: http.StatusRequestEntityTooLarge}}, 1, nil, "permanent", 0},
		{"success", "", []answer{ok}, 1, nil, "", 0},
	}
	for _, protocol := range protocols {
		for _, tc := range tests {
			if tc.only != "" && tc.only != protocol {
				continue
			}
			t.Run(protocol+"/"+tc.name, func(t *testing.T) {
				h := newHarness(t, protocol, newFake(tc.script...))
				err := h.exp.ExportTraces(t.Context(), makeTraces(2))
				require.Len(t, h.fake.seen(), tc.wantCalls)
				require.Empty(t, cmp.Diff(tc.wantSleep, h.sleeps.All()))
				require.InDelta(t, len(tc.wantSleep), h.counter(t, "estate_otlp_exporter_retries_total"), 0)
				require.InDelta(t, tc.wantCalls, h.counter(t, "estate_otlp_exporter_requests_total"), 0)
				var perm *delivery.PermanentError
				var thr *delivery.ThrottleError
				switch tc.wantErr {
				case "":
					require.NoError(t, err)
					require.Empty(t, cmp.Diff(map[string]float64{"traces/accepted": 2}, h.items(t)))
				case "permanent":
					require.ErrorAs(t, err, &perm)
					require.ErrorContains(t, err, "scripted", "the receiver's message")
					require.Empty(t, cmp.Diff(map[string]float64{"traces/failed": 2}, h.items(t)))
				case "throttle":
					require.ErrorAs(t, err, &thr)
					require.Equal(t, tc.wantDelay, thr.RetryAfter())
					require.Empty(t, h.items(t), "the queue sends it again")
				case "transient":
					require.Error(t, err)
					require.NotErrorAs(t, err, &perm)
					require.NotErrorAs(t, err, &thr)
					require.False(t, delivery.IsShutdown(err))
					require.Empty(t, h.items(t), "the queue sends it again")
				}
			})
		}
	}
}

func TestRetryAfterAsADate(t *testing.T) {
	date := testNow.Add(3 * time.Second).Format(http.TimeFormat)
	h := newHarness(t, otlpexporter.ProtocolHTTP, newFake(answer{status: http.StatusServiceUnavailable, retryAfter: date}))
	require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs(1)))
	require.Equal(t, []time.Duration{3 * time.Second}, h.sleeps.All(), "read against the injected clock")
}

func TestPartialSuccessIsCountedNotRetried(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			h := newHarness(t, protocol, newFake(answer{rejected: 2}, answer{rejected: 1}, answer{rejected: 4}))
			require.NoError(t, h.exp.ExportTraces(t.Context(), makeTraces(5)))
			require.NoError(t, h.exp.ExportLogs(t.Context(), makeLogs(3)))
			require.NoError(t, h.exp.ExportMetrics(t.Context(), makeMetrics(4)))
			require.Len(t, h.fake.seen(), 3, "nothing sent again")
			require.Empty(t, h.sleeps.All())
			require.Empty(t, cmp.Diff(map[string]float64{
				"traces/accepted": 3, "traces/rejected": 2,
				"logs/accepted": 2, "logs/rejected": 1,
				"metrics/rejected": 4,
			}, h.items(t)))
		})
	}
}

func TestShutdownCancelsAnExportInFlight(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			h := newHarness(t, protocol, newFake(answer{block: true}))
			result := make(chan error, 1)
			go func() { result <- h.exp.ExportMetrics(context.Background(), makeMetrics(1)) }()
			<-h.fake.blocked
			require.NoError(t, h.exp.Shutdown(t.Context()))
			err := <-result
			var shut *delivery.ShutdownError
			require.ErrorAs(t, err, &shut)
			require.ErrorIs(t, err, delivery.ErrShutdown)
			require.Empty(t, h.items(t))

			require.ErrorIs(t, h.exp.ExportTraces(t.Context(), makeTraces(1)), delivery.ErrShutdown, "refused after Shutdown")
			require.Len(t, h.fake.seen(), 1)
		})
	}
}

func TestCallerContextEndingIsAShutdown(t *testing.T) {
	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			f := newFake(answer{code: codes.Unavailable, status: http.StatusServiceUnavailable})
			ctx, cancel := context.WithCancel(t.Context())
			exp, err := otlpexporter.New(defaults(t, "--otlp-endpoint", f.start(t, protocol, nil), "--otlp-protocol", protocol),
				otlpexporter.Options{Sleep: func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }})
			require.NoError(t, err)
			defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
			err = exp.ExportTraces(ctx, makeTraces(1))
			require.True(t, delivery.IsShutdown(err), "%v", err)
			require.ErrorIs(t, err, context.Canceled)
		})
	}
}

func TestTLS(t *testing.T) {
	// The certificate httptest makes, served by both protocols.
	certSrv := httptest.NewTLSServer(http.NotFoundHandler())
	cert := certSrv.Certificate()
	tc := &tls.Config{Certificates: certSrv.TLS.Certificates, MinVersion: tls.VersionTLS12}
	certSrv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600))

	for _, protocol := range protocols {
		t.Run(protocol, func(t *testing.T) {
			f := newFake()
			endpoint := f.start(t, protocol, tc)
			require.True(t, strings.HasPrefix(endpoint, "https://"))
			export := func(args ...string) error {
				cfg := defaults(t, append([]string{"--otlp-endpoint", endpoint, "--otlp-protocol", protocol, "--otlp-max-attempts", "1"}, args...)...)
				exp, err := otlpexporter.New(cfg, otlpexporter.Options{})
				require.NoError(t, err)
				defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()
				return exp.ExportLogs(t.Context(), makeLogs(1))
			}
			require.ErrorContains(t, export(), "certificate", "the system roots do not know the test CA")
			require.NoError(t, export("--otlp-ca-file", ca))
			require.Len(t, f.seen(), 1)
		})
	}
}
