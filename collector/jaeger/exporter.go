// Package jaeger exports traces to Jaeger's OTLP gRPC receiver, retrying
// what the OTLP specification calls retryable and honoring the server's
// RetryInfo delays. Jaeger v2 takes OTLP natively, so no translation to
// Jaeger's model happens here: what the collector received is what Jaeger
// stores.
package jaeger

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/collector"
)

// Options are the exporter's dependencies.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Sleep waits between retries and returns early with ctx's error; a
	// timer when nil. Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// DialOptions are added to the gRPC client's, for tests.
	DialOptions []grpc.DialOption
}

// Exporter sends traces to one Jaeger. Its methods are safe for concurrent
// use.
type Exporter struct {
	cfg     Config
	log     *slog.Logger
	sleep   func(context.Context, time.Duration) error
	conn    *grpc.ClientConn
	client  ptraceotlp.GRPCClient
	callOpt []grpc.CallOption
	metrics *metrics

	life     context.Context
	stop     context.CancelCauseFunc
	closeMu  sync.Mutex // orders inflight.Add before Shutdown's Wait
	closed   bool
	inflight sync.WaitGroup
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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	creds := insecure.NewCredentials()
	if cfg.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("jaeger.ca_file: %w", err)
			}
			pool, err := x509.SystemCertPool()
			if err != nil || pool == nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("jaeger.ca_file: no PEM certificate in %s", cfg.CAFile)
			}
			tc.RootCAs = pool
		}
		creds = credentials.NewTLS(tc)
	}
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, opts.DialOptions...)
	conn, err := grpc.NewClient(cfg.Endpoint, dial...)
	if err != nil {
		return nil, fmt.Errorf("jaeger.endpoint: %w", err)
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	var callOpt []grpc.CallOption
	if cfg.Compression == CompressionGzip {
		callOpt = append(callOpt, grpc.UseCompressor(gzip.Name))
	}
	life, stop := context.WithCancelCause(context.Background())
	return &Exporter{
		cfg: cfg, log: opts.Logger.With("exporter", "jaeger"), sleep: opts.Sleep,
		conn: conn, client: ptraceotlp.NewGRPCClient(conn), callOpt: callOpt, metrics: m,
		life: life, stop: stop,
	}, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
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
	e.closeMu.Lock()
	e.closed = true
	e.closeMu.Unlock()
	e.stop(ErrShutdown)
	done := make(chan struct{})
	go func() {
		e.inflight.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("waiting for exports to stop: %w", ctx.Err())
	}
	if cerr := e.conn.Close(); cerr != nil && status.Code(cerr) != codes.Canceled {
		err = errors.Join(err, fmt.Errorf("closing connection to jaeger: %w", cerr))
	}
	return err
}

// ExportTraces sends td. nil means Jaeger accepted the request; spans it
// rejected in a partial success are counted and logged, as OTLP says they
// must not be retried. An error means the caller must send the same batch
// again later, unless it is a *PermanentError (Jaeger refused it for good:
// InvalidArgument, Unauthenticated, Unimplemented...); a *ThrottleError
// carries Jaeger's RetryInfo delay; a *ShutdownError means ctx ended or
// Shutdown was called.
func (e *Exporter) ExportTraces(ctx context.Context, td ptrace.Traces) error {
	if !e.enter() {
		return &ShutdownError{Err: ErrShutdown}
	}
	defer e.inflight.Done()
	if td.SpanCount() == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopAfter := context.AfterFunc(e.life, func() { cancel(ErrShutdown) })
	defer stopAfter()

	spans := td.SpanCount()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	for attempt := 1; ; attempt++ {
		rctx, rcancel := context.WithTimeout(ctx, e.cfg.Timeout)
		start := time.Now()
		resp, err := e.client.Export(rctx, req, e.callOpt...)
		rcancel()
		e.metrics.duration.Observe(time.Since(start).Seconds())
		e.metrics.requests.WithLabelValues(status.Code(err).String()).Inc()
		if err == nil {
			rejected := resp.PartialSuccess().RejectedSpans()
			if rejected > 0 {
				e.log.Warn("jaeger rejected spans", "rejected", rejected, "of", spans, "message", resp.PartialSuccess().ErrorMessage())
			}
			e.metrics.spans.WithLabelValues("accepted").Add(float64(int64(spans) - rejected))
			e.metrics.spans.WithLabelValues("rejected").Add(float64(rejected))
			return nil
		}
		if serr := collector.ContextShutdown(ctx); serr != nil {
			return serr
		}
		st := status.Convert(err)
		delay, hasDelay := retryDelay(st)
		if !retryable(st.Code(), hasDelay) {
			e.metrics.spans.WithLabelValues("failed").Add(float64(spans))
			return &PermanentError{Err: fmt.Errorf("exporting to jaeger: %w", err)}
		}
		if !hasDelay {
			delay = e.backoff(attempt)
		}
		if attempt >= e.cfg.MaxAttempts || delay > e.cfg.MaxBackoff {
			err := fmt.Errorf("exporting to jaeger, %d attempts: %w", attempt, err)
			if hasDelay {
				return &ThrottleError{Err: err, Delay: delay}
			}
			return err
		}
		e.metrics.retries.Inc()
		e.log.Debug("retrying export to jaeger", "code", st.Code().String(), "delay", delay, "attempt", attempt)
		if err := e.sleep(ctx, delay); err != nil {
			if serr := collector.ContextShutdown(ctx); serr != nil {
				return serr
			}
			return &ShutdownError{Err: err}
		}
	}
}

// retryable is the OTLP specification's list: ResourceExhausted only when
// the server says when to come back, as it may otherwise mean the request
// itself is too large.
func retryable(c codes.Code, hasRetryInfo bool) bool {
	switch c {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return true
	case codes.ResourceExhausted:
		return hasRetryInfo
	default:
		return false
	}
}

// retryDelay is the RetryInfo delay in st's details, if any.
func retryDelay(st *status.Status) (time.Duration, bool) {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.GetRetryDelay() != nil {
			return max(ri.GetRetryDelay().AsDuration(), 0), true
		}
	}
	return 0, false
}

func (e *Exporter) backoff(attempt int) time.Duration {
	d := e.cfg.InitialBackoff
	for i := 1; i < attempt && d < e.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, e.cfg.MaxBackoff)
}

type metrics struct {
	spans    *prometheus.CounterVec
	requests *prometheus.CounterVec
	retries  prometheus.Counter
	duration prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "estate", "jaeger_exporter"
	m := &metrics{
		spans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "spans_total",
			Help: "Spans by outcome: accepted, rejected (partial success, not retried), failed (permanent error).",
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Export requests by gRPC status code.",
		}, []string{"code"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "retries_total",
			Help: "Export requests sent again after a retryable error.",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "request_duration_seconds",
			Help:    "Duration of export requests.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.spans, m.requests, m.retries, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering jaeger exporter metrics: %w", err)
		}
	}
	for _, o := range []string{"accepted", "rejected", "failed"} {
		m.spans.WithLabelValues(o)
	}
	return m, nil
}

// enter registers an export in progress, unless Shutdown has begun.
func (e *Exporter) enter() bool {
	e.closeMu.Lock()
	defer e.closeMu.Unlock()
	if e.closed {
		return false
	}
	e.inflight.Add(1)
	return true
}
