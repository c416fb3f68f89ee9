//go:build !servicesonly

package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestServicesOnlyBuild builds the binary of the services alone (the
// servicesonly tag) and checks that it links none of the other targets'
// heavy libraries, runs the services' commands, refuses the others, and
// reads a configuration file written for every target.
func TestServicesOnlyBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command builds the binary under test")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	deps, err := exec.CommandContext(ctx, goBin, "list", "-tags", "servicesonly", "-deps", ".").Output()
	require.NoError(t, err)
	for _, heavy := range []string{
		"github.com/prometheus/prometheus/", "k8s.io/client-go/", "github.com/chromedp/", "gonum.org/v1/plot",
		"github.com/estatehq/estate/collector/", "github.com/estatehq/estate/chaos", "github.com/estatehq/estate/sloreport",
	} {
		require.NotContains(t, string(deps), heavy, "the services' binary links %s", heavy)
	}

	bin := filepath.Join(t.TempDir(), "estate-services")
	out, err := exec.CommandContext(ctx, goBin, "build", "-tags", "servicesonly", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)

	out, err = exec.CommandContext(ctx, bin, "--help").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{"invoicing", "credit", "token", "up"} {
		require.Contains(t, string(out), "  "+want+" ")
	}
	for _, absent := range []string{"collector", "report-server", "chaos", "slo"} {
		require.NotContains(t, string(out), "  "+absent+" ")
	}

	out, err = exec.CommandContext(ctx, bin, "collector").CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "%s", out)
	require.Equal(t, 2, exit.ExitCode(), "%s", out)

	// A file that sets every target's section, as this build's full twin
	// reads it: the services' binary takes its own sections and leaves the
	// others alone.
	cfg := &Config{}
	fs := flag.NewFlagSet("all", flag.ContinueOnError)
	cfg.RegisterFlags(fs, targetNames())
	b, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	for _, section := range []string{"collector:", "events:", "slo:", "report:", "chaos:", "invoicing:"} {
		require.Contains(t, string(b), "\n"+section, "the full configuration has %s", section)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "estate.yaml")
	require.NoError(t, os.WriteFile(file, b, 0o600))
	out, err = exec.CommandContext(ctx, bin, "invoicing", "migrate", "--config", file, "--data-dir", dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.FileExists(t, filepath.Join(dir, "invoicing.db"))
	require.NotContains(t, string(out), "error")
}
