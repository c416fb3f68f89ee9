package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/internal/server/tlstest"
	"github.com/estatehq/estate/internal/testenv"
)

// TestInvoicingServesTLS runs `estate invoicing` with a certificate: its
// URL is https, a client trusting the CA is served, one without it refuses
// the server.
func TestInvoicingServesTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "estate test CA")
	certFile, keyFile := ca.Server(t).Write(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"estate", "invoicing", "--data-dir", t.TempDir(), "--auth.dev", "--invoicing.listen-addr", "127.0.0.1:0",
			"--invoicing.fault-listen-addr", "127.0.0.1:0", "--log.level=warn"},
			func(k string) string {
				return map[string]string{"ESTATE_TLS_CERT_FILE": certFile, "ESTATE_TLS_KEY_FILE": keyFile}[k]
			}, strings.NewReader(""), &out, &errOut)
	}()
	base := waitForURL(t, "invoicing", &out, &errOut)
	require.True(t, strings.HasPrefix(base, "https://"), base)

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	tr.CloseIdleConnections()

	noCA := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	resp, err = (&http.Client{Transport: noCA, Timeout: 5 * time.Second}).Get(base + "/healthz")
	if err == nil {
		resp.Body.Close()
	}
	require.ErrorContains(t, err, "certificate signed by unknown authority")
	noCA.CloseIdleConnections()

	cancel()
	require.NoError(t, <-done, errOut.String())
}

// waitForURL waits for a target running in process to print its URL.
func waitForURL(t *testing.T, name string, out, errOut *syncBuffer) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		require.True(t, time.Now().Before(deadline), "no URL printed: %s", errOut.String())
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
				return f[1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTLSConfigValidation(t *testing.T) {
	dir := t.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	require.NoError(t, os.WriteFile(certFile, []byte("not a certificate"), 0o600))
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"cert without key", []string{"--tls.cert-file", certFile}, "tls.key_file: must be set for TLS"},
		{"missing CA file", []string{"--tls.ca-file", filepath.Join(dir, "nope.pem")}, "tls.ca_file: stat "},
		{"missing telemetry CA file", []string{"--telemetry.otlp-insecure=false", "--telemetry.otlp-ca-file", filepath.Join(dir, "nope.pem")}, "telemetry.otlp_ca_file: stat "},
		{"missing client CA file", []string{"--collector.otlp.client-ca-file", filepath.Join(dir, "nope.pem")}, "collector.otlp.client_ca_file: stat "},
		{"a pair that does not load", []string{"--tls.cert-file", certFile, "--tls.key-file", certFile}, "tls.cert_file: loading TLS certificate: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, append([]string{"up", "--data-dir", t.TempDir()}, tc.args...)...)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestClientsTrustTheCAFile: the targets' clients of one another verify
// servers against tls.ca_file beside the system roots.
func TestClientsTrustTheCAFile(t *testing.T) {
	ca := tlstest.NewCA(t, "estate test CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t).Write(t, dir)
	caFile := ca.WriteCA(t, dir)
	srv := &app{cfg: &Config{TLS: tlsConfig{TLS: server.TLS{CertFile: certFile, KeyFile: keyFile}}}, logger: slog.New(slog.DiscardHandler), now: time.Now}
	require.NoError(t, srv.loadTLS())
	s := server.New(server.Options{Name: "test", Addr: "127.0.0.1:0", TLS: srv.listenerTLS(prometheus.NewRegistry())})
	require.NoError(t, s.Start(t.Context()))
	defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

	for _, tc := range []struct {
		name, caFile string
		wantErr      string
	}{
		{"without the CA file", "", "certificate signed by unknown authority"},
		{"with the CA file", caFile, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &app{cfg: &Config{TLS: tlsConfig{CAFile: tc.caFile}}}
			require.NoError(t, a.loadTLS())
			c := a.httpClient(5 * time.Second)
			defer c.CloseIdleConnections()
			resp, err := c.Get(s.URL() + "/healthz")
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
}

// TestUpOverTLS runs `estate up` with a certificate: every target answers
// over https, and the services' telemetry reaches the collector over TLS
// verified against tls.ca_file.
func TestUpOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "estate test CA")
	dir := t.TempDir()
	certFile, keyFile := ca.Server(t).Write(t, dir)
	e := startUp(t, "--tls.cert-file", certFile, "--tls.key-file", keyFile, "--tls.ca-file", ca.WriteCA(t, dir))
	e.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}
	for name, u := range e.urls {
		require.True(t, strings.HasPrefix(u, "https://"), "%s: %s", name, u)
		code, body := e.do(t, http.MethodGet, u+"/healthz", "", nil, nil)
		require.Equal(t, http.StatusOK, code, "%s: %s", name, body)
	}

	tok := e.token(t, "--sub", "user-1")
	traceID := fmt.Sprintf("%032x", time.Now().UnixNano())
	code, body := e.do(t, http.MethodPost, e.urls["invoicing"]+"/v1/businesses", tok,
		map[string]string{"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"},
		map[string]any{"legal_name": "Acme Ltd", "country": "GB", "registration_number": "01234567", "billing_email": "billing@acme.test"})
	require.Equal(t, http.StatusCreated, code, string(body))
	reader := e.reader(t)
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	require.NoError(t, testenv.WaitFor(ctx, 250*time.Millisecond, func() error {
		if code, body := e.do(t, http.MethodGet, e.urls["collector"]+"/v1/traces/"+traceID, reader, nil, nil); code != http.StatusOK {
			return fmt.Errorf("GET /v1/traces: %d %s", code, body)
		}
		return nil
	}), "the service's trace reached the collector over TLS")
}
