// Package jaeger exports traces to Jaeger's OTLP gRPC receiver, retrying
// what the OTLP specification calls retryable and honoring the server's
// RetryInfo delays. Jaeger v2 takes OTLP natively, so no translation to
// Jaeger's model happens here: what the collector received is what Jaeger
// stores.
package jaeger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/internal/delivery"
)

// Options are the exporter's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Sleep waits between retries and returns early with ctx's error;
	// delivery.Sleep when nil. Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// DialOptions are added to the gRPC client's, for tests.
	DialOptions []grpc.DialOption
}

// Exporter sends traces to one Jaeger. Its methods are safe for concurrent
// use.
type Exporter struct {
	cfg     Config
	log     *slog.Logger
	conn    *grpc.ClientConn
	client  ptraceotlp.GRPCClient
	callOpt []grpc.CallOption
	metrics *delivery.Metrics
	retry   delivery.Retry
	life    delivery.Lifecycle
}

// New builds an exporter from a valid configuration. It does not connect:
// gRPC connects on first use and reconnects by itself.
func New(cfg Config, opts Options) (*Exporter, error) {
	if !cfg.Enabled() {
		return nil, errors.New("jaeger.endpoint: must be set")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tel := delivery.Telemetry{Logger: opts.Logger, Registerer: opts.Registerer}.Defaults()
	creds := insecure.NewCredentials()
	tc, err := cfg.tls().ClientConfig("jaeger.")
	if err != nil {
		return nil, err
	}
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	m, err := delivery.NewMetrics(tel.Registerer, delivery.MetricsOpts{
		Subsystem: "jaeger_exporter",
		ItemsName: "spans_total", ItemLabels: []string{"outcome"},
		ItemsHelp:    "Spans by outcome: accepted, rejected (partial success, not retried), failed (permanent error).",
		Preset:       [][]string{{"accepted"}, {"rejected"}, {"failed"}},
		RequestsHelp: "Export requests by gRPC status code.",
	})
	if err != nil {
		return nil, err
	}
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, opts.DialOptions...)
	conn, err := grpc.NewClient(cfg.Endpoint, dial...)
	if err != nil {
		return nil, fmt.Errorf("jaeger.endpoint: %w", err)
	}
	var callOpt []grpc.CallOption
	if cfg.Compression == CompressionGzip {
		callOpt = append(callOpt, grpc.UseCompressor(gzip.Name))
	}
	e := &Exporter{
		cfg: cfg, log: tel.Logger.With("exporter", "jaeger"),
		conn: conn, client: ptraceotlp.NewGRPCClient(conn), callOpt: callOpt, metrics: m,
	}
	e.retry = cfg.Retry()
	e.retry.Sleep = opts.Sleep
	e.retry.OnRetry = func(attempt int, err error, delay time.Duration) {
		e.metrics.Retries.Inc()
		e.log.Debug("retrying export to jaeger", "code", status.Code(err).String(), "delay", delay, "attempt", attempt)
	}
	return e, nil
}

// Start begins connecting, so that the first export does not pay for it.
// Jaeger being down is not an error: exports retry.
func (e *Exporter) Start(context.Context) error {
	e.conn.Connect()
	return nil
}

// Shutdown stops exports in progress (they return a ShutdownError), waits
// for them or for ctx, and closes the connection.
func (e *Exporter) Shutdown(ctx context.Context) error {
	err := e.life.Shutdown(ctx)
	if cerr := e.conn.Close(); cerr != nil && status.Code(cerr) != codes.Canceled {
		err = errors.Join(err, fmt.Errorf("closing connection to jaeger: %w", cerr))
	}
	return err
}

// ExportTraces sends td. nil means Jaeger accepted the request; spans it
// rejected in a partial success are counted and logged, as OTLP says they
// must not be retried. An error means the caller must send the same batch
// again later, unless it is a *delivery.PermanentError (Jaeger refused it
// for good: InvalidArgument, Unauthenticated, Unimplemented...); a
// *delivery.ThrottleError carries Jaeger's RetryInfo delay when it is
// longer than MaxBackoff or the attempts ran out; a *delivery.ShutdownError
// means ctx ended or Shutdown was called.
func (e *Exporter) ExportTraces(ctx context.Context, td ptrace.Traces) error {
	ctx, done, err := e.life.Begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	spans := td.SpanCount()
	if spans == 0 {
		return nil
	}
	req := ptraceotlp.NewExportRequestFromTraces(td)
	var partial ptraceotlp.ExportPartialSuccess
	err = e.retry.Do(ctx, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
		defer cancel()
		start := time.Now()
		resp, err := e.client.Export(ctx, req, e.callOpt...)
		e.metrics.Observe(start, status.Code(err).String())
		if err == nil {
			partial = resp.PartialSuccess()
		}
		return delivery.GRPCError(err)
	})
	if err != nil {
		if delivery.IsPermanent(err) {
			e.metrics.Items.WithLabelValues("failed").Add(float64(spans))
		}
		return fmt.Errorf("exporting to jaeger: %w", err)
	}
	if rejected := partial.RejectedSpans(); rejected > 0 {
		e.log.Warn("jaeger rejected spans", "rejected", rejected, "of", spans, "message", partial.ErrorMessage())
	}
	e.metrics.Accepted(int64(spans), partial.RejectedSpans())
	return nil
}
