// Package otlpexporter sends traces, logs and metrics to an OTLP receiver
// (an OpenTelemetry Collector, a vendor's endpoint, another Estate) over
// OTLP/gRPC or OTLP/HTTP protobuf, as the OpenTelemetry Collector's
// otlpexporter and otlphttpexporter do. It retries what the OTLP
// specification calls retryable, honours the receiver's RetryInfo and
// Retry-After, and counts, never retries, what a partial success rejected.
//
// Only what is particular to OTLP is here: the lifecycle, retry with
// backoff, TLS, the reading of gRPC and HTTP answers and the error classes
// are internal/delivery's.
package otlpexporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/internal/delivery"
)

// userAgent names the exporter to receivers.
const userAgent = "estate-collector"

// Options are the exporter's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now reads Retry-After dates; time.Now when nil.
	Now func() time.Time
	// Sleep waits between retries and returns early with ctx's error;
	// delivery.Sleep when nil. Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// DialOptions are added to the gRPC client's, for tests.
	DialOptions []grpc.DialOption
	// Transport sends OTLP/HTTP requests; one built from the configuration
	// (TLS) when nil.
	Transport http.RoundTripper
}

// Exporter sends telemetry to one OTLP receiver. Its methods are safe for
// concurrent use.
type Exporter struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	metrics *delivery.Metrics
	retry   delivery.Retry
	life    delivery.Lifecycle

	// OTLP/gRPC
	conn     *grpc.ClientConn
	callOpts []grpc.CallOption
	metadata []string // the headers, as gRPC metadata pairs

	// OTLP/HTTP
	client   *http.Client
	base     string // the endpoint, without a trailing slash
	ownsConn bool
}

// New builds an exporter from a valid configuration. It does not connect:
// the first export does, and reconnects are the transport's.
func New(cfg Config, opts Options) (*Exporter, error) {
	if !cfg.Enabled() {
		return nil, errors.New("otlp.endpoint: must be set")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tel := delivery.Telemetry{Logger: opts.Logger, Registerer: opts.Registerer, Now: opts.Now}.Defaults()
	var preset [][]string
	for _, sig := range []string{"traces", "logs", "metrics"} {
		for _, outcome := range []string{"accepted", "rejected", "failed"} {
			preset = append(preset, []string{sig, outcome})
		}
	}
	m, err := delivery.NewMetrics(tel.Registerer, delivery.MetricsOpts{
		Subsystem: "otlp_exporter",
		ItemsName: "items_total", ItemLabels: []string{"signal", "outcome"}, Preset: preset,
		ItemsHelp:    "Spans, log records and data points by signal and outcome: accepted, rejected (partial success, not retried), failed (permanent error).",
		RequestsHelp: "Export requests by status: a gRPC code name, an HTTP status, or error when no answer came.",
	})
	if err != nil {
		return nil, err
	}
	e := &Exporter{cfg: cfg, log: tel.Logger.With("exporter", "otlp", "protocol", cfg.Protocol), now: tel.Now, metrics: m}
	if cfg.InsecureSkipVerify {
		e.log.Warn("otlp.insecure_skip_verify is on: the OTLP receiver's certificate is NOT verified, and anyone on the path can read and change the telemetry; use otlp.ca_file instead outside a lab")
	}
	e.retry = cfg.Retry()
	e.retry.Sleep = opts.Sleep
	e.retry.OnRetry = func(attempt int, err error, delay time.Duration) {
		e.metrics.Retries.Inc()
		e.log.Debug("retrying OTLP export", "attempt", attempt, "delay", delay, "err", err)
	}
	if cfg.Protocol == ProtocolGRPC {
		err = e.dialGRPC(opts.DialOptions)
	} else {
		err = e.buildHTTP(opts.Transport)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Start begins connecting over gRPC, so that the first export does not pay
// for it. A receiver that is down is not an error: exports retry.
func (e *Exporter) Start(context.Context) error {
	if e.conn != nil {
		e.conn.Connect()
	}
	return nil
}

// Shutdown stops exports in progress (they return a
// *delivery.ShutdownError), waits for them or for ctx, and closes the
// connections.
func (e *Exporter) Shutdown(ctx context.Context) error {
	err := e.life.Shutdown(ctx)
	if e.conn != nil {
		if cerr := e.conn.Close(); cerr != nil && status.Code(cerr) != codes.Canceled {
			err = errors.Join(err, fmt.Errorf("closing the OTLP connection: %w", cerr))
		}
	}
	if e.ownsConn {
		e.client.CloseIdleConnections()
	}
	return err
}

// ExportTraces sends td. nil means the receiver accepted the request; spans
// it rejected in a partial success are counted and logged, as OTLP says
// they must not be retried. An error means the caller must send the same
// batch again later, unless it is a *delivery.PermanentError (the receiver
// refused it for good: InvalidArgument, Unauthenticated, HTTP 400...); a
// *delivery.ThrottleError carries the receiver's delay when it is longer
// than MaxBackoff or the attempts ran out; a *delivery.ShutdownError means
// ctx ended or Shutdown was called.
func (e *Exporter) ExportTraces(ctx context.Context, td ptrace.Traces) error {
	return export(ctx, e, tracesSignal, ptraceotlp.NewExportRequestFromTraces(td), td.SpanCount())
}

// ExportLogs sends ld, as ExportTraces sends traces.
func (e *Exporter) ExportLogs(ctx context.Context, ld plog.Logs) error {
	return export(ctx, e, logsSignal, plogotlp.NewExportRequestFromLogs(ld), ld.LogRecordCount())
}

// ExportMetrics sends md, as ExportTraces sends traces; its items are data
// points.
func (e *Exporter) ExportMetrics(ctx context.Context, md pmetric.Metrics) error {
	return export(ctx, e, metricsSignal, pmetricotlp.NewExportRequestFromMetrics(md), md.DataPointCount())
}

type request interface{ MarshalProto() ([]byte, error) }

type response[P partial] interface {
	UnmarshalProto([]byte) error
	PartialSuccess() P
}

type partial interface{ ErrorMessage() string }

type grpcClient[Req request, Resp any] interface {
	Export(ctx context.Context, req Req, opts ...grpc.CallOption) (Resp, error)
}

// signal is what differs between traces, logs and metrics: the pdata
// types, the OTLP/HTTP path, and the count in a partial success.
type signal[Req request, Resp response[P], C grpcClient[Req, Resp], P partial] struct {
	name, path  string
	newResponse func() Resp
	newClient   func(*grpc.ClientConn) C
	rejected    func(P) int64
}

var (
	tracesSignal = signal[ptraceotlp.ExportRequest, ptraceotlp.ExportResponse, ptraceotlp.GRPCClient, ptraceotlp.ExportPartialSuccess]{
		"traces", "/v1/traces", ptraceotlp.NewExportResponse, ptraceotlp.NewGRPCClient, ptraceotlp.ExportPartialSuccess.RejectedSpans}
	logsSignal = signal[plogotlp.ExportRequest, plogotlp.ExportResponse, plogotlp.GRPCClient, plogotlp.ExportPartialSuccess]{
		"logs", "/v1/logs", plogotlp.NewExportResponse, plogotlp.NewGRPCClient, plogotlp.ExportPartialSuccess.RejectedLogRecords}
	metricsSignal = signal[pmetricotlp.ExportRequest, pmetricotlp.ExportResponse, pmetricotlp.GRPCClient, pmetricotlp.ExportPartialSuccess]{
		"metrics", "/v1/metrics", pmetricotlp.NewExportResponse, pmetricotlp.NewGRPCClient, pmetricotlp.ExportPartialSuccess.RejectedDataPoints}
)

// export sends one request of items, retrying with delivery.Retry.
func export[Req request, Resp response[P], C grpcClient[Req, Resp], P partial](ctx context.Context, e *Exporter, s signal[Req, Resp, C, P], req Req, items int) error {
	ctx, done, err := e.life.Begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	if items == 0 {
		return nil
	}
	var resp Resp
	send, err := sender(e, s, req)
	if err == nil {
		err = e.retry.Do(ctx, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
			defer cancel()
			start := time.Now()
			r, code, err := send(ctx)
			e.metrics.Observe(start, code)
			resp = r
			return err
		})
	}
	if err != nil {
		if delivery.IsPermanent(err) {
			e.metrics.Items.WithLabelValues(s.name, "failed").Add(float64(items))
		}
		return fmt.Errorf("exporting %s over OTLP: %w", s.name, err)
	}
	ps := resp.PartialSuccess()
	rejected := s.rejected(ps)
	if rejected > 0 {
		e.log.Warn("the OTLP receiver rejected part of an export", "signal", s.name, "rejected", rejected, "of", items, "message", ps.ErrorMessage())
	}
	e.metrics.Accepted(int64(items), rejected, s.name)
	return nil
}

// sender makes the function that sends req once over the configured
// protocol, and returns the response, its code (a metric label) and the
// error of a failed attempt, classified as delivery does.
func sender[Req request, Resp response[P], C grpcClient[Req, Resp], P partial](e *Exporter, s signal[Req, Resp, C, P], req Req) (func(context.Context) (Resp, string, error), error) {
	if e.conn != nil {
		client := s.newClient(e.conn)
		return func(ctx context.Context) (Resp, string, error) {
			resp, err := client.Export(e.outgoing(ctx), req, e.callOpts...)
			return resp, status.Code(err).String(), delivery.GRPCError(err)
		}, nil
	}
	body, err := e.encode(req)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (Resp, string, error) {
		b, code, err := e.post(ctx, s.path, body)
		resp := s.newResponse()
		if err == nil && len(b) > 0 {
			if uerr := resp.UnmarshalProto(b); uerr != nil {
				// The receiver took the data; only its partial success is
				// lost. Sending the data again would duplicate it.
				e.log.Warn("undecodable OTLP/HTTP response; counted as accepted", "signal", s.name, "err", uerr)
				resp = s.newResponse()
			}
		}
		return resp, code, err
	}, nil
}
