// Package home is the report server's home page: the estate now, for the
// engineer on call and for a newcomer. Per service, its RED figures
// (request rate, error ratio, p99 latency) from the collector's
// span-derived series and each SLO's status from the SLOs' evaluator,
// both through the one PromQL interface (internal/promquery); the recent
// deployments, the open incidents and the chaos experiments running, from
// the reliability event store; and the links to the logs, the traces, the
// weekly report and Grafana.
//
// Each source is read concurrently within a timeout: a source that fails
// or is slow leaves its section saying why, never the page failing.
package home

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

// Defaults of Options.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultDeployments = 10
	// DefaultRefresh is how often the page reloads itself.
	DefaultRefresh = 30 * time.Second
)

// Options are what a Page is built from.
type Options struct {
	// Events is the reliability event store: deployments, incidents and
	// chaos experiments. Required.
	Events metrics.Store
	// Querier answers the RED queries; nil leaves the figures out, saying
	// so.
	Querier promquery.Querier
	// SLOs evaluates the SLOs; nil when none is configured.
	SLOs *sloreport.Evaluator
	// CollectorURL is the collector's API, which the page links to for
	// logs, traces and incident timelines. Required.
	CollectorURL string
	// GrafanaURL, when set, is linked: the estate's overview dashboard.
	GrafanaURL string
	// Timeout bounds each source's read; DefaultTimeout when zero.
	Timeout time.Duration
	// Deployments is how many recent deployments are listed;
	// DefaultDeployments when zero.
	Deployments int
	// Refresh is how often the page reloads itself; DefaultRefresh when
	// zero.
	Refresh time.Duration
	// Now is the clock; time.Now when nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Page assembles and renders the home page.
type Page struct{ o Options }

// New returns a page; it fails only for options that cannot work.
func New(o Options) (*Page, error) {
	var errs []error
	if o.Events == nil {
		errs = append(errs, errors.New("events is required"))
	}
	if u, err := url.Parse(o.CollectorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("collector url must be an http(s) URL, not %q", o.CollectorURL))
	}
	if o.Timeout < 0 || o.Deployments < 0 || o.Refresh < 0 {
		errs = append(errs, errors.New("timeout, deployments and refresh must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("home page: %w", err)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Deployments == 0 {
		o.Deployments = DefaultDeployments
	}
	if o.Refresh == 0 {
		o.Refresh = DefaultRefresh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.CollectorURL = strings.TrimRight(o.CollectorURL, "/")
	o.GrafanaURL = strings.TrimRight(o.GrafanaURL, "/")
	return &Page{o: o}, nil
}

// Status is what the page shows, as GET /v1/status answers it.
type Status struct {
	At time.Time `json:"at"`
	// Services are every service with RED series or an SLO, by name.
	Services []Service `json:"services"`
	// REDError and SLOError say why the RED figures or the SLOs are
	// missing; empty when they were read.
	REDError string `json:"red_error,omitempty"`
	SLOError string `json:"slo_error,omitempty"`
	// Deployments are the most recent, newest first.
	Deployments []Deployment `json:"deployments"`
	// Incidents are the open incidents, newest first; Resolved those
	// resolved in the last day.
	Incidents []Incident `json:"open_incidents"`
	Resolved  []Incident `json:"recently_resolved_incidents"`
	// Experiments are the chaos experiments running, then those that
	// finished in the last day, newest first.
	Experiments []Experiment `json:"experiments"`
	// EventsError says why deployments, incidents and experiments are
	// missing; empty when the event store was read.
	EventsError string `json:"events_error,omitempty"`
	Links       Links  `json:"links"`
}

// Links are where the page sends its reader.
type Links struct {
	Logs          string `json:"logs"`
	ErrorLogs     string `json:"error_logs"`
	Traces        string `json:"traces"`
	CurrentReport string `json:"current_report"`
	LatestReport  string `json:"latest_report"`
	Archive       string `json:"archive"`
	Grafana       string `json:"grafana,omitempty"`
}

// Service is one service's figures now.
type Service struct {
	Name string `json:"name"`
	// RED is nil when the RED series could not be read.
	RED *RED `json:"red,omitempty"`
	// SLOs are the service's, by name.
	SLOs []SLO `json:"slos"`
	// Status is the worst of its SLOs': breached, warning, ok, no_data;
	// unknown without SLOs.
	Status    string `json:"status"`
	Logs      string `json:"logs"`
	ErrorLogs string `json:"error_logs"`
	Traces    string `json:"traces"`
	// SlowTraces are its traces slower than its p99.
	SlowTraces string `json:"slow_traces,omitempty"`
}

// RED are a service's figures over the last REDWindow; a field is nil
// when there is nothing to compute it from (no request in the window, no
// histogram).
type RED struct {
	// RequestRate is in requests per second.
	RequestRate *float64 `json:"request_rate"`
	ErrorRatio  *float64 `json:"error_ratio"`
	P99Seconds  *float64 `json:"p99_seconds"`
}

// SLO is one SLO's status now.
type SLO struct {
	Name        string  `json:"name"`
	DisplayName string  `json:"display_name"`
	Objective   float64 `json:"objective"`
	Window      string  `json:"window"`
	// SLI is good / all events over the window; nil without events.
	SLI *float64 `json:"sli"`
	// BudgetRemaining is the share of the error budget left: 1 untouched,
	// 0 spent, negative overspent.
	BudgetRemaining float64 `json:"error_budget_remaining"`
	// BurnRate is the burn rate over the last hour; nil without events.
	BurnRate *float64 `json:"burn_rate_1h"`
	// BurnCounted is false when the hour holds too few events for its
	// burn rate to count (the low-traffic guard).
	BurnCounted bool `json:"burn_rate_counted"`
	// Status is ok, warning (at risk: little budget left, or burning
	// fast), breached (the budget is spent) or no_data.
	Status string `json:"status"`
}

// SLO statuses, worst last; ServiceUnknown is a service without SLOs.
const (
	StatusOK       = "ok"
	StatusNoData   = "no_data"
	StatusWarning  = "warning"
	StatusBreached = "breached"
	ServiceUnknown = "unknown"
)

// Deployment is one recent deployment.
type Deployment struct {
	ID          string    `json:"id"`
	Service     string    `json:"service"`
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	// Fate is succeeded, failed, rolled_back or in_progress.
	Fate string `json:"fate"`
	// RolledBackTo is the version a rollback went back to.
	RolledBackTo string `json:"rolled_back_to,omitempty"`
	// LeadTimeSeconds is from its oldest commit to production; nil when it
	// did not reach production or names no commit.
	LeadTimeSeconds *float64 `json:"lead_time_seconds"`
	// Verdict is its post-deploy analysis' (passed, failed,
	// inconclusive); empty while there is none. RollbackRecommended says
	// the analysis asked for a rollback.
	Verdict             string `json:"verdict,omitempty"`
	RollbackRecommended bool   `json:"rollback_recommended,omitempty"`
}

// Deployment fates.
const (
	FateSucceeded  = "succeeded"
	FateFailed     = "failed"
	FateRolledBack = "rolled_back"
	FateInProgress = "in_progress"
)

// Incident is one open or recently resolved incident.
type Incident struct {
	ID          string     `json:"id"`
	Service     string     `json:"service"`
	Environment string     `json:"environment"`
	Severity    string     `json:"severity"`
	StartedAt   time.Time  `json:"started_at"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
	// Cause is the deployment or the chaos experiment that caused it.
	CauseDeployment string `json:"cause_deployment,omitempty"`
	ChaosExperiment string `json:"chaos_experiment,omitempty"`
	// Timeline is its timeline on the collector.
	Timeline string `json:"timeline"`
}

// Experiment is one chaos experiment's run.
type Experiment struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Target     string     `json:"target"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// Running is true until its finished event.
	Running bool `json:"running"`
	// Outcome is the finished event's, such as hypothesis_held.
	Outcome string `json:"outcome,omitempty"`
}

// Status reads every source, concurrently, each within Options.Timeout,
// and assembles what the page shows. It does not fail: a source that
// fails leaves its section empty and its error field saying why.
func (p *Page) Status(ctx context.Context) Status {
	now := p.o.Now().UTC()
	st := Status{At: now, Links: p.links(now)}
	var (
		wg        sync.WaitGroup
		red       map[string]RED
		slos      []sloreport.Status
		redErr    error
		sloErr    error
		eventsErr error
	)
	// Each source within its own timeout, so that one slow source
	// costs its section only.
	within := func(read func(ctx context.Context)) func() {
		return func() {
			ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
			defer cancel()
			read(ctx)
		}
	}
	wg.Go(within(func(ctx context.Context) { red, redErr = p.red(ctx, now) }))
	if p.o.SLOs != nil {
		wg.Go(within(func(ctx context.Context) { slos, sloErr = p.o.SLOs.Statuses(ctx) }))
	}
	wg.Go(within(func(ctx context.Context) { eventsErr = p.events(ctx, now, &st) }))
	wg.Wait()
	st.REDError = p.explain("the RED figures", "collector", redErr)
	st.SLOError = p.explain("the SLOs", "collector", sloErr)
	st.EventsError = p.explain("deployments, incidents and experiments", "event store", eventsErr)
	st.Services = p.services(red, redErr == nil, slos)
	return st
}

// explain says in a line why a source is missing, for readers of the
// page: unreachable, slow or failing; the cause itself, which may name
// hosts and files, goes to the log.
func (p *Page) explain(what, source string, err error) string {
	if err == nil {
		return ""
	}
	p.o.Logger.Warn("home page: reading "+what, "err", err)
	var qe *promquery.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &qe) && qe.Type == promquery.ErrTimeout):
		return fmt.Sprintf("%s unavailable: the %s did not answer within %s", what, source, p.o.Timeout)
	case errors.As(err, &qe) && qe.Type == promquery.ErrUnavailable:
		return fmt.Sprintf("%s unavailable: %s unreachable; the report server's log has the cause", what, source)
	}
	return fmt.Sprintf("%s unavailable: the %s failed; the report server's log has the cause", what, source)
}

// links are the page's links: the collector's query API and the report
// server's own routes.
func (p *Page) links(now time.Time) Links {
	week := sloreport.WeekOf(now)
	l := Links{
		Logs:          p.o.CollectorURL + "/v1/logs?" + p.window(now, url.Values{"limit": {"100"}}),
		ErrorLogs:     p.o.CollectorURL + "/v1/logs?" + p.window(now, url.Values{"level": {"error"}, "limit": {"100"}}),
		Traces:        p.o.CollectorURL + "/v1/traces?" + p.window(now, url.Values{"limit": {"50"}}),
		CurrentReport: "/reports/" + week.String() + ".html",
		LatestReport:  "/reports/latest",
		Archive:       "/reports",
	}
	if p.o.GrafanaURL != "" {
		l.Grafana = p.o.GrafanaURL
	}
	return l
}

// window adds the last hour's bounds to a query of the collector's API,
// which reads from and to as RFC 3339.
func (p *Page) window(now time.Time, v url.Values) string {
	v.Set("from", now.Add(-time.Hour).Format(time.RFC3339))
	return v.Encode()
}
