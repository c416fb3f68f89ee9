package otlp

import (
	"context"
	"errors"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func registerGRPC(s *grpc.Server, r *Receiver) {
	ptraceotlp.RegisterGRPCServer(s, &tracesServer{r: r})
	plogotlp.RegisterGRPCServer(s, &logsServer{r: r})
	pmetricotlp.RegisterGRPCServer(s, &metricsServer{r: r})
}

// tap refuses new RPCs before they are decoded while the limiter is full.
func (r *Receiver) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if r.opts.Limiter.Full() {
		r.m.requests.WithLabelValues("grpc", "unknown", outcomeMemory).Inc()
		return ctx, retryStatus(codes.ResourceExhausted, "memory limit reached", r.opts.RetryAfter)
	}
	return ctx, nil
}

// retryStatus is a retryable status carrying RetryInfo, which OTLP
// exporters honour (RESOURCE_EXHAUSTED is retried only with it).
func retryStatus(code codes.Code, msg string, delay time.Duration) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}

// handleGRPC is the shared path of the three services.
func (r *Receiver) handleGRPC(ctx context.Context, c codec, marshal func() (decoded, error)) (int, string, error) {
	if ok, wait := r.allow(grpcSender(ctx)); !ok {
		r.m.requests.WithLabelValues("grpc", c.signal.String(), outcomeRate).Inc()
		return 0, "", retryStatus(codes.ResourceExhausted, errRateLimit.Error(), wait)
	}
	d, err := marshal()
	if err != nil {
		r.m.requests.WithLabelValues("grpc", c.signal.String(), outcomeInvalid).Inc()
		return 0, "", status.Error(codes.InvalidArgument, "invalid OTLP request: "+err.Error())
	}
	// The request is already decoded; reserve what it and its encoding
	// hold so concurrent requests stay under the bound.
	n := int64(len(d.proto)) * 3
	if !r.opts.Limiter.TryAcquire(n) {
		r.m.requests.WithLabelValues("grpc", c.signal.String(), outcomeMemory).Inc()
		return 0, "", retryStatus(codes.ResourceExhausted, "memory limit reached", r.opts.RetryAfter)
	}
	defer r.opts.Limiter.Release(n)
	outcome, delay, err := r.accept(ctx, "grpc", c, d)
	r.m.requests.WithLabelValues("grpc", c.signal.String(), outcome).Inc()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return 0, "", status.Error(codes.Canceled, "request canceled")
		}
		r.opts.Logger.Debug("OTLP/gRPC request refused", "signal", c.signal, "outcome", outcome, "err", err)
		return 0, "", grpcStatus(outcome, err, delay)
	}
	return d.rejected, d.message, nil
}

type tracesServer struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *tracesServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	rejected, msg, err := s.r.handleGRPC(ctx, tracesCodec, func() (decoded, error) {
		return tracesDecoded(req, nil, false, s.r.opts.Redactor)
	})
	resp := ptraceotlp.NewExportResponse()
	if rejected > 0 {
		resp.PartialSuccess().SetRejectedSpans(int64(rejected))
		resp.PartialSuccess().SetErrorMessage(msg)
	}
	return resp, err
}

type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *logsServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	_, _, err := s.r.handleGRPC(ctx, logsCodec, func() (decoded, error) {
		return logsDecoded(req, nil, false, s.r.opts.Redactor)
	})
	return plogotlp.NewExportResponse(), err
}

type metricsServer struct {
	pmetricotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *metricsServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	_, _, err := s.r.handleGRPC(ctx, metricsCodec, func() (decoded, error) {
		return metricsDecoded(req, nil, false, s.r.opts.Redactor)
	})
	return pmetricotlp.NewExportResponse(), err
}
