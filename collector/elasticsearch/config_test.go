package elasticsearch_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	es "github.com/estatehq/estate/collector/elasticsearch"
)

func TestRegisterFlags(t *testing.T) {
	var cfg es.Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.RegisterFlags(fs, "collector.")
	require.NoError(t, fs.Parse([]string{
		"--collector.elasticsearch-url", "https://a:9200, https://b:9200",
		"--collector.elasticsearch-api-key", "aWQ6a2V5",
		"--collector.elasticsearch-aws-region", "eu-west-1",
		"--collector.elasticsearch-mode", "daily_index",
		"--collector.elasticsearch-dead-letter-dir", "/var/lib/estate/collector/deadletter",
	}))
	require.Equal(t, []string{"https://a:9200", "https://b:9200"}, cfg.URLs)
	require.Equal(t, "aWQ6a2V5", cfg.APIKey)
	require.Equal(t, es.AWSConfig{Region: "eu-west-1", Service: "es"}, cfg.AWS)
	require.Equal(t, es.ModeDailyIndex, cfg.Mode)
	require.Equal(t, 30*24*time.Hour, cfg.ILMDeleteAfter)
	require.NoError(t, cfg.Validate())
	require.True(t, cfg.Enabled())
	for _, name := range []string{"elasticsearch-username", "elasticsearch-password", "elasticsearch-ca-file", "elasticsearch-aws-sigv4", "elasticsearch-aws-service"} {
		require.NotNil(t, fs.Lookup("collector."+name), name)
	}
}

func TestConfigValidate(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, []byte("x"), 0o600))
	tests := []struct {
		name   string
		mutate func(*es.Config)
		want   string
	}{
		{"defaults", func(*es.Config) {}, ""},
		{"off is valid whatever else", func(c *es.Config) { c.URLs = nil; c.Mode = "nope" }, ""},
		{"url without scheme", func(c *es.Config) { c.URLs = []string{"localhost:9200"} }, "elasticsearch.urls"},
		{"password without user", func(c *es.Config) { c.Password = "x" }, "elasticsearch.username"},
		{"two auths", func(c *es.Config) { c.Username, c.Password, c.APIKey = "u", "p", "k" }, "choose one"},
		{"sigv4 and api key", func(c *es.Config) { c.APIKey = "k"; c.AWS.SigV4 = true }, "choose one"},
		{"sigv4 without service", func(c *es.Config) { c.AWS = es.AWSConfig{SigV4: true} }, "elasticsearch.aws.service"},
		{"missing ca file", func(c *es.Config) { c.CAFile = "/nonexistent/ca.pem" }, "elasticsearch.ca_file"},
		{"existing ca file", func(c *es.Config) { c.CAFile = ca }, ""},
		{"mode", func(c *es.Config) { c.Mode = "alias" }, "elasticsearch.mode"},
		{"namespace with dash", func(c *es.Config) { c.Namespace = "prod-eu" }, "elasticsearch.namespace"},
		{"uppercase template", func(c *es.Config) { c.TemplateName = "Estate" }, "elasticsearch.template_name"},
		{"no dead-letter dir", func(c *es.Config) { c.DeadLetterDir = "" }, "elasticsearch.dead_letter_dir"},
		{"tiny bulk", func(c *es.Config) { c.MaxBulkBytes = 10 }, "elasticsearch.max_bulk_bytes"},
		{"no attempts", func(c *es.Config) { c.MaxAttempts = 0 }, "elasticsearch.max_attempts"},
		{"backoff order", func(c *es.Config) { c.MaxBackoff = time.Millisecond }, "elasticsearch.max_backoff"},
		{"timeout", func(c *es.Config) { c.RequestTimeout = 0 }, "elasticsearch.request_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaults(t, "http://127.0.0.1:9200")
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}
}
