// Package telemetry gives a service its tracing, logs and RED metrics:
// OpenTelemetry tracer and logger providers that export over OTLP gRPC only
// when an endpoint is configured (without one, spans still get ids for log
// correlation and propagation, and nothing is exported or complained about),
// a slog handler that stamps trace_id and span_id on every line logged inside
// a request, and HTTP middleware for traces (named by route pattern), Prometheus
// RED metrics and access logs.
package telemetry

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/delivery"
)

// Config is the telemetry configuration shared by every service.
type Config struct {
	// OTLPEndpoint is the collector's OTLP gRPC host:port; empty exports
	// nothing.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// OTLPInsecure sends OTLP without TLS (a collector on the same host or
	// pod network).
	OTLPInsecure bool `yaml:"otlp_insecure"`
	// OTLPCAFile holds CAs trusted, beside the system roots, to verify the
	// collector when OTLP is sent over TLS.
	OTLPCAFile string `yaml:"otlp_ca_file"`
	// OTLPTokenFile holds the bearer token the exports carry (a static
	// token of the collector's auth.static_tokens); empty sends none but
	// Options.Token's.
	OTLPTokenFile string `yaml:"otlp_token_file"`
	// OTLPRetryFor is how long an export is retried while the collector is
	// unreachable before its batch is dropped; 0 means a minute.
	OTLPRetryFor time.Duration `yaml:"otlp_retry_for"`
}

// RegisterFlags sets the defaults and binds the flags.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.OTLPEndpoint, "telemetry.otlp-endpoint", "", "OTLP gRPC endpoint (host:port) that traces and logs are exported to; empty exports nothing")
	fs.BoolVar(&c.OTLPInsecure, "telemetry.otlp-insecure", true, "export OTLP without TLS")
	fs.StringVar(&c.OTLPCAFile, "telemetry.otlp-ca-file", "", "PEM CAs trusted, beside the system roots, to verify the collector (with --telemetry.otlp-insecure=false)")
	fs.StringVar(&c.OTLPTokenFile, "telemetry.otlp-token-file", "", "file holding the bearer token OTLP exports carry (the collector requires telemetry.write); empty sends none")
	fs.DurationVar(&c.OTLPRetryFor, "telemetry.otlp-retry-for", time.Minute, "how long an export is retried while the collector is unreachable before its spans or log records are dropped (and counted in estate_telemetry_export_dropped_total)")
}

// Validate names the field at fault.
func (c *Config) Validate() error {
	// The CA file is checked even without an endpoint: `estate up` sets
	// the endpoint itself, to the collector it runs.
	errs := []error{c.tls().Validate("telemetry.otlp_")}
	if c.OTLPRetryFor < 0 {
		errs = append(errs, fmt.Errorf("telemetry.otlp_retry_for: must not be negative, not %s", c.OTLPRetryFor))
	}
	if c.OTLPEndpoint != "" {
		if _, _, err := net.SplitHostPort(c.OTLPEndpoint); err != nil {
			errs = append(errs, fmt.Errorf("telemetry.otlp_endpoint: must be host:port, not %q", c.OTLPEndpoint))
		}
	}
	return errors.Join(errs...)
}

// tls is the exporter's TLS: on unless OTLPInsecure.
func (c *Config) tls() delivery.TLS {
	return delivery.TLS{Enabled: !c.OTLPInsecure, CAFile: c.OTLPCAFile}
}

// Options are what Telemetry is built from.
type Options struct {
	Config         Config
	ServiceName    string
	ServiceVersion string
	// Logger is the base logger; its lines gain trace ids, and go to OTLP
	// too when exporting.
	Logger *slog.Logger
	// SpanProcessors receive every span beside the OTLP exporter, for an
	// embedded trace store or a test.
	SpanProcessors []sdktrace.SpanProcessor
	// Token, when set, is the bearer token of every export (client
	// credentials, say); else Config.OTLPTokenFile's.
	Token auth.TokenSource
}

// exportToken is the token source of the exports: Options.Token, else
// the token in Config.OTLPTokenFile, else none.
func exportToken(opts Options) (auth.TokenSource, error) {
	if opts.Token != nil || opts.Config.OTLPTokenFile == "" {
		return opts.Token, nil
	}
	b, err := os.ReadFile(opts.Config.OTLPTokenFile)
	if err != nil {
		return nil, fmt.Errorf("telemetry.otlp_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	return func(context.Context) (string, error) { return tok, nil }, nil
}

// The exporters' bounds while the collector is unreachable (a restart, a
// crash): spans and log records wait in memory, each kind in a queue of at
// most ExportQueueSize, and a batch is retried, with backoff, for
// Config.OTLPRetryFor. An outage longer than that loses the batch being
// retried (counted in estate_telemetry_export_dropped_total), and one that
// fills a queue loses records too (the SDK drops the newest spans and the
// oldest log records). Memory stays bounded: at most ExportQueueSize
// spans and as many log records per service.
const (
	ExportQueueSize = 8192
	// exportBatchSize is the largest batch of one export.
	exportBatchSize = 512
	// exportMaxBackoff caps the wait between two attempts, and between two
	// reconnections of the gRPC connection, so that an export follows the
	// collector's return within seconds.
	exportMaxBackoff = 5 * time.Second
)

// Telemetry is one service's telemetry pipeline.
type Telemetry struct {
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	logger         *slog.Logger
	shutdowns      []func(context.Context) error
	// dropped counts the spans and log records of exports that failed
	// after every retry (OTLPRetryFor), by signal.
	dropped *prometheus.CounterVec
}

// New builds the pipeline. Exporters connect lazily, so a collector that is
// down does not stop the service.
func New(ctx context.Context, opts Options) (*Telemetry, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", opts.ServiceName),
		attribute.String("service.version", opts.ServiceVersion),
	)
	t := &Telemetry{
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_telemetry_export_dropped_total",
			Help: "Spans and log records dropped because their export to the collector failed for telemetry.otlp_retry_for, by signal (traces, logs).",
		}, []string{"signal"}),
	}
	tpOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample()))}
	handler := opts.Logger.Handler()
	if ep := opts.Config.OTLPEndpoint; ep != "" {
		// Retried for OTLPRetryFor, beyond the SDK's default of 10 s for
		// the whole export, so that a collector restart loses nothing.
		retryFor := opts.Config.OTLPRetryFor
		if retryFor <= 0 {
			retryFor = time.Minute
		}
		reconnect := grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
			BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: exportMaxBackoff}})
		topts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(ep), otlptracegrpc.WithTimeout(retryFor),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: 250 * time.Millisecond,
				MaxInterval: exportMaxBackoff, MaxElapsedTime: retryFor}),
			otlptracegrpc.WithDialOption(reconnect)}
		lopts := []otlploggrpc.Option{otlploggrpc.WithEndpoint(ep), otlploggrpc.WithTimeout(retryFor),
			otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: true, InitialInterval: 250 * time.Millisecond,
				MaxInterval: exportMaxBackoff, MaxElapsedTime: retryFor}),
			otlploggrpc.WithDialOption(reconnect)}
		tc, err := opts.Config.tls().ClientConfig("telemetry.otlp_")
		if err != nil {
			return nil, err
		}
		if tc == nil {
			topts = append(topts, otlptracegrpc.WithInsecure())
			lopts = append(lopts, otlploggrpc.WithInsecure())
		} else {
			topts = append(topts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tc)))
			lopts = append(lopts, otlploggrpc.WithTLSCredentials(credentials.NewTLS(tc)))
		}
		token, err := exportToken(opts)
		if err != nil {
			return nil, err
		}
		if token != nil {
			creds := grpc.WithPerRPCCredentials(auth.PerRPC{Token: token, Insecure: opts.Config.OTLPInsecure})
			topts = append(topts, otlptracegrpc.WithDialOption(creds))
			lopts = append(lopts, otlploggrpc.WithDialOption(creds))
		}
		texp, err := otlptracegrpc.New(ctx, topts...)
		if err != nil {
			return nil, fmt.Errorf("creating OTLP trace exporter: %w", err)
		}
		lexp, err := otlploggrpc.New(ctx, lopts...)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("creating OTLP log exporter: %w", err), texp.Shutdown(ctx))
		}
		// The processors' own timeout leaves the exporter its retries.
		tpOpts = append(tpOpts, sdktrace.WithBatcher(droppedSpans{texp, t.dropped.WithLabelValues("traces")},
			sdktrace.WithMaxQueueSize(ExportQueueSize), sdktrace.WithMaxExportBatchSize(exportBatchSize),
			sdktrace.WithExportTimeout(retryFor+exportMaxBackoff)))
		lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(
			droppedLogs{lexp, t.dropped.WithLabelValues("logs")},
			sdklog.WithMaxQueueSize(ExportQueueSize), sdklog.WithExportMaxBatchSize(exportBatchSize),
			sdklog.WithExportTimeout(retryFor+exportMaxBackoff))))
		t.shutdowns = append(t.shutdowns, lp.Shutdown)
		handler = slog.NewMultiHandler(handler, otelslog.NewHandler(opts.ServiceName, otelslog.WithLoggerProvider(lp)))
	}
	for _, sp := range opts.SpanProcessors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	t.shutdowns = append(t.shutdowns, tp.Shutdown)
	t.TracerProvider = tp
	t.logger = slog.New(TraceHandler(handler))
	return t, nil
}

// Collector is the exporters' metrics
// (estate_telemetry_export_dropped_total), for the service's registry.
func (t *Telemetry) Collector() prometheus.Collector { return t.dropped }

// droppedSpans counts the spans of a failed export: the batch processor
// does not export them again.
type droppedSpans struct {
	sdktrace.SpanExporter
	dropped prometheus.Counter
}

func (e droppedSpans) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	return countDropped(e.dropped, len(spans), e.SpanExporter.ExportSpans(ctx, spans))
}

// droppedLogs counts the log records of a failed export.
type droppedLogs struct {
	sdklog.Exporter
	dropped prometheus.Counter
}

func (e droppedLogs) Export(ctx context.Context, records []sdklog.Record) error {
	return countDropped(e.dropped, len(records), e.Exporter.Export(ctx, records))
}

// countDropped counts n records in dropped when their export failed.
func countDropped(dropped prometheus.Counter, n int, err error) error {
	if err != nil {
		dropped.Add(float64(n))
	}
	return err
}

// Logger is the service's logger: the base logger whose lines inside a span
// carry trace_id and span_id.
func (t *Telemetry) Logger() *slog.Logger { return t.logger }

// Shutdown flushes and stops the exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for i := len(t.shutdowns) - 1; i >= 0; i-- {
		errs = append(errs, t.shutdowns[i](ctx))
	}
	return errors.Join(errs...)
}

// TraceHandler wraps h so that a record logged with a context holding a span
// carries trace_id and span_id.
func TraceHandler(h slog.Handler) slog.Handler { return traceHandler{h} }

type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
