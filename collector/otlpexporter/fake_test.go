package otlpexporter_test

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/estatehq/estate/collector/otlpexporter"
	"github.com/estatehq/estate/internal/delivery/deliverytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// answer is what the fake receiver says to one request, in both protocols.
type answer struct {
	code       codes.Code    // gRPC; OK is success
	status     int           // HTTP; 0 is 200
	delay      time.Duration // RetryInfo (gRPC) or Retry-After in seconds (HTTP)
	retryAfter string        // HTTP: a Retry-After to send as it is
	rejected   int64         // a success's partial success
	block      bool          // hold the request until the client gives up
}

// request is what the fake receiver saw of one request.
type request struct {
	signal   string
	items    int
	header   http.Header // HTTP headers, or gRPC metadata
	encoding string      // "gzip" or ""
}

// fake is an OTLP receiver, gRPC and HTTP, answering from a script and then
// with success.
type fake struct {
	mu       sync.Mutex
	script   []answer
	requests []request
	grpcEnc  []string      // compression of gRPC requests, from the stats handler
	blocked  chan struct{} // a blocked request has arrived
}

func newFake(script ...answer) *fake {
	return &fake{script: script, blocked: make(chan struct{}, 1)}
}

func (f *fake) next(r request) answer {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.encoding == "" && len(f.grpcEnc) > len(f.requests) {
		r.encoding = f.grpcEnc[len(f.requests)]
	}
	f.requests = append(f.requests, r)
	if len(f.script) == 0 {
		return answer{}
	}
	a := f.script[0]
	f.script = f.script[1:]
	return a
}

func (f *fake) seen() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// serveGRPC answers one gRPC request; setRejected records a partial success.
func (f *fake) serveGRPC(ctx context.Context, sig string, items int, setRejected func(int64)) error {
	md, _ := metadata.FromIncomingContext(ctx)
	h := http.Header{}
	for k, vs := range md {
		h[http.CanonicalHeaderKey(k)] = vs
	}
	a := f.next(request{signal: sig, items: items, header: h})
	if a.block {
		f.blocked <- struct{}{}
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	}
	if a.code != codes.OK {
		st := status.New(a.code, "scripted")
		if a.delay > 0 {
			st, _ = st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(a.delay)})
		}
		return st.Err()
	}
	setRejected(a.rejected)
	return nil
}

type tracesServer struct {
	ptraceotlp.UnimplementedGRPCServer
	*fake
}

func (s tracesServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	resp := ptraceotlp.NewExportResponse()
	return resp, s.serveGRPC(ctx, "traces", req.Traces().SpanCount(), resp.PartialSuccess().SetRejectedSpans)
}

type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	*fake
}

func (s logsServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	resp := plogotlp.NewExportResponse()
	return resp, s.serveGRPC(ctx, "logs", req.Logs().LogRecordCount(), resp.PartialSuccess().SetRejectedLogRecords)
}

type metricsServer struct {
	pmetricotlp.UnimplementedGRPCServer
	*fake
}

func (s metricsServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	resp := pmetricotlp.NewExportResponse()
	return resp, s.serveGRPC(ctx, "metrics", req.Metrics().DataPointCount(), resp.PartialSuccess().SetRejectedDataPoints)
}

// TagRPC, HandleRPC, TagConn and HandleConn make fake a stats handler that
// sees the compression of gRPC requests, which metadata does not show.
func (f *fake) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (f *fake) HandleRPC(_ context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		f.mu.Lock()
		f.grpcEnc = append(f.grpcEnc, h.Compression)
		f.mu.Unlock()
	}
}
func (f *fake) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (f *fake) HandleConn(context.Context, stats.ConnStats)                       {}

// ServeHTTP answers OTLP/HTTP protobuf, as the specification asks.
func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "POST application/x-protobuf only", http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var items int
	var setRejected func(int64)
	var marshal func() ([]byte, error)
	switch r.URL.Path {
	case "/v1/traces":
		req, resp := ptraceotlp.NewExportRequest(), ptraceotlp.NewExportResponse()
		err, items, setRejected, marshal = req.UnmarshalProto(raw), req.Traces().SpanCount(), resp.PartialSuccess().SetRejectedSpans, resp.MarshalProto
	case "/v1/logs":
		req, resp := plogotlp.NewExportRequest(), plogotlp.NewExportResponse()
		err, items, setRejected, marshal = req.UnmarshalProto(raw), req.Logs().LogRecordCount(), resp.PartialSuccess().SetRejectedLogRecords, resp.MarshalProto
	case "/v1/metrics":
		req, resp := pmetricotlp.NewExportRequest(), pmetricotlp.NewExportResponse()
		err, items, setRejected, marshal = req.UnmarshalProto(raw), req.Metrics().DataPointCount(), resp.PartialSuccess().SetRejectedDataPoints, resp.MarshalProto
	default:
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a := f.next(request{signal: strings.TrimPrefix(r.URL.Path, "/v1/"), items: items, header: r.Header.Clone(), encoding: r.Header.Get("Content-Encoding")})
	w.Header().Set("Content-Type", "application/x-protobuf")
	switch {
	case a.block:
		f.blocked <- struct{}{}
		<-r.Context().Done()
		return
	case a.status != 0 && a.status != http.StatusOK:
		if a.delay > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(a.delay/time.Second)))
		}
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		b, _ := proto.Marshal(&spb.Status{Code: int32(codes.Unavailable), Message: "scripted"})
		w.WriteHeader(a.status)
		_, _ = w.Write(b)
		return
	}
	setRejected(a.rejected)
	b, _ := marshal()
	_, _ = w.Write(b)
}

// start serves f over protocol on loopback, with TLS when tc is set, and
// returns the endpoint URL.
func (f *fake) start(t *testing.T, protocol string, tc *tls.Config) string {
	t.Helper()
	scheme := "http"
	if tc != nil {
		scheme = "https"
	}
	if protocol == otlpexporter.ProtocolHTTP {
		srv := httptest.NewUnstartedServer(f)
		if tc != nil {
			srv.TLS = tc
			srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshakes a test fails on purpose
			srv.StartTLS()
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		return scheme + "://" + srv.Listener.Addr().String()
	}
	opts := []grpc.ServerOption{grpc.StatsHandler(f)}
	if tc != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tc)))
	}
	gs := grpc.NewServer(opts...)
	ptraceotlp.RegisterGRPCServer(gs, &tracesServer{fake: f})
	plogotlp.RegisterGRPCServer(gs, &logsServer{fake: f})
	pmetricotlp.RegisterGRPCServer(gs, &metricsServer{fake: f})
	return scheme + "://" + deliverytest.ServeGRPC(t, gs)
}

// defaults is the configuration the flags give, with extra flags.
func defaults(t *testing.T, args ...string) otlpexporter.Config {
	t.Helper()
	var cfg otlpexporter.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "")
	require.NoError(t, fs.Parse(args))
	return cfg
}

// harness is an exporter pointed at a fake, with its registry and sleeps.
type harness struct {
	fake   *fake
	exp    *otlpexporter.Exporter
	reg    *prometheus.Registry
	sleeps *deliverytest.Sleeps
}

func newHarness(t *testing.T, protocol string, f *fake, args ...string) *harness {
	t.Helper()
	h := &harness{fake: f, reg: prometheus.NewRegistry(), sleeps: &deliverytest.Sleeps{}}
	endpoint := f.start(t, protocol, nil)
	cfg := defaults(t, append([]string{"--otlp-endpoint", endpoint, "--otlp-protocol", protocol}, args...)...)
	exp, err := otlpexporter.New(cfg, otlpexporter.Options{
		Registerer: h.reg, Sleep: h.sleeps.Sleep, Now: func() time.Time { return testNow },
	})
	require.NoError(t, err)
	require.NoError(t, exp.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	h.exp = exp
	return h
}

// items reads estate_otlp_exporter_items_total as signal/outcome -> value,
// leaving out zeros.
func (h *harness) items(t *testing.T) map[string]float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "estate_otlp_exporter_items_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				l := map[string]string{}
				for _, lp := range m.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				out[l["signal"]+"/"+l["outcome"]] = v
			}
		}
	}
	return out
}

// counter reads an unlabelled counter, or the sum of a labelled one.
func (h *harness) counter(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
