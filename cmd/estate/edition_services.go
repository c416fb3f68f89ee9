//go:build servicesonly

package main

import (
	"context"

	"gopkg.in/yaml.v3"

	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// This file is the build of the services alone (go build -tags
// servicesonly): invoicing and credit, their migrations and `up` of the
// two, without the collector, the chaos controller or the report server
// and what they link (the Prometheus libraries, the Kubernetes client,
// the report's renderer). The services' images use it; a service then
// exports to a collector elsewhere and is scraped by it.

func targets() []target { return serviceTargets() }

func tools() []command { return []command{tokenCommand} }

// platformConfigs accepts, and ignores, the sections of the other targets,
// so that one configuration file serves every build.
type platformConfigs struct {
	Collector     yaml.Node `yaml:"collector"`
	Elasticsearch yaml.Node `yaml:"elasticsearch"`
	Jaeger        yaml.Node `yaml:"jaeger"`
	RemoteWrite   yaml.Node `yaml:"prometheus_remote_write"`
	OTLP          yaml.Node `yaml:"otlp"`
	Events        yaml.Node `yaml:"events"`
	SLO           yaml.Node `yaml:"slo"`
	Rollout       yaml.Node `yaml:"rollout"`
	Report        yaml.Node `yaml:"report"`
	Chaos         yaml.Node `yaml:"chaos"`
	Export        yaml.Node `yaml:"export"`
	Stream        yaml.Node `yaml:"stream"`
}

func platformGroups() []optionGroup { return nil }

func (*platformConfigs) listenAddrs([]string) []*string { return nil }

type platformApp struct{}

func (*app) openPlatform() {}

func (a *app) modules() []modules.Module {
	return append(a.baseModules(), a.serviceModules()...)
}

// telemetryConfig is the services' telemetry configuration: as configured,
// since no collector runs in this process.
func (a *app) telemetryConfig() telemetry.Config { return a.cfg.Telemetry }

// telemetryToken is none: the exports carry telemetry.otlp-token-file's.
func (*app) telemetryToken(string) (auth.TokenSource, error) { return nil, nil }

// scrapeTarget does nothing: no collector runs in this process to scrape
// the service; one elsewhere is told of it.
func (*app) scrapeTarget(string, *server.Server) modules.Service { return noService{} }

// proxiedDSN is dsn: no chaos controller runs in this process to proxy
// the service's connections.
func (*app) proxiedDSN(_, dsn string) (string, error) { return dsn, nil }

// creditProxiedInvoicingURL is the invoicing API credit calls.
func (a *app) creditProxiedInvoicingURL() (string, error) { return a.creditInvoicingURL(), nil }

// noService is a part that has nothing to start or stop.
type noService struct{}

func (noService) Start(context.Context) error    { return nil }
func (noService) Shutdown(context.Context) error { return nil }

func (*platformConfigs) productionFaults([]string) []error { return nil }

func (*platformConfigs) secrets([]string) []namedSecret { return nil }

func (*platformConfigs) namedListenAddrs([]string) []namedAddr { return nil }
