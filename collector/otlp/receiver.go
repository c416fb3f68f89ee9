// Package otlp is the collector's OTLP receiver: OTLP/gRPC and OTLP/HTTP
// (protobuf or JSON, gzip) for traces, logs and metrics, decoded with the
// OpenTelemetry Collector's pdata packages. A request is acknowledged only
// once the queue has appended it; a memory limiter bounds the bytes in
// flight, and a full queue or limiter answers 429 / RESOURCE_EXHAUSTED with
// a retry delay, which OTLP exporters honour.
package otlp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	_ "google.golang.org/grpc/encoding/gzip" // gzip-compressed OTLP/gRPC requests
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/redact"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/ratelimit"
	"github.com/estatehq/estate/internal/server"
)

// Appender is the queue: Append returns once records are durable. Its errors
// are classified as collector errors: throttle (full), permanent (too
// large), shutdown.
type Appender interface {
	Append(ctx context.Context, records ...[]byte) error
}

// Options are what a receiver is built from.
type Options struct {
	// GRPCAddr and HTTPAddr are listen addresses; empty turns one off.
	GRPCAddr string
	HTTPAddr string
	// MaxRequestBytes bounds one request after decompression.
	MaxRequestBytes int64
	// Limiter is the memory limiter shared by both transports.
	Limiter *Limiter
	// MaxSenderBytes bounds the bytes one OTLP/HTTP sender has in flight,
	// its share of Limiter; by default a quarter of the Limiter, and at
	// least what one request of MaxRequestBytes may hold (four times it:
	// compressed, decompressed, decoded).
	MaxSenderBytes int64
	// Sender names an OTLP/HTTP request's sender; by default its
	// principal (Principal) when it authenticated, else RemoteIP.
	Sender SenderOf
	// Authenticator, when set, requires of the listeners GRPCAuth and
	// HTTPAuth turn on what Access says: the role telemetry.write.
	Authenticator *auth.Authenticator
	GRPCAuth      bool
	HTTPAuth      bool
	// RateLimit bounds the export requests of each sender (named as
	// Sender names them, or by its principal or peer over gRPC); none
	// by default.
	RateLimit RateLimit
	// RetryAfter is the delay suggested when the limiter refuses.
	RetryAfter time.Duration
	Queue      Appender
	// Redactor scrubs every request before it is queued; nil queues
	// requests as received.
	Redactor *redact.Redactor

	// TLS, when set, serves both transports over TLS (with ClientCAs set,
	// only to clients presenting a certificate they sign); nil serves
	// plain text.
	TLS *tls.Config

	Logger *slog.Logger
	// Registry serves /metrics on the HTTP port and receives the receiver's
	// metrics.
	Registry *prometheus.Registry
}

// The OTLP gRPC server's connection bounds.
const (
	grpcHandshakeTimeout = 10 * time.Second
	grpcIdleTimeout      = 2 * time.Minute
	grpcPingAfter        = time.Minute
	grpcPingTimeout      = 20 * time.Second
	grpcMinPingInterval  = 10 * time.Second
)

// Receiver is the OTLP receiver.
type Receiver struct {
	opts    Options
	m       *metrics
	http    *server.Server
	grpc    *grpc.Server
	grpcLn  net.Listener
	grpcErr chan error
	// shares bounds each OTLP/HTTP sender's part of the memory budget.
	shares *shares
	rates  *ratelimit.Limiter
	// routes are the OTLP/HTTP routes.
	routes chi.Router
}

// New returns a receiver; nothing listens until Start.
func New(opts Options) (*Receiver, error) {
	if opts.Queue == nil {
		return nil, errors.New("otlp receiver: no queue")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxRequestBytes <= 0 {
		opts.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if opts.Limiter == nil {
		opts.Limiter = NewLimiter(DefaultMaxInflightBytes)
	}
	if opts.MaxSenderBytes <= 0 {
		opts.MaxSenderBytes = max(opts.Limiter.max/4, 4*opts.MaxRequestBytes)
	}
	if opts.Sender == nil {
		opts.Sender = Principal
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	r := &Receiver{opts: opts, m: newMetrics(opts.Registry, opts.Limiter), grpcErr: make(chan error, 1),
		shares: newShares(opts.MaxSenderBytes), rates: opts.RateLimit.limiter()}
	r.routes = r.newRoutes()
	if opts.HTTPAddr != "" {
		h := r.Handler()
		if opts.Authenticator != nil && opts.HTTPAuth {
			h = opts.Authenticator.Guard(r.routes, Access)(h)
		} else {
			opts.Logger.Warn("OTLP/HTTP accepts telemetry from anyone: authentication is off (collector.otlp.http_auth)", "addr", opts.HTTPAddr)
		}
		r.http = server.New(server.Options{
			Name: "collector-otlp-http", Addr: opts.HTTPAddr, Handler: h,
			Logger: opts.Logger, Registry: opts.Registry, TLS: opts.TLS,
		})
	}
	if opts.GRPCAddr != "" {
		var guard []grpc.ServerOption
		if opts.TLS != nil {
			guard = append(guard, grpc.Creds(credentials.NewTLS(opts.TLS)))
		}
		if opts.Authenticator != nil && opts.GRPCAuth {
			guard = append(guard, grpc.ChainUnaryInterceptor(opts.Authenticator.UnaryGuard(Access)),
				grpc.ChainStreamInterceptor(opts.Authenticator.StreamGuard(Access)))
		} else {
			opts.Logger.Warn("OTLP/gRPC accepts telemetry from anyone: authentication is off (collector.otlp.grpc_auth)", "addr", opts.GRPCAddr)
		}
		r.grpc = grpc.NewServer(append(guard,
			grpc.MaxRecvMsgSize(int(opts.MaxRequestBytes)),
			grpc.InTapHandle(r.tap),
			// A connection that never completes its handshake, or sits
			// idle, or stops answering pings, is closed: none holds a
			// stream or its memory for ever.
			grpc.ConnectionTimeout(grpcHandshakeTimeout),
			grpc.KeepaliveParams(keepalive.ServerParameters{
				MaxConnectionIdle: grpcIdleTimeout, Time: grpcPingAfter, Timeout: grpcPingTimeout,
			}),
			grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: grpcMinPingInterval, PermitWithoutStream: true}),
		)...)
		registerGRPC(r.grpc, r)
	}
	return r, nil
}

// Start binds both listeners.
func (r *Receiver) Start(ctx context.Context) error {
	if r.grpc != nil {
		ln, err := net.Listen("tcp", r.opts.GRPCAddr)
		if err != nil {
			return fmt.Errorf("listening on %s for OTLP/gRPC: %w", r.opts.GRPCAddr, err)
		}
		r.grpcLn = ln
		go func() { r.grpcErr <- r.grpc.Serve(ln) }()
		r.opts.Logger.Info("listening", "target", "collector-otlp-grpc", "addr", ln.Addr().String(), "tls", r.opts.TLS != nil)
	}
	if r.http != nil {
		if err := r.http.Start(ctx); err != nil {
			if r.grpc != nil {
				r.grpc.Stop()
				if serveErr := <-r.grpcErr; serveErr != nil {
					err = errors.Join(err, serveErr)
				}
			}
			return err
		}
	}
	return nil
}

// Shutdown stops accepting and waits for in-flight requests until ctx ends.
func (r *Receiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.http != nil {
		errs = append(errs, r.http.Shutdown(ctx))
	}
	if r.grpc != nil && r.grpcLn != nil {
		stopped := make(chan struct{})
		go func() { r.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-ctx.Done():
			r.grpc.Stop()
			<-stopped
		}
		if err := <-r.grpcErr; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// HTTPAddr and GRPCAddr are the bound addresses once started.
func (r *Receiver) HTTPAddr() string {
	if r.http == nil {
		return ""
	}
	return r.http.Addr()
}

// GRPCAddr is the bound OTLP/gRPC address once started.
func (r *Receiver) GRPCAddr() string {
	if r.grpcLn == nil {
		return r.opts.GRPCAddr
	}
	return r.grpcLn.Addr().String()
}

// outcome of one request, a metric label.
const (
	outcomeAccepted = "accepted"
	outcomePartial  = "partial"
	outcomeInvalid  = "invalid"
	outcomeMemory   = "refused_memory"
	outcomeRate     = "refused_rate"
	outcomeFull     = "refused_queue_full"
	outcomeTooLarge = "too_large"
	outcomeError    = "error"
)

// accept appends one decoded request; it returns the outcome and, for a
// refusal, the error to report and the delay to suggest.
func (r *Receiver) accept(ctx context.Context, transport string, c codec, d decoded) (string, time.Duration, error) {
	sig := c.signal.String()
	if d.rejected > 0 {
		r.m.items.WithLabelValues(transport, sig, "rejected").Add(float64(d.rejected))
	}
	if d.proto != nil {
		err := r.opts.Queue.Append(ctx, collector.EncodeRecord(c.signal, d.proto))
		if err != nil {
			if delay, ok := delivery.RetryAfter(err); ok {
				return outcomeFull, max(delay, r.opts.RetryAfter), err
			}
			if delivery.IsPermanent(err) {
				return outcomeTooLarge, 0, err
			}
			return outcomeError, r.opts.RetryAfter, err
		}
		r.m.bytes.WithLabelValues(transport, sig).Add(float64(len(d.proto)))
	}
	r.m.items.WithLabelValues(transport, sig, "accepted").Add(float64(d.accepted))
	if d.rejected > 0 {
		return outcomePartial, 0, nil
	}
	return outcomeAccepted, 0, nil
}

// grpcStatus maps an outcome to the gRPC status OTLP clients act on.
func grpcStatus(outcome string, err error, delay time.Duration) error {
	switch outcome {
	case outcomeMemory, outcomeFull:
		return retryStatus(codes.ResourceExhausted, err.Error(), delay)
	case outcomeInvalid, outcomeTooLarge:
		return status.Error(codes.InvalidArgument, err.Error())
	default:
		return retryStatus(codes.Unavailable, "the queue could not take the request; retry", delay)
	}
}
