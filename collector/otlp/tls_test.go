package otlp

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/internal/server/tlstest"
)

// TestMutualTLS: with client CAs, both transports serve only senders
// presenting a certificate those CAs signed.
func TestMutualTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "estate test CA")
	certFile, keyFile := ca.Server(t).Write(t, t.TempDir())
	reloader, err := server.NewCertReloader(server.ReloaderOptions{TLS: server.TLS{CertFile: certFile, KeyFile: keyFile}})
	require.NoError(t, err)
	senders := tlstest.NewCA(t, "estate senders")
	tc, err := server.RequireClientCerts(reloader.ServerConfig(), senders.WriteCA(t, t.TempDir()), "collector.otlp.")
	require.NoError(t, err)
	q := &fakeQueue{}
	r, err := New(Options{Queue: q, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", TLS: tc})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()

	logs := plog.NewLogs()
	logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hi")
	req := plogotlp.NewExportRequestFromLogs(logs)
	body, err := req.MarshalJSON()
	require.NoError(t, err)

	tests := []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"no client certificate", nil, false},
		{"a certificate of another CA", []tls.Certificate{ca.Client(t, "stranger")}, false},
		{"a sender's certificate", []tls.Certificate{senders.Client(t, "shipper")}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := &tls.Config{RootCAs: ca.Pool(), Certificates: tt.certs, MinVersion: tls.VersionTLS12}

			conn, err := grpc.NewClient(r.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(client)))
			require.NoError(t, err)
			defer conn.Close()
			_, grpcErr := plogotlp.NewGRPCClient(conn).Export(context.Background(), req)

			tr := &http.Transport{TLSClientConfig: client}
			defer tr.CloseIdleConnections()
			resp, httpErr := (&http.Client{Transport: tr}).Post("https://"+server.LoopbackAddr(r.HTTPAddr())+"/v1/logs", "application/json", bytes.NewReader(body))
			if httpErr == nil {
				_ = resp.Body.Close()
			}
			if !tt.ok {
				require.Error(t, grpcErr, "OTLP/gRPC")
				require.ErrorContains(t, httpErr, "tls: ", "OTLP/HTTP")
				return
			}
			require.NoError(t, grpcErr, "OTLP/gRPC")
			require.NoError(t, httpErr, "OTLP/HTTP")
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	require.Len(t, q.recs, 2, "only the sender with a certificate was queued, once per transport")
}
