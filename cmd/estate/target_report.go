//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/estatehq/estate/dashboards"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/home"
	"github.com/estatehq/estate/sloreport/reportserver"
)

// initReportServer builds the report-server target: the report server on
// report.listen-addr (8090), its home page, its archive under
// <data-dir>/reports and its schedule. Its reports read the event store of the collector in this
// process (under `up`), else the one the events group names, and the
// SLOs of the slo group, queried at slo.prometheus-url, else in process
// from the collector's embedded store, else through report.collector-url.
func (a *app) initReportServer(ctx context.Context) (modules.Service, error) {
	cfg := a.cfg.Report
	logger := a.componentLogger("report-server")
	var closers []func(context.Context) error
	store := a.events
	if store == nil {
		st, closeStore, err := openEvents(ctx, a.cfg.DataDir, a.cfg.Events.PostgresDSN, logger.With("part", "events"))
		if err != nil {
			return nil, err
		}
		store, closers = st, append(closers, modules.Closer(closeStore))
	}
	fail := func(err error) (modules.Service, error) {
		for _, c := range closers {
			err = errors.Join(err, c(context.WithoutCancel(ctx)))
		}
		return nil, err
	}
	backend := func() (promquery.Querier, error) {
		switch {
		case a.cfg.SLO.PrometheusURL != "":
			return promquery.NewHTTP(promquery.HTTPOptions{URL: a.cfg.SLO.PrometheusURL, Transport: a.transport()})
		case a.collector != nil:
			return a.collector.TSDB().Querier(), nil
		}
		tokens, err := a.machineTokens("estate-report-server", machineClient{}, auth.RoleObservabilityRead)
		if err != nil {
			return nil, err
		}
		return promquery.NewHTTP(promquery.HTTPOptions{URL: cfg.CollectorURL, Transport: &auth.Transport{Base: a.transport(), Token: tokens}})
	}
	// One querier for the reports' SLOs and the home page's RED figures
	// and SLO statuses.
	querier := &lazyQuerier{backend: backend}
	slos, err := reportEvaluator(a.cfg.SLO, querier, a.now)
	if err != nil {
		return fail(err)
	}
	archive, err := reportserver.OpenArchive(filepath.Join(a.cfg.DataDir, "reports"))
	if err != nil {
		return fail(err)
	}
	reviews := strings.TrimRight(cfg.CollectorURL, "/")
	page, err := a.homePage(store, querier, slos, logger)
	if err != nil {
		return fail(err)
	}
	var srv *server.Server
	retry := cfg.Webhook.Retry()
	reg := server.NewRegistry()
	authn, static, err := a.authenticator(logger, reg)
	if err != nil {
		return fail(err)
	}
	rs, err := reportserver.New(reportserver.Options{
		Generate: func(ctx context.Context, w sloreport.ISOWeek) (*sloreport.Report, error) {
			return sloreport.Compute(ctx, sloreport.Inputs{
				Store: store, SLOs: slos, Week: w, Now: a.now(), IncludeChaos: cfg.IncludeChaos, Thresholds: cfg.Thresholds,
				ReviewURL: func(id string) string { return reviews + "/v1/incidents/" + url.PathEscape(id) + "/timeline" },
			})
		},
		Archive:  archive,
		Home:     page,
		SignIn:   authn,
		Schedule: cfg.Schedule,
		Webhook:  reportserver.Webhook{URL: cfg.Webhook.URL, Timeout: cfg.Webhook.Timeout, Retry: retry},
		PublicURL: func() string {
			if cfg.PublicURL != "" {
				return cfg.PublicURL
			}
			return srv.URL()
		},
		Now:        a.now,
		Logger:     logger,
		Registerer: reg,
	})
	if err != nil {
		return fail(err)
	}
	srv = server.New(server.Options{
		Name: "report-server", Addr: cfg.ListenAddr, Handler: authn.Guard(rs.Routes(), reportAccess, auth.SignInPage(reportserver.SignInPath))(rs.Handler()), Logger: logger, Registry: reg, TLS: a.listenerTLS(reg),
		Ready: []server.ReadyCheck{{Name: "archive", Check: func(context.Context) error {
			_, err := os.Stat(archive.Dir())
			return err
		}}},
	})
	a.guard(guardedListener{target: "report-server", routes: rs.Routes(), table: reportAccess, url: srv.URL})
	return &serviceTarget{Server: srv, Group: modules.Group{
		Parts:   withStatic([]modules.Service{srv, rs, a.scrapeTarget("report-server", srv)}, static),
		Closers: closers,
	}}, nil
}

// homePage is the report server's home page: the RED figures and SLO
// statuses through the reports' querier and evaluator, the deployments,
// incidents and chaos runs from their event store, and links to the
// collector's query API (the collector of this process under `up`) and
// to Grafana's overview dashboard when report.grafana-url is set.
func (a *app) homePage(store metrics.Store, q promquery.Querier, slos *sloreport.Evaluator, logger *slog.Logger) (*home.Page, error) {
	cfg := a.cfg.Report
	collectorURL := cfg.CollectorURL
	if a.collector != nil {
		collectorURL = a.collector.URL()
	}
	grafana := ""
	if cfg.GrafanaURL != "" {
		grafana = strings.TrimRight(cfg.GrafanaURL, "/") + "/d/" + dashboards.UIDOverview
	}
	return home.New(home.Options{
		Events: store, Querier: q, SLOs: slos, CollectorURL: collectorURL, GrafanaURL: grafana,
		Timeout: cfg.HomeTimeout, Now: a.now, Logger: logger.With("part", "home"),
	})
}
