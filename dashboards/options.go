package dashboards

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/examples"
)

// The uids of the data sources the provisioning (Provisioning) creates and
// the dashboards name. Prometheus queries go through the dashboards'
// datasource variable instead, which lists every data source of type
// prometheus and starts on DatasourceEstate.
const (
	// DatasourceEstate is the collector's embedded PromQL API (port 8088).
	DatasourceEstate = "estate"
	// DatasourcePrometheus is a Prometheus server scraping the estate.
	DatasourcePrometheus = "prometheus"
	// DatasourceJaeger is the Jaeger query service of the traces the
	// collector exports.
	DatasourceJaeger = "estate-jaeger"
	// DatasourceElasticsearch is the cluster the collector writes logs to.
	DatasourceElasticsearch = "estate-elasticsearch"
)

// The uids of the dashboards, which links between them use.
const (
	UIDOverview    = "estate-overview"
	UIDService     = "estate-service"
	UIDReliability = "estate-reliability"
	UIDSLOs        = "estate-slos"
	UIDCollector   = "estate-collector"
	UIDChaos       = "estate-chaos"
)

// DefaultRunbooks is where every generated alert's runbook_url points, with
// the alert's section as the fragment.
const DefaultRunbooks = "https://github.com/estatehq/estate/blob/main/docs/runbooks.md"

// Options say what is generated. Default gives those of the checked-in
// files.
type Options struct {
	// SLOs are the SLOs whose rules and tests are written.
	SLOs []sloreport.SLO
	// MinEvents is the low-traffic guard of the SLOs' burn alerts.
	MinEvents float64
	// Runbooks is the URL of docs/runbooks.md, which every alert's
	// runbook_url points into.
	Runbooks string
	// Endpoints are the URLs the provisioning and the Alertmanager
	// configuration point at.
	Endpoints Endpoints
}

// Endpoints are where the estate's parts are reached from Grafana and
// Alertmanager.
type Endpoints struct {
	// Collector is the collector's API: the embedded PromQL API, the log
	// and trace API and the events API.
	Collector string
	// Prometheus is a Prometheus server scraping the estate.
	Prometheus string
	// Jaeger is Jaeger's query service.
	Jaeger string
	// Elasticsearch is the cluster the collector writes logs to.
	Elasticsearch string
	// Pager is the PagerDuty Events API v2 endpoint that pages go to.
	Pager string
	// Tickets is the webhook of the ticket queue that tickets go to.
	Tickets string
	// CollectorTokenFile is the file, on Alertmanager's host, of the
	// bearer token (a static token with events.write) its webhook to the
	// collector carries; empty sends none.
	CollectorTokenFile string
}

// Default returns the options of the checked-in files: the example SLOs
// with the default low-traffic guard, and the in-cluster names of the
// estate's parts.
func Default() (Options, error) {
	cfg := sloreport.Config{Examples: true}
	slos, err := cfg.Load(examples.FS)
	if err != nil {
		return Options{}, fmt.Errorf("loading the example SLOs: %w", err)
	}
	return Options{
		SLOs:      slos,
		MinEvents: sloreport.DefaultMinEvents,
		Runbooks:  DefaultRunbooks,
		Endpoints: Endpoints{
			Collector:     "http://collector:8088",
			Prometheus:    "http://prometheus:9090",
			Jaeger:        "http://jaeger:16686",
			Elasticsearch: "http://elasticsearch:9200",
			Pager:         "https://events.pagerduty.com/v2/enqueue",
			Tickets:       "http://tickets.example.internal/alertmanager",

			CollectorTokenFile: "/etc/alertmanager/secrets/estate-events-token",
		},
	}, nil
}

// Validate names every field at fault.
func (o Options) Validate() error {
	var errs []error
	if o.MinEvents < 0 {
		errs = append(errs, fmt.Errorf("min_events must not be negative, not %v", o.MinEvents))
	}
	for _, f := range []struct{ name, url string }{
		{"runbooks", o.Runbooks}, {"endpoints.collector", o.Endpoints.Collector}, {"endpoints.prometheus", o.Endpoints.Prometheus},
		{"endpoints.jaeger", o.Endpoints.Jaeger}, {"endpoints.elasticsearch", o.Endpoints.Elasticsearch},
		{"endpoints.pager", o.Endpoints.Pager}, {"endpoints.tickets", o.Endpoints.Tickets},
	} {
		if p, err := url.Parse(f.url); err != nil || p.Scheme == "" || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an absolute URL, not %q", f.name, f.url))
		}
	}
	return errors.Join(errs...)
}

// runbook is the runbook_url of the section anchor of docs/runbooks.md.
func (o Options) runbook(anchor string) string { return o.Runbooks + "#" + anchor }
