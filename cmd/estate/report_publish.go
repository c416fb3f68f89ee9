//go:build !servicesonly

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/sloreport"
)

// publishOptions are the options of `estate report-server publish`, from
// flags and the environment.
type publishOptions struct {
	URL       string
	Week      string
	Token     string
	TokenFile string
	Timeout   time.Duration
}

// reportServerSubcommands are `estate report-server publish`: what the
// Helm chart's weekly CronJob runs.
func reportServerSubcommands() []command {
	return []command{{name: "publish", summary: "ask a report server to generate, archive and post a week's report now (--week, default the last complete one)", run: runReportPublish}}
}

// runReportPublish asks the report server to publish a week: it answers
// once the report is archived, so a failed generation fails the command
// (and the CronJob's run, which Kubernetes retries).
func runReportPublish(ctx context.Context, env *environ, args []string) error {
	const cmd = "report-server publish"
	var (
		o publishOptions
		// shared are the options every command takes (the data
		// directory, the log), which a container sets for any command.
		shared Config
	)
	fs := flag.NewFlagSet("estate "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	shared.RegisterFlags(fs, nil)
	fs.StringVar(&o.URL, "report-server-url", "http://127.0.0.1:8090", "URL of the report server")
	fs.StringVar(&o.Week, "week", "", "ISO week to publish, such as 2026-W47; default the last complete week (UTC)")
	fs.StringVar(&o.Token, "token", "", "bearer token of a principal with the admin role; give it in the environment or a file (--token-file): a flag shows in the process list")
	fs.StringVar(&o.TokenFile, "token-file", "", "file holding a bearer token of a principal with the admin role; read at each run, so a mounted Secret may rotate")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long to wait for the report server to answer")
	rest, err := config.Load(fs, &shared, args, env.getenv)
	if errors.Is(err, flag.ErrHelp) {
		printCommandHelp(env.stdout, fs, cmd)
		return err
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, rest[0])
	}
	week := sloreport.WeekOf(time.Now()).Add(-1)
	if o.Week != "" {
		if week, err = sloreport.ParseWeek(o.Week); err != nil {
			return fmt.Errorf("%s: --week: %w", cmd, err)
		}
	}
	base, err := url.Parse(o.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return fmt.Errorf("%s: --report-server-url: must be an http or https URL with a host, not %q", cmd, o.URL)
	}
	token := o.Token
	if o.TokenFile != "" {
		b, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return fmt.Errorf("%s: --token-file: %w", cmd, err)
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("reports", week.String(), "publish").String(), nil)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", cmd, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct{ Detail string }
		if json.Unmarshal(body, &p) != nil || p.Detail == "" {
			p.Detail = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("%s: the report server answered %s: %s", cmd, resp.Status, p.Detail)
	}
	var out struct{ HTML string }
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("%s: the report server's answer: %w", cmd, err)
	}
	fmt.Fprintf(env.stdout, "report %s published: %s\n", week, base.JoinPath(out.HTML))
	return nil
}
