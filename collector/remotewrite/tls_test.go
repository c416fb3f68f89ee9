package remotewrite_test

import (
	"encoding/pem"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector/remotewrite"
)

// TestPushVerifiesTheEndpoint: an https endpoint is verified, against the
// CA file when one is given.
func TestPushVerifiesTheEndpoint(t *testing.T) {
	rcv := &receiver{}
	srv := httptest.NewTLSServer(rcv)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	push := func(extra ...string) error {
		var cfg remotewrite.Config
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		cfg.RegisterFlags(fs, "")
		require.NoError(t, fs.Parse(append([]string{"--prometheus-remote-write-url", srv.URL, "--prometheus-remote-write-max-attempts=1"}, extra...)))
		exp, err := remotewrite.New(cfg, remotewrite.Options{Gatherer: testRegistry()})
		require.NoError(t, err)
		defer func() { require.NoError(t, exp.Shutdown(t.Context())) }()
		return exp.Push(t.Context())
	}
	require.ErrorContains(t, push(), "certificate signed by unknown authority", "the system roots do not know the test CA")
	require.NoError(t, push("--prometheus-remote-write-ca-file", ca))
	require.Len(t, rcv.reqs, 1)
}
