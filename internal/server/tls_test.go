package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/server/tlstest"
)

// clock is a settable clock safe for the server's goroutines.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// startTLS serves 200 on every path over tc.
func startTLS(t *testing.T, tc *tls.Config) *Server {
	t.Helper()
	s := New(Options{
		Name: "test", Addr: "127.0.0.1:0", TLS: tc,
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		Logger:  slog.New(slog.DiscardHandler),
	})
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s
}

// served connects anew to s and returns the serial of the certificate it
// served, or the error of the request.
func served(t *testing.T, s *Server, tc *tls.Config) (*big.Int, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(s.URL() + "/")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp.TLS.PeerCertificates[0].SerialNumber, nil
}

func TestTLSRotation(t *testing.T) {
	ca := tlstest.NewCA(t, "estate test CA")
	dir := t.TempDir()
	first := ca.Server(t)
	certFile, keyFile := first.Write(t, dir)
	clk := &clock{now: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	var logs syncBuffer
	r, err := NewCertReloader(ReloaderOptions{
		TLS: TLS{CertFile: certFile, KeyFile: keyFile}, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	require.NoError(t, err)
	s := startTLS(t, r.ServerConfig())
	require.Contains(t, s.URL(), "https://127.0.0.1:")
	trusting := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}

	serial, err := served(t, s, trusting)
	require.NoError(t, err)
	require.Equal(t, first.Serial, serial)

	_, err = served(t, s, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: x509.NewCertPool()})
	require.ErrorContains(t, err, "certificate signed by unknown authority", "a client without the CA refuses the server")
	old := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11} //nolint:gosec // the versions the server must refuse
	_, err = served(t, s, old)
	require.ErrorContains(t, err, "protocol version", "TLS 1.1 is refused")

	second := ca.Server(t)
	second.Write(t, dir)
	serial, err = served(t, s, trusting)
	require.NoError(t, err)
	require.Equal(t, first.Serial, serial, "the files are looked at no more than every interval")

	clk.Add(DefaultReloadInterval)
	serial, err = served(t, s, trusting)
	require.NoError(t, err)
	require.Equal(t, second.Serial, serial, "a new connection sees the new certificate without a restart")
	require.Equal(t, 1.0, testutil.ToFloat64(r.reloads.WithLabelValues("ok")))

	// A certificate whose key is another's: the last good pair stays.
	third := ca.Server(t)
	require.NoError(t, os.WriteFile(certFile, third.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, first.KeyPEM, 0o600))
	clk.Add(DefaultReloadInterval)
	serial, err = served(t, s, trusting)
	require.NoError(t, err)
	require.Equal(t, second.Serial, serial, "a bad pair keeps the last good one")
	require.Equal(t, 1.0, testutil.ToFloat64(r.reloads.WithLabelValues("error")))
	require.Contains(t, logs.String(), "serving the last good one")

	// Once the pair is whole again, it is served.
	require.NoError(t, os.WriteFile(keyFile, third.KeyPEM, 0o600))
	clk.Add(DefaultReloadInterval)
	serial, err = served(t, s, trusting)
	require.NoError(t, err)
	require.Equal(t, third.Serial, serial)

	// The reloader is a collector that every target's registry may hold.
	for range 2 {
		reg := prometheus.NewRegistry()
		require.NoError(t, reg.Register(r))
		n, err := testutil.GatherAndCount(reg, "estate_tls_certificate_reloads_total")
		require.NoError(t, err)
		require.Equal(t, 2, n)
	}
}

func TestCertReloaderRefusesABadPairAtStart(t *testing.T) {
	ca := tlstest.NewCA(t, "estate test CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t).Write(t, dir)
	require.NoError(t, os.WriteFile(keyFile, ca.Server(t).KeyPEM, 0o600))
	_, err := NewCertReloader(ReloaderOptions{TLS: TLS{CertFile: certFile, KeyFile: keyFile}})
	require.ErrorContains(t, err, "loading TLS certificate: tls: private key does not match public key")
}

func TestRequireClientCerts(t *testing.T) {
	ca := tlstest.NewCA(t, "estate test CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t).Write(t, dir)
	r, err := NewCertReloader(ReloaderOptions{TLS: TLS{CertFile: certFile, KeyFile: keyFile}})
	require.NoError(t, err)
	clientCA := tlstest.NewCA(t, "estate clients")
	tc, err := RequireClientCerts(r.ServerConfig(), clientCA.WriteCA(t, t.TempDir()), "collector.otlp.")
	require.NoError(t, err)
	s := startTLS(t, tc)

	tests := []struct {
		name    string
		certs   []tls.Certificate
		refused bool
	}{
		{"no certificate", nil, true},
		{"a certificate of another CA", []tls.Certificate{ca.Client(t, "stranger")}, true},
		{"a certificate of the client CA", []tls.Certificate{clientCA.Client(t, "shipper")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := served(t, s, &tls.Config{RootCAs: ca.Pool(), Certificates: tt.certs, MinVersion: tls.VersionTLS12})
			if tt.refused {
				require.ErrorContains(t, err, "tls: ")
				return
			}
			require.NoError(t, err)
		})
	}

	_, err = RequireClientCerts(nil, filepath.Join(dir, "ca.pem"), "collector.otlp.")
	require.EqualError(t, err, "collector.otlp.client_ca_file: needs the listener's TLS certificate (tls.cert_file)")
	_, err = RequireClientCerts(r.ServerConfig(), keyFile, "collector.otlp.")
	require.EqualError(t, err, "collector.otlp.client_ca_file: no PEM certificate in "+keyFile)
}

func TestTLSValidate(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(certFile, []byte("x"), 0o600))
	tests := []struct {
		name string
		tls  TLS
		want []string
	}{
		{"off", TLS{}, nil},
		{"both", TLS{CertFile: certFile, KeyFile: certFile}, nil},
		{"no key", TLS{CertFile: certFile}, []string{"tls.key_file: must be set for TLS (cert_file and key_file go together)"}},
		{"no cert", TLS{KeyFile: certFile}, []string{"tls.cert_file: must be set"}},
		{"missing files", TLS{CertFile: filepath.Join(dir, "nope"), KeyFile: filepath.Join(dir, "nokey")}, []string{"tls.cert_file: stat ", "tls.key_file: stat "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.tls.Validate("tls.")
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
