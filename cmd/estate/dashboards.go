//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/estatehq/estate/dashboards"
	"github.com/estatehq/estate/internal/config"
)

// defaultDashboardsDir is where the generated files are checked in,
// relative to the repository's root.
const defaultDashboardsDir = "dashboards/generated"

const dashboardsUsage = "Usage: estate dashboards generate [--out DIR]\n       estate dashboards check [--dir DIR]"

// runDashboards is `estate dashboards generate|check`: the Grafana
// dashboards, Prometheus rules, Alertmanager configuration and Grafana
// provisioning of dashboards/, written or checked.
func runDashboards(_ context.Context, env *environ, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(env.stderr, dashboardsUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			return flag.ErrHelp
		}
		return errUsage
	}
	switch args[0] {
	case "generate":
		return runDashboardsGenerate(env, args[1:])
	case "check":
		return runDashboardsCheck(env, args[1:])
	}
	return fmt.Errorf("dashboards: unknown subcommand %q (generate, check)", args[0])
}

// dashboardsFlags parses the one option of a subcommand, the folder.
func dashboardsFlags(env *environ, name, dirFlag, help string, args []string) (string, error) {
	fs := flag.NewFlagSet("estate dashboards "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String(dirFlag, defaultDashboardsDir, "folder of the generated files")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(env.stdout, "Usage: estate dashboards %s [--%s DIR]\n\n%s\n\nOptions:\n", name, dirFlag, help)
			config.PrintUsage(env.stdout, fs)
		}
		return "", fmt.Errorf("dashboards %s: %w", name, err)
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("dashboards %s: unexpected argument %q", name, fs.Arg(0))
	}
	return *dir, nil
}

// generated is every file of the checked-in defaults, each PromQL
// expression in them parsed.
func generated() (dashboards.Files, error) {
	o, err := dashboards.Default()
	if err != nil {
		return nil, err
	}
	files, err := dashboards.Generate(o)
	if err != nil {
		return nil, err
	}
	if _, err := dashboards.Expressions(files); err != nil {
		return nil, err
	}
	return files, nil
}

func runDashboardsGenerate(env *environ, args []string) error {
	dir, err := dashboardsFlags(env, "generate", "out",
		"Writes the six Grafana dashboards, the Prometheus rules of the SLOs and of the collector's and services' alerts with their promtool unit tests, an example Alertmanager configuration and Grafana's provisioning.", args)
	if err != nil {
		return err
	}
	files, err := generated()
	if err != nil {
		return fmt.Errorf("dashboards generate: %w", err)
	}
	if err := files.Write(dir); err != nil {
		return fmt.Errorf("dashboards generate: %w", err)
	}
	fmt.Fprintf(env.stdout, "%d files written under %s\n", len(files), filepath.Clean(dir))
	return nil
}

func runDashboardsCheck(env *environ, args []string) error {
	dir, err := dashboardsFlags(env, "check", "dir",
		"Fails when the files under the folder are not exactly those `estate dashboards generate` writes.", args)
	if err != nil {
		return err
	}
	files, err := generated()
	if err != nil {
		return fmt.Errorf("dashboards check: %w", err)
	}
	if err := dashboards.Stale(dir, files); errors.Is(err, dashboards.ErrStale) {
		printProblems(env.stderr, err)
		return fmt.Errorf("dashboards check: %w; run `go run ./cmd/estate dashboards generate`", dashboards.ErrStale)
	} else if err != nil {
		return fmt.Errorf("dashboards check: %w", err)
	}
	fmt.Fprintf(env.stdout, "%d files under %s are up to date\n", len(files), filepath.Clean(dir))
	return nil
}
