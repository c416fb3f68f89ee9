package otlpexporter

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/metadata"
)

// dialGRPC makes the OTLP/gRPC client connection; it does not connect yet.
func (e *Exporter) dialGRPC(extra []grpc.DialOption) error {
	u, err := e.cfg.target()
	if err != nil {
		return err
	}
	tc, err := e.cfg.tls().ClientConfig("otlp.")
	if err != nil {
		return err
	}
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(creds), grpc.WithUserAgent(userAgent)}, extra...)
	if e.conn, err = grpc.NewClient(u.Host, opts...); err != nil {
		return fmt.Errorf("otlp.endpoint: %w", err)
	}
	if e.cfg.Compression == CompressionGzip {
		e.callOpts = append(e.callOpts, grpc.UseCompressor(gzip.Name))
	}
	for k, v := range e.cfg.Headers {
		e.metadata = append(e.metadata, strings.ToLower(k), v)
	}
	return nil
}

// outgoing adds the configured headers to a call's metadata.
func (e *Exporter) outgoing(ctx context.Context) context.Context {
	if len(e.metadata) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, e.metadata...)
}
