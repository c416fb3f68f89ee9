package delivery_test

import (
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/delivery"
)

// quiet drops the handshake errors the servers log.
var quiet = log.New(io.Discard, "", 0)

// get fetches url with a client trusting tc.
func get(t *testing.T, url string, tc *tls.Config) error {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: tc}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(url)
	if err == nil {
		_ = resp.Body.Close()
	}
	return err
}

func TestTLSClientConfig(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	t.Run("off", func(t *testing.T) {
		tc, err := delivery.TLS{}.ClientConfig("jaeger.")
		require.NoError(t, err)
		require.Nil(t, tc)
	})
	t.Run("system roots do not know the test CA", func(t *testing.T) {
		tc, err := delivery.TLS{Enabled: true}.ClientConfig("jaeger.")
		require.NoError(t, err)
		require.Equal(t, uint16(tls.VersionTLS12), tc.MinVersion)
		require.ErrorContains(t, get(t, srv.URL, tc), "certificate")
	})
	t.Run("the CA file is trusted", func(t *testing.T) {
		tc, err := delivery.TLS{Enabled: true, CAFile: ca}.ClientConfig("jaeger.")
		require.NoError(t, err)
		require.NoError(t, get(t, srv.URL, tc))
	})
	t.Run("skipping verification", func(t *testing.T) {
		tc, err := delivery.TLS{Enabled: true, InsecureSkipVerify: true}.ClientConfig("jaeger.")
		require.NoError(t, err)
		require.NoError(t, get(t, srv.URL, tc))
	})
	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		old := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		old.TLS = &tls.Config{MaxVersion: tls.VersionTLS11}
		old.Config.ErrorLog = quiet
		old.StartTLS()
		defer old.Close()
		tc, err := delivery.TLS{Enabled: true, InsecureSkipVerify: true}.ClientConfig("jaeger.")
		require.NoError(t, err)
		require.ErrorContains(t, get(t, old.URL, tc), "protocol version")
	})

	errs := []struct {
		name string
		tls  delivery.TLS
		want string
	}{
		{"missing file", delivery.TLS{Enabled: true, CAFile: filepath.Join(dir, "nope.pem")}, "jaeger.ca_file: open "},
		{"not PEM", delivery.TLS{Enabled: true, CAFile: notPEM}, "jaeger.ca_file: no PEM certificate in " + notPEM},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.tls.ClientConfig("jaeger.")
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestTLSValidate(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	tests := []struct {
		name string
		tls  delivery.TLS
		want []string
	}{
		{"off", delivery.TLS{}, nil},
		{"on with a CA", delivery.TLS{Enabled: true, CAFile: ca}, nil},
		{"CA without TLS", delivery.TLS{CAFile: ca}, []string{"otlp.ca_file: needs TLS"}},
		{"missing CA", delivery.TLS{Enabled: true, CAFile: filepath.Join(dir, "nope")}, []string{"otlp.ca_file: stat "}},
		{"skip verify without TLS", delivery.TLS{InsecureSkipVerify: true}, []string{"otlp.insecure_skip_verify: needs TLS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tls.Validate("otlp.")
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}
