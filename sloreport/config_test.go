package sloreport

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/sloreport/examples"
)

func TestConfig(t *testing.T) {
	var c Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c.RegisterFlags(fs, "slo.")
	require.NoError(t, c.Validate(), "the defaults")
	require.Equal(t, Config{Files: nil, Examples: true, MinEvents: 100, AtRiskRemaining: 0.25, CacheTTL: 15 * time.Second}, c)
	c.PrometheusURL = "http://prometheus:9090"
	require.NoError(t, c.Validate())
	require.Equal(t, Policy{MinEvents: 100, AtRiskRemaining: 0.25}, c.Policy())

	require.NoError(t, fs.Parse([]string{"--slo.files", "a.yaml, b.yaml", "--slo.examples=false", "--slo.min-events", "20"}))
	require.Equal(t, []string{"a.yaml", "b.yaml"}, c.Files)
	require.False(t, c.Examples)
	require.Equal(t, 20.0, c.MinEvents)

	c = Config{MinEvents: -1, AtRiskRemaining: 1.5, CacheTTL: -time.Second, PrometheusURL: "prometheus:9090"}
	require.EqualError(t, c.Validate(), "min_events: must not be negative, not -1\n"+
		"at_risk_remaining: must be between 0 and 1, not 1.5\n"+
		"cache_ttl: must not be negative, not -1s\n"+
		`prometheus_url: must be an http or https URL with a host, not "prometheus:9090"`)
}

func TestConfigLoad(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "mine.yaml")
	require.NoError(t, os.WriteFile(mine, []byte(valid), 0o600))
	clash := filepath.Join(dir, "clash.yaml")
	require.NoError(t, os.WriteFile(clash, []byte(strings.Replace(valid, "name: inv-availability", "name: invoicing-latency", 1)), 0o600))

	c := Config{Examples: true, Files: []string{mine}}
	slos, err := c.Load(examples.FS)
	require.NoError(t, err)
	require.Len(t, slos, 5)
	require.Equal(t, "inv-availability", slos[4].Name)

	c = Config{Files: []string{mine}}
	slos, err = c.Load(examples.FS)
	require.NoError(t, err)
	require.Len(t, slos, 1)

	c = Config{Examples: true, Files: []string{clash}}
	slos, err = c.Load(examples.FS)
	require.EqualError(t, err, `metadata.name: "invoicing-latency" names an example SLO too (--slo.examples=false leaves them out)`)
	require.Len(t, slos, 4)
}
