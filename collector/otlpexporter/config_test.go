package otlpexporter_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/collector/otlpexporter"
	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/delivery"
)

func TestConfigDefaults(t *testing.T) {
	cfg := defaults(t)
	require.False(t, cfg.Enabled())
	require.NoError(t, cfg.Validate(), "off is valid")
	require.Empty(t, cmp.Diff(otlpexporter.Config{
		Protocol: "grpc", Compression: "gzip",
		RetryConfig: delivery.RetryConfig{Timeout: 10 * time.Second, MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second},
	}, cfg))
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	tests := []struct {
		name   string
		mutate func(*otlpexporter.Config)
		want   []string
	}{
		{"grpc", func(*otlpexporter.Config) {}, nil},
		{"http", func(c *otlpexporter.Config) { c.Protocol, c.Endpoint = "http", "https://otlp.example.com/otlp" }, nil},
		{"http without a port", func(c *otlpexporter.Config) { c.Protocol, c.Endpoint = "http", "http://collector" }, nil},
		{"https with a CA", func(c *otlpexporter.Config) { c.Endpoint, c.CAFile = "https://collector:4317", ca }, nil},
		{"not a URL", func(c *otlpexporter.Config) { c.Endpoint = "collector:4317" }, []string{"otlp.endpoint"}},
		{"grpc without a port", func(c *otlpexporter.Config) { c.Endpoint = "http://collector" }, []string{"otlp.endpoint", "needs a port"}},
		{"grpc with a path", func(c *otlpexporter.Config) { c.Endpoint = "http://collector:4317/v1" }, []string{"otlp.endpoint", "no path"}},
		{"protocol", func(c *otlpexporter.Config) { c.Protocol = "http/json" }, []string{"otlp.protocol"}},
		{"compression", func(c *otlpexporter.Config) { c.Compression = "zstd" }, []string{"otlp.compression"}},
		{"header name", func(c *otlpexporter.Config) { c.Headers = map[string]string{"bad name": "x"} }, []string{"otlp.headers"}},
		{"header value", func(c *otlpexporter.Config) { c.Headers = map[string]string{"X-Token": "a\nb"} }, []string{"otlp.headers"}},
		{"CA without https", func(c *otlpexporter.Config) { c.CAFile = ca }, []string{"otlp.ca_file"}},
		{"missing CA", func(c *otlpexporter.Config) {
			c.Endpoint, c.CAFile = "https://collector:4317", filepath.Join(dir, "nope")
		}, []string{"otlp.ca_file"}},
		{"skip verify without https", func(c *otlpexporter.Config) { c.InsecureSkipVerify = true }, []string{"otlp.insecure_skip_verify"}},
		{"timeout", func(c *otlpexporter.Config) { c.Timeout = 0 }, []string{"otlp.timeout"}},
		{"attempts", func(c *otlpexporter.Config) { c.MaxAttempts = 0 }, []string{"otlp.max_attempts"}},
		{"backoff", func(c *otlpexporter.Config) { c.InitialBackoff = 0 }, []string{"otlp.initial_backoff"}},
		{"max backoff", func(c *otlpexporter.Config) { c.MaxBackoff = time.Millisecond }, []string{"otlp.max_backoff"}},
		{"several at once", func(c *otlpexporter.Config) { c.Protocol, c.Timeout = "udp", -1 }, []string{"otlp.protocol", "otlp.timeout"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults(t, "--otlp-endpoint", "http://collector:4317")
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			_, nerr := otlpexporter.New(cfg, otlpexporter.Options{})
			require.Error(t, nerr, "New validates too")
		})
	}
}

// TestConfigLoad loads the configuration as a target does: headers from the
// YAML map, the environment and repeated flags, the flag winning.
func TestConfigLoad(t *testing.T) {
	var cfg struct {
		OTLP otlpexporter.Config `yaml:"otlp"`
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.OTLP.RegisterFlags(fs, "collector.")
	file := filepath.Join(t.TempDir(), "estate.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`otlp:
  endpoint: https://otlp.example.com
  protocol: http
  headers:
    Authorization: Bearer from-file
    X-Scope: logs
`), 0o600))
	env := map[string]string{"ESTATE_COLLECTOR_OTLP_HEADER": "X-Env=1,X-Scope=all"}
	_, err := config.Load(fs, &cfg, []string{"--config", file, "--collector.otlp-header", "Authorization=Bearer from-flag", "--collector.otlp-header", "X-Tenant=a=b"},
		func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, "https://otlp.example.com", cfg.OTLP.Endpoint)
	require.Empty(t, cmp.Diff(map[string]string{
		"Authorization": "Bearer from-flag", "X-Scope": "all", "X-Env": "1", "X-Tenant": "a=b",
	}, cfg.OTLP.Headers))
	require.NoError(t, cfg.OTLP.Validate())

	require.Error(t, fs.Parse([]string{"--collector.otlp-header", "no-equals"}))
}
