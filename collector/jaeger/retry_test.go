package jaeger_test

import (
	"context"
	"errors"
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/estatehq/estate/collector/jaeger"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/delivery/deliverytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scriptedServer answers Export with the scripted errors in turn, then
// success (with a partial success of rejected spans, if set).
type scriptedServer struct {
	ptraceotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	script   []error
	rejected int64
	calls    int
	spans    int
}

func (s *scriptedServer) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.script) > 0 {
		err := s.script[0]
		s.script = s.script[1:]
		return ptraceotlp.NewExportResponse(), err
	}
	s.spans += req.Traces().SpanCount()
	resp := ptraceotlp.NewExportResponse()
	if s.rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(s.rejected)
		resp.PartialSuccess().SetErrorMessage("spans too old")
	}
	return resp, nil
}

func startScripted(t *testing.T, s *scriptedServer) string {
	t.Helper()
	gs := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(gs, s)
	return deliverytest.ServeGRPC(t, gs)
}

func defaults(t *testing.T, endpoint string) jaeger.Config {
	t.Helper()
	var cfg jaeger.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse([]string{"--jaeger-endpoint", endpoint}))
	return cfg
}

func withRetryInfo(c codes.Code, d time.Duration) error {
	st, err := status.New(c, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func oneSpan() ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("op")
	sp.SetTraceID([16]byte{1})
	sp.SetSpanID([8]byte{1})
	return td
}

func TestRetryByCode(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name      string
		script    []error
		wantCalls int
		wantSleep []time.Duration
		wantErr   string // "", "permanent", "throttle", "transient"
		wantDelay time.Duration
	}{
		{"unavailable", []error{status.Error(codes.Unavailable, "down")}, 2, []time.Duration{100 * ms}, "", 0},
		{"unavailable with retry info", []error{withRetryInfo(codes.Unavailable, 2*time.Second)}, 2, []time.Duration{2 * time.Second}, "", 0},
		{"resource exhausted with retry info", []error{withRetryInfo(codes.ResourceExhausted, time.Second)}, 2, []time.Duration{time.Second}, "", 0},
		{"resource exhausted without retry info", []error{status.Error(codes.ResourceExhausted, "too big")}, 1, nil, "permanent", 0},
		{"aborted", []error{status.Error(codes.Aborted, "")}, 2, []time.Duration{100 * ms}, "", 0},
		{"out of range", []error{status.Error(codes.OutOfRange, "")}, 2, []time.Duration{100 * ms}, "", 0},
		{"data loss", []error{status.Error(codes.DataLoss, "")}, 2, []time.Duration{100 * ms}, "", 0},
		{"canceled by the server", []error{status.Error(codes.Canceled, "")}, 2, []time.Duration{100 * ms}, "", 0},
		{"deadline exceeded", []error{status.Error(codes.DeadlineExceeded, "")}, 2, []time.Duration{100 * ms}, "", 0},
		{"backoff doubles", []error{status.Error(codes.Unavailable, ""), status.Error(codes.Unavailable, ""), status.Error(codes.Aborted, "")}, 4,
			[]time.Duration{100 * ms, 200 * ms, 400 * ms}, "", 0},
		{"invalid argument", []error{status.Error(codes.InvalidArgument, "bad")}, 1, nil, "permanent", 0},
		{"unauthenticated", []error{status.Error(codes.Unauthenticated, "")}, 1, nil, "permanent", 0},
		{"permission denied", []error{status.Error(codes.PermissionDenied, "")}, 1, nil, "permanent", 0},
		{"unimplemented", []error{status.Error(codes.Unimplemented, "")}, 1, nil, "permanent", 0},
		{"internal", []error{status.Error(codes.Internal, "")}, 1, nil, "permanent", 0},
		{"long retry info is handed back", []error{withRetryInfo(codes.Unavailable, 30*time.Second)}, 1, nil, "throttle", 30 * time.Second},
		{"attempts exhausted", []error{
			status.Error(codes.Unavailable, ""), status.Error(codes.Unavailable, ""), status.Error(codes.Unavailable, ""),
			status.Error(codes.Unavailable, ""), status.Error(codes.Unavailable, ""),
		}, 5, []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms}, "transient", 0},
		{"attempts exhausted with retry info", []error{
			withRetryInfo(codes.ResourceExhausted, ms), withRetryInfo(codes.ResourceExhausted, ms), withRetryInfo(codes.ResourceExhausted, ms),
			withRetryInfo(codes.ResourceExhausted, ms), withRetryInfo(codes.ResourceExhausted, 3*ms),
		}, 5, []time.Duration{ms, ms, ms, ms}, "throttle", 3 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := &scriptedServer{script: tc.script}
			addr := startScripted(t, srv)
			var sl deliverytest.Sleeps
			exp, err := jaeger.New(defaults(t, addr), jaeger.Options{Sleep: sl.Sleep})
			require.NoError(t, err)
			require.NoError(t, exp.Start(t.Context()))
			defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

			err = exp.ExportTraces(t.Context(), oneSpan())
			require.Equal(t, tc.wantCalls, srv.calls)
			require.Equal(t, tc.wantSleep, sl.All())
			var perm *delivery.PermanentError
			var thr *delivery.ThrottleError
			switch tc.wantErr {
			case "":
				require.NoError(t, err)
				require.Equal(t, 1, srv.spans)
			case "permanent":
				require.ErrorAs(t, err, &perm)
			case "throttle":
				require.ErrorAs(t, err, &thr)
				require.Equal(t, tc.wantDelay, thr.RetryAfter())
			case "transient":
				require.Error(t, err)
				require.False(t, errors.As(err, &perm) || errors.As(err, &thr), "%v", err)
			}
		})
	}
}

func TestPartialSuccessIsCounted(t *testing.T) {
	srv := &scriptedServer{rejected: 2}
	addr := startScripted(t, srv)
	reg := prometheus.NewRegistry()
	exp, err := jaeger.New(defaults(t, addr), jaeger.Options{Registerer: reg})
	require.NoError(t, err)
	defer func() { require.NoError(t, exp.Shutdown(context.Background())) }()

	td := oneSpan()
	for range 4 {
		td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty().SetName("more")
	}
	require.NoError(t, exp.ExportTraces(t.Context(), td))
	got := map[string]float64{}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "estate_jaeger_exporter_spans_total" {
			for _, m := range mf.GetMetric() {
				got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, map[string]float64{"accepted": 3, "rejected": 2, "failed": 0}, got)
}

func TestShutdownStopsRetries(t *testing.T) {
	srv := &scriptedServer{script: []error{status.Error(codes.Unavailable, "")}}
	addr := startScripted(t, srv)
	var exp *jaeger.Exporter
	exp, err := jaeger.New(defaults(t, addr), jaeger.Options{Sleep: func(ctx context.Context, _ time.Duration) error {
		go func() { _ = exp.Shutdown(context.Background()) }()
		<-ctx.Done()
		return ctx.Err()
	}})
	require.NoError(t, err)
	var shut *delivery.ShutdownError
	require.ErrorAs(t, exp.ExportTraces(t.Context(), oneSpan()), &shut)
	require.ErrorAs(t, exp.ExportTraces(t.Context(), oneSpan()), &shut)
	require.NoError(t, exp.Shutdown(context.Background()))
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*jaeger.Config)
		want   string
	}{
		{"off is valid", func(c *jaeger.Config) { c.Endpoint = "" }, ""},
		{"defaults", func(*jaeger.Config) {}, ""},
		{"no port", func(c *jaeger.Config) { c.Endpoint = "jaeger" }, "jaeger.endpoint"},
		{"bad port", func(c *jaeger.Config) { c.Endpoint = "jaeger:99999" }, "jaeger.endpoint"},
		{"ca without tls", func(c *jaeger.Config) { c.CAFile = "/nonexistent" }, "jaeger.ca_file"},
		{"compression", func(c *jaeger.Config) { c.Compression = "zstd" }, "jaeger.compression"},
		{"attempts", func(c *jaeger.Config) { c.MaxAttempts = 0 }, "jaeger.max_attempts"},
		{"backoff", func(c *jaeger.Config) { c.MaxBackoff = time.Millisecond }, "jaeger.max_backoff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults(t, "127.0.0.1:4317")
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
