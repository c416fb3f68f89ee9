package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/services/credit"
	"github.com/estatehq/estate/services/invoicing"
	"github.com/estatehq/estate/services/kit/telemetry"
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

// serviceTargets are the services' targets, which every build has.
func serviceTargets() []target {
	return []target{
		{name: "invoicing", summary: "the invoicing API (port 8081): businesses, invoices, payments", groups: []string{"invoicing", "auth", "telemetry"}, subcommands: invoicingSubcommands()},
		{name: "credit", summary: "the credit API (port 8082): credit lines decided from invoice history, drawdowns against invoices", groups: []string{"credit", "auth", "telemetry"}, subcommands: creditSubcommands()},
	}
}

// tokenCommand prints a development token, in every build.
var tokenCommand = command{name: "token", summary: "print a token signed by the development issuer (--sub USER [--business ID] [--scope S] [--group G] [--ttl D]), or register a machine client of its token endpoint (client --id ID [--scope S])", run: runToken}

// targetConfigs holds each target's configuration.
type targetConfigs struct {
	// platformConfigs are the other targets' (collector, chaos, report
	// server): nothing in a build of the services alone.
	platformConfigs `yaml:",inline"`

	Invoicing invoicing.Config `yaml:"invoicing"`
	Credit    credit.Config    `yaml:"credit"`
	// Auth and Telemetry are shared by the services.
	Auth      auth.Config      `yaml:"auth"`
	Telemetry telemetry.Config `yaml:"telemetry"`

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

// optionGroups lists every option group of the build.
func optionGroups() []optionGroup {
	return append([]optionGroup{
		{"invoicing", func(c *targetConfigs, fs *flag.FlagSet) { c.Invoicing.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Invoicing.Validate() }},
		{"credit", func(c *targetConfigs, fs *flag.FlagSet) { c.Credit.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Credit.Validate() }},
		{"auth", func(c *targetConfigs, fs *flag.FlagSet) { c.Auth.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Auth.Validate() }},
		{"telemetry", func(c *targetConfigs, fs *flag.FlagSet) { c.Telemetry.RegisterFlags(fs) }, func(c *targetConfigs) error { return c.Telemetry.Validate() }},
	}, platformGroups()...)
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
	addrs := c.platformConfigs.listenAddrs(targetNames)
	if slices.Contains(targetNames, "invoicing") {
		addrs = append(addrs, &c.Invoicing.ListenAddr, &c.Invoicing.FaultListenAddr)
	}
	if slices.Contains(targetNames, "credit") {
		addrs = append(addrs, &c.Credit.ListenAddr, &c.Credit.FaultListenAddr)
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
	// serviceServers are the API servers of the services running in this
	// process, and faultSurfaces their fault control surfaces, by name.
	serviceServers map[string]*server.Server
	faultSurfaces  map[string]*server.Server
	// restartables are the targets the chaos controller may stop and
	// start again.
	restartables map[string]*restartable
	// certs serves the listeners' certificate; nil when they serve plain
	// text.
	certs *server.CertReloader
	// clientTLS is what the targets' clients of one another verify
	// servers with: the system roots and tls.ca_file.
	clientTLS *tls.Config
	// guarded lists every listener that requires roles by a route table,
	// for the route-table test.
	guarded []guardedListener
	// platformApp holds the other targets running in this process.
	platformApp
}

func newApp(cfg *Config, logger *slog.Logger, env *environ) *app {
	a := &app{cfg: cfg, logger: logger, env: env, now: env.now,
		serviceServers: map[string]*server.Server{}, faultSurfaces: map[string]*server.Server{}, restartables: map[string]*restartable{}}
	a.openPlatform()
	return a
}

// baseModules are the internal modules every build has.
func (a *app) baseModules() []modules.Module {
	return []modules.Module{
		{Name: "datadir", Init: a.initDataDir},
		{Name: "devissuer", Deps: []string{"datadir"}, Init: a.initDevIssuer},
	}
}

// serviceModules are the services' modules, which every build has.
func (a *app) serviceModules() []modules.Module {
	return []modules.Module{
		{Name: "invoicing", Deps: []string{"datadir", "devissuer"}, Init: a.restartableInit("invoicing", a.initInvoicing, a.pinInvoicing), Public: true},
		{Name: "credit", Deps: []string{"datadir", "devissuer"}, Init: a.restartableInit("credit", a.initCredit, a.pinCredit), Public: true},
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
