package prometheus

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"runtime"

	"github.com/go-chi/chi/v5"
	"github.com/grafana/regexp"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
	v1 "github.com/prometheus/prometheus/web/api/v1"
)

// APIOptions are what the Prometheus HTTP API serves besides the store.
type APIOptions struct {
	// Targets are the scrape targets, whose metric metadata
	// /api/v1/metadata serves (a scrape.Manager is one); none when nil.
	Targets func(context.Context) v1.TargetRetriever
	// Rules are the rule groups and their alerts that /api/v1/rules and
	// /api/v1/alerts serve (a rules.Manager is one); none when nil.
	Rules func(context.Context) v1.RulesRetriever
}

// Routes mounts Prometheus's HTTP API for the store on r, so that Grafana
// adds the collector as a Prometheus data source unchanged and promtool
// queries it:
//
//	GET, POST /api/v1/query, /api/v1/query_range, /api/v1/series, /api/v1/labels
//	GET       /api/v1/label/{name}/values
//	GET       /api/v1/metadata, /api/v1/status/buildinfo
//	GET, POST /api/v1/query_exemplars (always empty: no exemplars are kept)
//	GET       /api/v1/rules, /api/v1/alerts
//
// The handlers are Prometheus's own (web/api/v1), so the parameters, the
// JSON, the errors ({"status":"error","errorType":...,"error":...}) and
// their status codes are Prometheus's. Its router holds the whole API; only
// the routes above are mounted, the rest (admin, remote read and write,
// TSDB status, targets) are not served.
func (s *Store) Routes(r chi.Router, o APIOptions) {
	h := s.apiHandler(o)
	both := []string{"/query", "/query_range", "/series", "/labels", "/query_exemplars"}
	for _, p := range both {
		r.Method(http.MethodGet, "/api/v1"+p, h)
		r.Method(http.MethodPost, "/api/v1"+p, h)
	}
	for _, p := range []string{"/label/{name}/values", "/metadata", "/status/buildinfo", "/rules", "/alerts"} {
		r.Method(http.MethodGet, "/api/v1"+p, h)
	}
}

// apiHandler is Prometheus's API over the store, with nothing behind what
// the collector does not have.
func (s *Store) apiHandler(o APIOptions) http.Handler {
	targets := o.Targets
	if targets == nil {
		targets = func(context.Context) v1.TargetRetriever { return noTargets{} }
	}
	ruleGroups := o.Rules
	if ruleGroups == nil {
		ruleGroups = func(context.Context) v1.RulesRetriever { return noRules{} }
	}
	api := v1.NewAPI(
		s.engine, s.db, nil, s.db,
		func(context.Context) v1.ScrapePoolsRetriever { return noTargets{} },
		targets,
		func(context.Context) v1.AlertmanagerRetriever { return noAlertmanagers{} },
		func() config.Config { return config.DefaultConfig },
		nil,                   // flags
		v1.GlobalURLOptions{}, // only the targets API builds URLs
		func(f http.HandlerFunc) http.HandlerFunc { return f }, // ready from Open on
		nil, "", // TSDB stats and admin: not served
		false, false, 0, // admin API, search API, search limit
		s.logger.With("part", "prometheus-api"),
		ruleGroups,
		0, 0, 0, // remote read: not served
		false,     // agent
		anyOrigin, // CORS: Prometheus's default, for a read-only API
		nil,       // runtime info: not served
		&v1.PrometheusVersion{Version: PrometheusVersion, Branch: "estate", GoVersion: runtime.Version()},
		nil, nil, // notifications: not served
		nil, nil, // gatherer, registerer: nothing of the unserved routes registers
		nil,        // default stats renderer
		false, nil, // remote write receiver: off
		false, false, false, // OTLP receiver: off
		s.cfg.LookbackDelta,
		false, false, // type and unit labels, metadata appends
		nil,                 // Prometheus's status codes for errors
		nil,                 // feature registry: /features is not served
		v1.OpenAPIOptions{}, // /openapi.yaml is not served
		nil,                 // default PromQL parser
		false,               // query cost estimation: off
		s.cfg.QueryTimeout,
	)
	router := route.New()
	api.Register(router.WithPrefix("/api/v1"))
	return router
}

// PrometheusVersion is the release of the Prometheus libraries the store
// is built from (the module github.com/prometheus/prometheus v0.316.0 is
// Prometheus 3.16.0), which /api/v1/status/buildinfo gives as the version:
// Grafana enables features by it. A test holds it to go.mod.
const PrometheusVersion = "3.16.0"

// noTargets, noRules and noAlertmanagers stand for the parts of a
// Prometheus server that the collector does not run.
type (
	noTargets       struct{}
	noRules         struct{}
	noAlertmanagers struct{}
)

var (
	_ v1.TargetRetriever       = noTargets{}
	_ v1.ScrapePoolsRetriever  = noTargets{}
	_ v1.RulesRetriever        = noRules{}
	_ v1.AlertmanagerRetriever = noAlertmanagers{}
)

func (noTargets) ScrapePools() []string                                 { return nil }
func (noTargets) TargetsActive() map[string][]*scrape.Target            { return nil }
func (noTargets) TargetsDropped() map[string][]*scrape.Target           { return nil }
func (noTargets) TargetsDroppedCounts() map[string]int                  { return nil }
func (noTargets) ScrapePoolConfig(string) (*config.ScrapeConfig, error) { return nil, errNoScrapePool }
func (noRules) RuleGroups() []*rules.Group                              { return nil }
func (noRules) AlertingRules() []*rules.AlertingRule                    { return nil }
func (noAlertmanagers) Alertmanagers() []*url.URL                       { return nil }
func (noAlertmanagers) DroppedAlertmanagers() []*url.URL                { return nil }

var errNoScrapePool = errors.New("no scrape pools")

// anyOrigin lets any web page read the API, as Prometheus does by default
// (--web.cors.origin=".*"); the routes mounted only read.
var anyOrigin = regexp.MustCompile("^(?:.*)$")
