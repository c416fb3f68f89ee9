//go:build !servicesonly

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"

	"github.com/estatehq/estate/rollout"
)

const analysisUsage = "Usage: estate analysis show DEPLOYMENT_ID [--format text|json] [--collector URL]"

// runAnalysis is `estate analysis show ID`: a deployment's post-deploy
// analysis, asked of the collector's API.
func runAnalysis(ctx context.Context, env *environ, args []string) error {
	return runSubcommand(env, "analysis", analysisUsage, args, subcommand{"show", func(args []string) error { return runAnalysisShow(ctx, env, args) }})
}

func runAnalysisShow(ctx context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate analysis show", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		format    = fs.String("format", "text", "output: text, or json (the API's answer)")
		collector = fs.String("collector", defaultCollectorURL, "the collector's API, which runs the analyses")
		token     = tokenFlag(env, fs, "the analyses need observability.read")
	)
	id, err := parseShowArgs(env, fs, args, "analysis show", analysisUsage,
		"Prints a deployment's post-deploy analysis: its verdict and why, the rollback recommended and what the hooks answered, and the evidence (requests, errors and latency before and after the deploy, the tests, the burn rate) with the PromQL queries that reproduce it.")
	if err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return fmt.Errorf("analysis show: --format must be text or json, not %q", *format)
	}
	base, err := collectorBase("analysis show", *collector)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, incidentTimeout)
	defer cancel()
	body, err := collectorGet(ctx, tokenClient(*token, 0), base, "/v1/analyses/"+url.PathEscape(id))
	if err != nil {
		return fmt.Errorf("analysis show: %w", err)
	}
	defer body.Close()
	if *format == "json" {
		_, err = io.Copy(env.stdout, body)
		return err
	}
	var s rollout.Status
	if err := json.NewDecoder(io.LimitReader(body, 4<<20)).Decode(&s); err != nil {
		return fmt.Errorf("analysis show: the collector's answer is not an analysis: %w", err)
	}
	if s.DeploymentID == "" {
		return errors.New("analysis show: the collector's answer names no deployment")
	}
	return rollout.WriteText(env.stdout, s)
}
