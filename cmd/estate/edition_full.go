//go:build !servicesonly

package main

import (
	"errors"
	"flag"
	"net"
	"slices"

	"github.com/estatehq/estate/chaos/local"
	collectorsvc "github.com/estatehq/estate/collector/service"
	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/reportserver"
)

// This file is the build of every target, the default. Built with the
// servicesonly tag (edition_services.go), the binary carries the services
// alone: a third of the size, and a third of the memory at start, for the
// services' images.

// targets lists the public targets in the order `up` starts them.
func targets() []target {
	return slices.Concat(
		[]target{{name: "collector", summary: "receive OTLP and reliability events into a durable queue; ship to Elasticsearch, Jaeger, Prometheus or the embedded stores; serve the SLOs", groups: []string{"collector", "events", "slo", "rollout", "auth", "export", "stream"}}},
		serviceTargets(),
		[]target{
			{name: "chaos", summary: "the chaos controller (port 8089): experiments with a steady-state hypothesis, abort and a kill switch; `estate chaos run|validate|ls|show|abort|halt|resume`", groups: []string{"chaos", "auth"}, subcommands: chaosSubcommands()},
			{name: "report-server", summary: "the home page, the estate now, and the weekly reliability report (port 8090): the latest, the archive, each week as HTML, Markdown or JSON; archived on a schedule and posted to a webhook", groups: []string{"report", "events", "slo", "auth"}, subcommands: reportServerSubcommands()},
		})
}

// tools lists the commands that are not long-running targets.
func tools() []command {
	return []command{
		{name: "report", summary: "write the weekly reliability report from the event store or a file of events, with the SLOs (--week 2026-W47 --format text|markdown|html|json --out FILE)", run: runReport},
		{name: "export", summary: "write the events, deployments, incidents, chaos runs and weekly figures as Parquet tables partitioned by day, for Athena or DuckDB (--from DAY --to DAY --out DIR [--events FILE])", run: runExport},
		tokenCommand,
		{name: "slo", summary: "check SLO files (validate FILE...) or write their Prometheus rules (rules FILE... > rules.yaml)", run: runSLO},
		{name: "dashboards", summary: "write the Grafana dashboards, Prometheus rules, Alertmanager configuration and Grafana provisioning (generate [--out DIR]), or check the checked-in ones are current (check)", run: runDashboards},
		{name: "analysis", summary: "show a deployment's post-deploy analysis from the collector: the verdict, the rollback recommended, the hooks' answers and the evidence with its queries (show DEPLOYMENT_ID [--format text|json])", run: runAnalysis},
		{name: "incident", summary: "show an incident's timeline or its postmortem draft from the collector (show ID [--format text|markdown|json])", run: runIncident},
		{name: "loadgen", summary: "send fixed-rate open-loop load to routes on loopback and print p50/p99/p99.9, errors by status and the target's memory over time (--url URL | --route 'METHOD URL [WEIGHT]'... | --routes FILE --rate N --duration D [--pid PID] [--json])", run: runLoadgen},
		{name: "gateway", summary: "write the OpenAPI document that configures AWS API Gateway in front of the services (export --issuer URL --audience AUD --vpc-link-id ID --integration-uri ARN [--out FILE])", run: runGateway},
	}
}

// platformConfigs are the configurations of the targets beside the
// services.
type platformConfigs struct {
	// Collector is the collector target's: the collector: group and its
	// exporters' groups (elasticsearch:, jaeger:, prometheus_remote_write:).
	Collector collectorsvc.Config `yaml:",inline"`
	// Events is the reliability events API that the collector serves.
	Events eventsConfig `yaml:"events"`
	// SLO is the SLOs that the collector serves.
	SLO sloreport.Config `yaml:"slo"`
	// Rollout is the post-deploy analysis the collector runs.
	Rollout rolloutConfig `yaml:"rollout"`
	// Report is the report server's.
	Report reportserver.Config `yaml:"report"`
	Chaos  chaosConfig         `yaml:"chaos"`
	// Export is the collector's daily export of the analytics tables.
	Export exportConfig `yaml:"export"`
	// Stream is the collector's stream of the event log to Kafka.
	Stream streamConfig `yaml:"stream"`
}

func platformGroups() []optionGroup {
	return []optionGroup{
		{"collector", func(c *targetConfigs, fs *flag.FlagSet) { c.Collector.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Collector.Validate() }},
		{"events", func(c *targetConfigs, fs *flag.FlagSet) { c.Events.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Events.Validate() }},
		{"slo", func(c *targetConfigs, fs *flag.FlagSet) { c.SLO.RegisterFlags(fs, "slo.") }, func(c *targetConfigs) error { return config.Under("slo.", c.SLO.Validate()) }},
		{"rollout", func(c *targetConfigs, fs *flag.FlagSet) { c.Rollout.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Rollout.Validate() }},
		{"report", func(c *targetConfigs, fs *flag.FlagSet) { c.Report.RegisterFlags(fs, "report.") }, func(c *targetConfigs) error { return config.Under("report.", c.Report.Validate()) }},
		{"chaos", func(c *targetConfigs, fs *flag.FlagSet) { c.Chaos.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Chaos.Validate() }},
		{"export", func(c *targetConfigs, fs *flag.FlagSet) { c.Export.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Export.Validate() }},
		{"stream", func(c *targetConfigs, fs *flag.FlagSet) { c.Stream.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Stream.Validate() }},
	}
}

// listenAddrs are the listen addresses of the named targets.
func (c *platformConfigs) listenAddrs(targetNames []string) []*string {
	var addrs []*string
	if slices.Contains(targetNames, "collector") {
		addrs = append(addrs, c.Collector.ListenAddrs()...)
	}
	if slices.Contains(targetNames, "chaos") {
		addrs = append(addrs, &c.Chaos.ListenAddr)
	}
	if slices.Contains(targetNames, "report-server") {
		addrs = append(addrs, &c.Report.ListenAddr)
	}
	return addrs
}

// platformApp holds the targets beside the services that run in this
// process.
type platformApp struct {
	// collector is the collector running in this process, if any.
	collector *collectorsvc.Service
	// proxies carry the services' connections to their dependencies when
	// chaos runs in this process.
	proxies *local.Proxies
	// events is the event store of the collector in this process, if any.
	events metrics.Store
	// demoRollbacks is the listener of the demo's rollback hook, and the
	// secret that signs its calls, under `up --demo`.
	demoRollbacks       net.Listener
	demoRollbacksSecret string
}

// openPlatform prepares what the targets of this run share before any
// starts.
func (a *app) openPlatform() {
	if a.cfg.chaosInProcess {
		a.proxies = local.NewProxies()
		a.onClose(a.proxies.Close)
	}
	a.prepareDemoRollbacks()
}

// modules lists every module, public and internal.
func (a *app) modules() []modules.Module {
	return slices.Concat(
		a.baseModules(),
		[]modules.Module{{Name: "collector", Deps: []string{"datadir"}, Init: a.initCollector, Public: true}},
		a.serviceModules(),
		[]modules.Module{
			{Name: "chaos", Deps: []string{"datadir", "devissuer"}, Init: a.initChaos, Public: true},
			{Name: "report-server", Deps: []string{"datadir"}, Init: a.initReportServer, Public: true},
		})
}

// productionFaults are the platform targets' settings that --env
// production refuses beside the shared ones: ingest open to anyone.
func (c *platformConfigs) productionFaults(targetNames []string) []error {
	if !slices.Contains(targetNames, "collector") {
		return nil
	}
	var faults []error
	otlp := c.Collector.Collector.OTLP
	if !otlp.GRPCAuth && otlp.GRPCListenAddr != "" {
		faults = append(faults, errors.New("collector.otlp.grpc_auth: OTLP/gRPC would accept telemetry from anyone; turn it on"))
	}
	if !otlp.HTTPAuth && otlp.HTTPListenAddr != "" {
		faults = append(faults, errors.New("collector.otlp.http_auth: OTLP/HTTP would accept telemetry from anyone; turn it on"))
	}
	return faults
}

// secrets are the platform targets' secrets, by the key of their option.
func (c *platformConfigs) secrets(targetNames []string) []namedSecret {
	if !slices.Contains(targetNames, "collector") {
		return nil
	}
	return []namedSecret{
		{"events.github_secret", c.Events.GitHubSecret},
		{"events.circleci_secret", c.Events.CircleCISecret},
		{"collector.redact.hash_key", c.Collector.Collector.Redact.HashKey},
		{"rollout.hooks.webhook.secret", c.Rollout.Hooks.Webhook.Secret},
		{"stream.password", c.Stream.Password},
	}
}

// namedListenAddrs are the platform targets' listen addresses.
func (c *platformConfigs) namedListenAddrs(targetNames []string) []namedAddr {
	var out []namedAddr
	if slices.Contains(targetNames, "collector") {
		core := c.Collector.Collector
		out = append(out, namedAddr{"collector.listen_addr", core.ListenAddr},
			namedAddr{"collector.otlp.grpc_listen_addr", core.OTLP.GRPCListenAddr},
			namedAddr{"collector.otlp.http_listen_addr", core.OTLP.HTTPListenAddr})
	}
	if slices.Contains(targetNames, "chaos") {
		out = append(out, namedAddr{"chaos.listen_addr", c.Chaos.ListenAddr})
	}
	if slices.Contains(targetNames, "report-server") {
		out = append(out, namedAddr{"report.listen_addr", c.Report.ListenAddr})
	}
	return out
}
