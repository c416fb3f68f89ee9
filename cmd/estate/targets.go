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

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/elasticsearch"
	"github.com/estatehq/estate/collector/jaeger"
	"github.com/estatehq/estate/collector/remotewrite"
	collectorsvc "github.com/estatehq/estate/collector/service"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/auth"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// target describes one public target of the binary.
type target struct {
	name    string
	summary string
	// flagPrefixes are the other option groups the target uses, shown by its
	// --help beside its own.
	flagPrefixes []string
	// subcommands run as `estate TARGET NAME`, e.g. `estate invoicing migrate`.
	subcommands []command
}

// targets lists the public targets in the order `up` starts them.
func targets() []target {
	return []target{
		{name: "collector", summary: "receive OTLP and reliability events into a durable queue; ship to Elasticsearch, Jaeger, Prometheus or the embedded stores", flagPrefixes: []string{"events", "elasticsearch", "jaeger", "prometheus"}},
		{name: "invoicing", summary: "the invoicing API (port 8081): businesses, invoices, payments", flagPrefixes: []string{"auth", "telemetry"}, subcommands: invoicingSubcommands()},
		{name: "credit", summary: "the credit API (port 8082): credit lines decided from invoice history, drawdowns against invoices", flagPrefixes: []string{"auth", "telemetry"}, subcommands: creditSubcommands()},
	}
}

// tools lists the commands that are not long-running targets.
func tools() []command {
	return []command{
		{name: "report", summary: "compute DORA, MTBF, MTTR and rollback rate from a file of events (--events FILE --from --to --format)", run: runReport},
		{name: "token", summary: "print a token signed by the development issuer (--sub USER [--business ID] [--scope S] [--ttl D])", run: runToken},
	}
}

// sharedFlagPrefixes lists the option groups, beyond their own, that targets
// use.
func sharedFlagPrefixes(targetNames []string) []string {
	var out []string
	for _, t := range targets() {
		if slices.Contains(targetNames, t.name) {
			out = append(out, t.flagPrefixes...)
		}
	}
	return out
}

// targetConfigs holds each target's configuration.
type targetConfigs struct {
	Collector collector.Config `yaml:"collector"`
	// Events, Elasticsearch, Jaeger and RemoteWrite belong to the collector:
	// the events API on its API port and the exporters each switched on by
	// its endpoint.
	Events        eventsConfig         `yaml:"events"`
	Elasticsearch elasticsearch.Config `yaml:"elasticsearch"`
	Jaeger        jaeger.Config        `yaml:"jaeger"`
	RemoteWrite   remotewrite.Config   `yaml:"prometheus_remote_write"`
	Invoicing     invoicing.Config     `yaml:"invoicing"`
	Credit        credit.Config        `yaml:"credit"`
	// Auth and Telemetry are shared by the services.
	Auth      auth.Config      `yaml:"auth"`
	Telemetry telemetry.Config `yaml:"telemetry"`

	// creditInProcess is set when the invoicing and credit targets run in
	// one process (`up`): invoicing then delivers its events to credit
	// without being told.
	creditInProcess bool
}

func (c *targetConfigs) registerFlags(fs *flag.FlagSet) {
	c.Collector.RegisterFlags(fs)
	c.Events.RegisterFlags(fs)
	c.Elasticsearch.RegisterFlags(fs, "")
	c.Jaeger.RegisterFlags(fs, "")
	c.RemoteWrite.RegisterFlags(fs, "")
	c.Invoicing.RegisterFlags(fs)
	c.Credit.RegisterFlags(fs)
	c.Auth.RegisterFlags(fs)
	c.Telemetry.RegisterFlags(fs)
}

func (c *targetConfigs) validate(targetNames []string) []error {
	var errs []error
	if slices.Contains(targetNames, "collector") {
		if err := errors.Join(c.Collector.Validate(), c.Events.Validate(), c.Elasticsearch.Validate(), c.Jaeger.Validate(), c.RemoteWrite.Validate()); err != nil {
			errs = append(errs, err)
		}
	}
	if slices.Contains(targetNames, "invoicing") {
		if err := errors.Join(c.Invoicing.Validate(), c.Auth.Validate(), c.Telemetry.Validate()); err != nil {
			errs = append(errs, err)
		}
	}
	if slices.Contains(targetNames, "credit") {
		if err := errors.Join(c.Credit.Validate(), c.Auth.Validate(), c.Telemetry.Validate()); err != nil {
			errs = append(errs, err)
		}
	}
	c.creditInProcess = slices.Contains(targetNames, "invoicing") && slices.Contains(targetNames, "credit")
	return errs
}

func (c *targetConfigs) listenAddrs() []*string {
	var addrs []*string
	addrs = append(addrs, c.Collector.ListenAddrs()...)
	addrs = append(addrs, &c.Invoicing.ListenAddr, &c.Credit.ListenAddr)
	return addrs
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
}

// modules lists every module, public and internal.
func (a *app) modules() []modules.Module {
	return []modules.Module{
		{Name: "datadir", Init: a.initDataDir},
		{Name: "devissuer", Deps: []string{"datadir"}, Init: a.initDevIssuer},
		{Name: "collector", Deps: []string{"datadir"}, Init: a.initCollector, Public: true},
		{Name: "invoicing", Deps: []string{"datadir", "devissuer"}, Init: a.initInvoicing, Public: true},
		{Name: "credit", Deps: []string{"datadir", "devissuer"}, Init: a.initCredit, Public: true},
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
