package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/estatehq/estate/chaos/local"
	collectorsvc "github.com/estatehq/estate/collector/service"
	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/auth"
	"github.com/estatehq/estate/services/kit/telemetry"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/reportserver"
)

// target describes one public target of the binary.
type target struct {
	name    string
	summary string
	// groups are the option groups the target reads; its command registers
	// only those, beside the options every command shares.
	groups []string
	// subcommands run as `estate TARGET NAME`, e.g. `estate invoicing migrate`.
	subcommands []command
}

// targets lists the public targets in the order `up` starts them.
func targets() []target {
	return []target{
		{name: "collector", summary: "receive OTLP and reliability events into a durable queue; ship to Elasticsearch, Jaeger, Prometheus or the embedded stores; serve the SLOs", groups: []string{"collector", "events", "slo"}},
		{name: "invoicing", summary: "the invoicing API (port 8081): businesses, invoices, payments", groups: []string{"invoicing", "auth", "telemetry"}, subcommands: invoicingSubcommands()},
		{name: "credit", summary: "the credit API (port 8082): credit lines decided from invoice history, drawdowns against invoices", groups: []string{"credit", "auth", "telemetry"}, subcommands: creditSubcommands()},
		{name: "chaos", summary: "the chaos controller (port 8089): experiments with a steady-state hypothesis, abort and a kill switch; `estate chaos run|validate|ls|show|abort|halt|resume`", groups: []string{"chaos", "auth"}, subcommands: chaosSubcommands()},
		{name: "report-server", summary: "the weekly reliability report (port 8090): the latest, the archive, each week as HTML, Markdown or JSON; archived on a schedule and posted to a webhook", groups: []string{"report", "events", "slo"}},
	}
}

// tools lists the commands that are not long-running targets.
func tools() []command {
	return []command{
		{name: "report", summary: "write the weekly reliability report from the event store or a file of events, with the SLOs (--week 2026-W47 --format text|markdown|html|json --out FILE)", run: runReport},
		{name: "token", summary: "print a token signed by the development issuer (--sub USER [--business ID] [--scope S] [--ttl D])", run: runToken},
		{name: "slo", summary: "check SLO files (validate FILE...) or write their Prometheus rules (rules FILE... > rules.yaml)", run: runSLO},
		{name: "dashboards", summary: "write the Grafana dashboards, Prometheus rules, Alertmanager configuration and Grafana provisioning (generate [--out DIR]), or check the checked-in ones are current (check)", run: runDashboards},
		{name: "incident", summary: "show an incident's timeline or its postmortem draft from the collector (show ID [--format text|markdown|json])", run: runIncident},
	}
}

// targetConfigs holds each target's configuration.
type targetConfigs struct {
	// Collector is the collector target's: the collector: group and its
	// exporters' groups (elasticsearch:, jaeger:, prometheus_remote_write:).
	Collector collectorsvc.Config `yaml:",inline"`
	// Events is the reliability events API that the collector serves.
	Events eventsConfig `yaml:"events"`
	// SLO is the SLOs that the collector serves.
	SLO       sloreport.Config `yaml:"slo"`
	Invoicing invoicing.Config `yaml:"invoicing"`
	Credit    credit.Config    `yaml:"credit"`
	// Report is the report server's.
	Report reportserver.Config `yaml:"report"`
	// Auth and Telemetry are shared by the services.
	Auth      auth.Config      `yaml:"auth"`
	Telemetry telemetry.Config `yaml:"telemetry"`
	Chaos     chaosConfig      `yaml:"chaos"`

	// creditInProcess is set when the invoicing and credit targets run in
	// one process (`up`): invoicing then delivers its events to credit
	// without being told.
	creditInProcess bool
	// chaosInProcess is set when the chaos target runs beside the
	// services (`up`): they serve their fault surfaces to it and route
	// their dependencies through its proxies.
	chaosInProcess bool
}

// optionGroup is one group of options: the flags it binds and the check of
// its values. A YAML file may set every group (one file serves `up` and
// each target alike); a command binds, shows and checks only the groups of
// its targets.
type optionGroup struct {
	name     string
	register func(*targetConfigs, *flag.FlagSet)
	validate func(*targetConfigs) error
}

func optionGroups() []optionGroup {
	return []optionGroup{
		{"collector", func(c *targetConfigs, fs *flag.FlagSet) { c.Collector.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Collector.Validate() }},
		{"events", func(c *targetConfigs, fs *flag.FlagSet) { c.Events.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Events.Validate() }},
		{"slo", func(c *targetConfigs, fs *flag.FlagSet) { c.SLO.RegisterFlags(fs, "slo.") }, func(c *targetConfigs) error { return config.Under("slo.", c.SLO.Validate()) }},
		{"invoicing", func(c *targetConfigs, fs *flag.FlagSet) { c.Invoicing.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Invoicing.Validate() }},
		{"credit", func(c *targetConfigs, fs *flag.FlagSet) { c.Credit.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Credit.Validate() }},
		{"report", func(c *targetConfigs, fs *flag.FlagSet) { c.Report.RegisterFlags(fs, "report.") }, func(c *targetConfigs) error { return config.Under("report.", c.Report.Validate()) }},
		{"auth", func(c *targetConfigs, fs *flag.FlagSet) { c.Auth.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Auth.Validate() }},
		{"telemetry", func(c *targetConfigs, fs *flag.FlagSet) { c.Telemetry.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Telemetry.Validate() }},
		{"chaos", func(c *targetConfigs, fs *flag.FlagSet) { c.Chaos.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Chaos.Validate() }},
	}
}

// groupsOf lists the option groups of the named targets, each once, in
// the order of optionGroups.
func groupsOf(targetNames []string) []optionGroup {
	var want []string
	for _, t := range targets() {
		if slices.Contains(targetNames, t.name) {
			want = append(want, t.groups...)
		}
	}
	var out []optionGroup
	for _, g := range optionGroups() {
		if slices.Contains(want, g.name) {
			out = append(out, g)
		}
	}
	return out
}

// registerFlags binds the options of the named targets.
func (c *targetConfigs) registerFlags(fs *flag.FlagSet, targetNames []string) {
	for _, g := range groupsOf(targetNames) {
		g.register(c, fs)
	}
}

func (c *targetConfigs) validate(targetNames []string) []error {
	var errs []error
	for _, g := range groupsOf(targetNames) {
		if err := g.validate(c); err != nil {
			errs = append(errs, err)
		}
	}
	c.creditInProcess = slices.Contains(targetNames, "invoicing") && slices.Contains(targetNames, "credit")
	c.chaosInProcess = slices.Contains(targetNames, "chaos") && (slices.Contains(targetNames, "invoicing") || slices.Contains(targetNames, "credit"))
	return errs
}

// listenAddrs are the listen addresses of the named targets.
func (c *targetConfigs) listenAddrs(targetNames []string) []*string {
	var addrs []*string
	if slices.Contains(targetNames, "collector") {
		addrs = append(addrs, c.Collector.ListenAddrs()...)
	}
	if slices.Contains(targetNames, "invoicing") {
		addrs = append(addrs, &c.Invoicing.ListenAddr, &c.Invoicing.FaultListenAddr)
	}
	if slices.Contains(targetNames, "credit") {
		addrs = append(addrs, &c.Credit.ListenAddr, &c.Credit.FaultListenAddr)
	}
	if slices.Contains(targetNames, "chaos") {
		addrs = append(addrs, &c.Chaos.ListenAddr)
	}
	if slices.Contains(targetNames, "report-server") {
		addrs = append(addrs, &c.Report.ListenAddr)
	}
	return addrs
}

// ownerOf names the target that reads the option called flagName, or ""
// when no target does.
func ownerOf(flagName string) string {
	for _, t := range targets() {
		fs := flag.NewFlagSet(t.name, flag.ContinueOnError)
		var c targetConfigs
		c.registerFlags(fs, []string{t.name})
		if fs.Lookup(flagName) != nil {
			return t.name
		}
	}
	return ""
}

// app wires the modules of one run of the binary; every module gets what it
// needs from here and nothing else.
type app struct {
	cfg     *Config
	logger  *slog.Logger
	env     *environ
	now     func() time.Time
	closers []func() error
	// collector is the collector running in this process, if any.
	collector *collectorsvc.Service
	// serviceServers are the API servers of the services running in this
	// process, and faultSurfaces their fault control surfaces, by name.
	serviceServers map[string]*server.Server
	faultSurfaces  map[string]*server.Server
	// restartables are the targets the chaos controller may stop and
	// start again.
	restartables map[string]*restartable
	// proxies carry the services' connections to their dependencies when
	// chaos runs in this process.
	proxies *local.Proxies
	// events is the event store of the collector in this process, if any.
	events metrics.Store
}

func newApp(cfg *Config, logger *slog.Logger, env *environ) *app {
	a := &app{cfg: cfg, logger: logger, env: env, now: env.now,
		serviceServers: map[string]*server.Server{}, faultSurfaces: map[string]*server.Server{}, restartables: map[string]*restartable{}}
	if cfg.chaosInProcess {
		a.proxies = local.NewProxies()
		a.onClose(a.proxies.Close)
	}
	return a
}

// modules lists every module, public and internal.
func (a *app) modules() []modules.Module {
	return []modules.Module{
		{Name: "datadir", Init: a.initDataDir},
		{Name: "devissuer", Deps: []string{"datadir"}, Init: a.initDevIssuer},
		{Name: "collector", Deps: []string{"datadir"}, Init: a.initCollector, Public: true},
		{Name: "invoicing", Deps: []string{"datadir", "devissuer"}, Init: a.restartableInit("invoicing", a.initInvoicing, a.pinInvoicing), Public: true},
		{Name: "credit", Deps: []string{"datadir", "devissuer"}, Init: a.restartableInit("credit", a.initCredit, a.pinCredit), Public: true},
		{Name: "chaos", Deps: []string{"datadir", "devissuer"}, Init: a.initChaos, Public: true},
		{Name: "report-server", Deps: []string{"datadir"}, Init: a.initReportServer, Public: true},
	}
}

// onClose registers f to run when the run ends, after every module stopped.
func (a *app) onClose(f func() error) { a.closers = append(a.closers, f) }

func (a *app) close() {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	if err := errors.Join(errs...); err != nil {
		a.logger.Error("closing", "err", err)
	}
}

// componentLogger returns the logger a module is given.
func (a *app) componentLogger(name string) *slog.Logger {
	return a.logger.With("component", name)
}

func (a *app) initDataDir(context.Context) (modules.Service, error) {
	if err := os.MkdirAll(a.cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	return nil, nil
}
