//go:build !servicesonly

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"time"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/demo"
	"github.com/estatehq/estate/internal/modules"
)

// demoOptions are the options of `estate up --demo`.
type demoOptions struct {
	Demo demo.Config `yaml:"demo"`
}

func (c *demoOptions) registerFlags(fs *flag.FlagSet) { c.Demo.RegisterFlags(fs) }

// guided says the demo prints its own guide, browser sign-in included.
func (c *demoOptions) guided() bool { return c.Demo.Enabled }

func (c *demoOptions) validate() error {
	if !c.Demo.Enabled {
		return nil
	}
	return c.Demo.Validate()
}

// relationalStores lists the platform targets' relational stores.
func (c *platformConfigs) relationalStores(targetNames []string) []relationalStore {
	var out []relationalStore
	if slices.Contains(targetNames, "collector") {
		out = append(out, relationalStore{"events", &c.Events.PostgresDSN})
	}
	if slices.Contains(targetNames, "chaos") {
		out = append(out, relationalStore{"chaos", &c.Chaos.PostgresDSN})
	}
	return out
}

// startDemo starts the demo when --demo is on, with the targets' URLs,
// and prints what to look at.
func (a *app) startDemo(ctx context.Context, urls map[string]string) (modules.Service, error) {
	cfg := a.cfg.Up.Demo
	if !cfg.Enabled {
		return nil, nil
	}
	if !a.cfg.Auth.Dev {
		return nil, errors.New("demo: --demo needs the development issuer (auth.dev), whose tokens its traffic carries")
	}
	iss, err := auth.OpenDevIssuer(a.devIssuerDir(), a.now)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	var faultURL string
	if s, ok := a.faultSurfaces["invoicing"]; ok {
		faultURL = s.URL()
	}
	d, err := demo.New(demo.Options{
		Config:       cfg,
		InvoicingURL: urls["invoicing"], CreditURL: urls["credit"], CollectorURL: urls["collector"], ChaosURL: urls["chaos"],
		InvoicingFaultURL: faultURL,
		Issuer:            iss, BusinessClaim: a.cfg.Auth.BusinessClaim, Dir: filepath.Join(a.cfg.DataDir, "demo"),
		Transport: a.transport(), Logger: a.componentLogger("demo"), Now: a.now,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if a.demoRollbacks != nil {
		d.ServeRollbacks(a.demoRollbacks, a.demoRollbacksSecret)
	}
	if err := d.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, nil //nolint:nilerr // stopped while starting: not the demo's fault
		}
		return nil, err
	}
	printDemoGuide(a.env.stdout, cfg, urls, a.cfg.DataDir, d.Businesses(), a.now())
	return demoService{d}, nil
}

// prepareDemoRollbacks gives the post-deploy analysis the demo's own
// rollback hook under `up --demo`, unless a hook is configured: a signed
// webhook to a loopback listener the demo serves, which rolls its bad
// release back. The analysis then calls it (no dry run), as a deploy
// pipeline's hook would be called.
func (a *app) prepareDemoRollbacks() {
	d, r := a.cfg.Up.Demo, &a.cfg.Rollout
	h := r.Hooks
	if !d.Enabled || !d.BadRelease || d.Rate == 0 || !r.Enabled ||
		h.Webhook.URL != "" || h.GitHub.Repo != "" || h.CircleCI.ProjectSlug != "" || h.Argo.Namespace != "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.logger.Warn("demo: no rollback hook; the analysis will recommend only", "err", err)
		return
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	a.demoRollbacks, a.demoRollbacksSecret = ln, hex.EncodeToString(secret)
	a.onClose(func() error { _ = ln.Close(); return nil })
	r.DryRun = false
	r.Hooks.Webhook.URL = "http://" + ln.Addr().String() + "/rollback"
	r.Hooks.Webhook.Secret = a.demoRollbacksSecret
}

// demoService is the demo, started already, as the module manager stops
// services.
type demoService struct{ *demo.Demo }

func (demoService) Start(context.Context) error { return nil }

// printDemoGuide says what the demo does and where to look. Each line
// has more than two words: a line of two is a target and its URL.
func printDemoGuide(w io.Writer, cfg demo.Config, urls map[string]string, dataDir string, biz []demo.Business, now time.Time) {
	fmt.Fprintf(w, "\nThe demo is running:\n")
	if cfg.Rate > 0 {
		fmt.Fprintf(w, "  - customer traffic at %g requests a second on invoicing and credit, from %d businesses (about 5%% client errors)\n", cfg.Rate, len(biz))
	}
	if cfg.History {
		fmt.Fprintf(w, "  - %d weeks of delivery history of %d services: deployments, rollbacks, incidents\n", cfg.Weeks, len(demo.HistoryServices))
	}
	if cfg.Chaos {
		fmt.Fprintf(w, "  - a game day: two chaos experiments every %s, one of which breaks its hypothesis and opens an incident\n", cfg.ChaosEvery)
	}
	if cfg.BadRelease && cfg.Rate > 0 {
		fmt.Fprintf(w, "  - %s from now, a bad release of invoicing (a tenth of its requests fail): the post-deploy analysis fails it within minutes and its rollback hook rolls it back\n", cfg.BadReleaseAfter)
	}
	collector, report, chaosURL := urls["collector"], urls["report-server"], urls["chaos"]
	from, to := now.AddDate(0, 0, -7*cfg.Weeks).UTC().Format(time.DateOnly), now.AddDate(0, 0, 1).UTC().Format(time.DateOnly)
	red := url.QueryEscape(`sum by (service) (rate(estate_red_requests_total[5m]))`)
	fmt.Fprintf(w, "\nWhat to look at (with a token, below):\n")
	for _, l := range [][2]string{
		{"home page: the estate now", report + "/"},
		{"the latest weekly report", report + "/reports/latest"},
		{"the weekly reports, archived", report + "/reports"},
		{"DORA figures of the history", collector + "/v1/dora?from=" + from + "T00:00:00Z&to=" + to + "T00:00:00Z"},
		{"SLOs and their error budgets", collector + "/v1/slos"},
		{"post-deploy analyses (estate analysis show ID)", collector + "/v1/analyses"},
		{"requests a second by service (PromQL)", collector + "/api/v1/query?query=" + red},
		{"invoicing's logs", collector + "/v1/logs?service=invoicing&limit=20"},
		{"credit's traces", collector + "/v1/traces?service=credit&limit=20"},
		{"the chaos runs", chaosURL + "/v1/experiments"},
	} {
		fmt.Fprintf(w, "  %-40s %s\n", l[0]+":", l[1])
	}
	fmt.Fprintf(w, "  Grafana dashboards for a Prometheus of these: estate dashboards generate --out DIR (docs/dashboards.md)\n")
	fmt.Fprintf(w, "\nA token to read them all:\n  export TOKEN=$(estate token --data-dir %s --sub $USER --scope %s --scope %s --scope %s)\n",
		dataDir, auth.RoleObservabilityRead, auth.RoleReportsRead, auth.RoleChaosOperate)
	fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $TOKEN\" URL\n")
	fmt.Fprintf(w, "In a browser, open %s/signin and paste the output of:\n  %s\n", report, browserTokenCommand(dataDir))
	if len(biz) > 0 {
		fmt.Fprintf(w, "Act as a demo business on the APIs:\n  estate token --data-dir %s --sub %s --business %s\n", dataDir, biz[0].Owner, biz[0].ID)
	}
	fmt.Fprintf(w, "See docs/demo.md for the flags that turn each part off.\n")
}
