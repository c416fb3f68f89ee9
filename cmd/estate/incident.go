//go:build !servicesonly

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/problem"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport/review"
	reviewhttp "github.com/estatehq/estate/sloreport/review/http"
)

// incidentTimeout bounds one review: it reads the SLOs' windows of raw
// samples, which takes seconds at most.
const incidentTimeout = time.Minute

const incidentUsage = "Usage: estate incident show ID [--format text|markdown|json] [--collector URL]"

// runIncident is `estate incident show ID`: an incident's review, asked
// of the collector's API.
func runIncident(ctx context.Context, env *environ, args []string) error {
	return runSubcommand(env, "incident", incidentUsage, args, subcommand{"show", func(args []string) error { return runIncidentShow(ctx, env, args) }})
}

// runIncidentShow prints the review of one incident in the format asked
// for, as the collector renders it.
func runIncidentShow(ctx context.Context, env *environ, args []string) error {
	fs := flag.NewFlagSet("estate incident show", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		format    = fs.String("format", "text", "output: text, markdown (a blameless postmortem draft) or json")
		collector = fs.String("collector", defaultCollectorURL, "the collector's API, which serves the reviews")
		token     = tokenFlag(env, fs, "the reviews need observability.read")
	)
	id, err := parseShowArgs(env, fs, args, "incident show", incidentUsage,
		"Prints an incident's timeline (the service's deployments and rollbacks before it, the alerts that opened and resolved it, the chaos runs that overlapped it, the SLO burn and the error rate around it, its resolution) or, with --format markdown, a blameless postmortem draft.")
	if err != nil {
		return err
	}
	if !slices.Contains(review.Formats(), *format) {
		return fmt.Errorf("incident show: --format must be text, markdown or json, not %q", *format)
	}
	base, err := collectorBase("incident show", *collector)
	if err != nil {
		return err
	}
	return showIncident(ctx, env.stdout, tokenClient(*token, 0), base, id, *format)
}

// parseShowArgs parses the arguments of a show command (cmd, "incident
// show") with fs, the id before or after the options, and returns the one
// id named; help follows usage on --help.
func parseShowArgs(env *environ, fs *flag.FlagSet, args []string, cmd, usage, help string) (string, error) {
	var ids []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(env.stdout, usage)
				fmt.Fprintln(env.stdout, "\n"+help+"\n\nOptions:")
				config.PrintUsage(env.stdout, fs)
			}
			return "", fmt.Errorf("%s: %w", cmd, err)
		}
		if fs.NArg() == 0 {
			break
		}
		ids, rest = append(ids, fs.Arg(0)), fs.Args()[1:]
	}
	switch {
	case len(ids) == 0:
		return "", fmt.Errorf("%s: name the %s: %s", cmd, strings.Fields(cmd)[0], usage)
	case len(ids) > 1:
		return "", fmt.Errorf("%s: one at a time, not %d (%s)", cmd, len(ids), strings.Join(ids, ", "))
	}
	return ids[0], nil
}

// collectorBase checks the --collector option of cmd.
func collectorBase(cmd, collector string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimSuffix(collector, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%s: --collector must be an http or https URL such as %s, not %q", cmd, defaultCollectorURL, collector)
	}
	return base, nil
}

// showIncident copies the collector's review of the incident id to w.
func showIncident(ctx context.Context, w io.Writer, client *http.Client, base *url.URL, id, format string) error {
	ctx, cancel := context.WithTimeout(ctx, incidentTimeout)
	defer cancel()
	// The id is one path segment, escaped: it may hold a slash.
	body, err := collectorGet(ctx, client, base, "/v1/incidents/"+url.PathEscape(id)+"/timeline?"+url.Values{"format": {format}}.Encode())
	if err != nil {
		return fmt.Errorf("incident show: %w", err)
	}
	defer body.Close()
	if _, err := io.Copy(w, body); err != nil {
		return fmt.Errorf("incident show: reading the collector's answer: %w", err)
	}
	return nil
}

// collectorGet asks the collector at base for path and returns the body
// of its 200 answer; any other answer is an error saying what it said.
func collectorGet(ctx context.Context, client *http.Client, base *url.URL, path string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("the collector at %s does not answer: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, errors.New(answerProblem(resp))
	}
	return resp.Body, nil
}

// answerProblem says in one line what a failed answer says: its problem's
// detail, or its status.
func answerProblem(resp *http.Response) string {
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	var p problem.Details
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == problem.ContentType {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p); err == nil && p.Detail != "" {
			return fmt.Sprintf("%s (%s)", p.Detail, status)
		}
	}
	return "the collector answered " + status
}

// reviewAPI returns what mounts the incidents' reviews on the collector's
// router: they read the event store, and the metrics store through the
// SLOs' querier (the embedded store, or slo.prometheus_url).
func (a *app) reviewAPI(store metrics.Store, slos sloWiring) func(chi.Router) error {
	return func(r chi.Router) error {
		return reviewhttp.Routes(r, reviewhttp.Options{
			Events:  store,
			Querier: slos.querier,
			SLOs:    slos.slos,
			Logger:  a.componentLogger("review"),
			Now:     a.now,
		})
	}
}
