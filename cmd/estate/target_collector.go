//go:build !servicesonly

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/collector/otlp"
	collectorsvc "github.com/estatehq/estate/collector/service"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/modules"
	"github.com/estatehq/estate/internal/ratelimit"
	"github.com/estatehq/estate/internal/server"
	"github.com/estatehq/estate/metrics"
	metricshttp "github.com/estatehq/estate/metrics/http"
	"github.com/estatehq/estate/metrics/intake/alertmanager"
	"github.com/estatehq/estate/metrics/postgres"
	metricsprom "github.com/estatehq/estate/metrics/prometheus"
	"github.com/estatehq/estate/metrics/sqlite"
	"github.com/estatehq/estate/services/kit/telemetry"
)

// initCollector builds the collector target: the collector itself, which
// collector/service assembles from its configuration (OTLP on 4317/4318,
// the queue, the embedded stores, RED, the scrape and the rules, the
// exporters), the reliability events API of the metrics area, mounted on
// the collector's API port (8088) with the DORA series on its /metrics,
// and the SLOs' API with their series, their rules evaluated beside the
// rule files, and the incidents' reviews; the event store is also the
// incident intake of the rules' alerts.
func (a *app) initCollector(ctx context.Context) (modules.Service, error) {
	reg := server.NewRegistry()
	store, err := a.openEventStore(ctx)
	if err != nil {
		return nil, err
	}
	a.events = store
	dir := filepath.Join(a.cfg.DataDir, "collector")
	events, err := a.eventsAPI(store, reg, filepath.Join(dir, collectorsvc.DeadLetterDirName))
	if err != nil {
		return nil, err
	}
	slos, err := a.sloAPI(reg)
	if err != nil {
		return nil, err
	}
	analyses, err := a.rolloutAnalyser(store, slos, reg)
	if err != nil {
		return nil, err
	}
	authn, static, err := a.authenticator(a.componentLogger("collector"), reg)
	if err != nil {
		return nil, err
	}
	svc, err := collectorsvc.New(ctx, collectorsvc.Options{
		Config:        a.cfg.Collector,
		Authenticator: authn,
		Access:        collectorAccess(),
		Dir:           dir,
		Routes: func(r chi.Router) error {
			return errors.Join(events(r), slos.routes(r), a.reviewAPI(store, slos)(r), analyses.routes(r))
		},
		Incidents:      alertIntake{store: store, opts: a.cfg.Events.alertmanager()},
		GeneratedRules: slos.rules,
		Logger:         a.componentLogger("collector"),
		Registry:       reg,
		TLS:            a.listenerTLS(reg),
		Now:            a.now,
	})
	if err != nil {
		return nil, err
	}
	a.collector = svc
	export, err := a.exportSchedule(ctx, store)
	if err != nil {
		return nil, err
	}
	stream, err := a.stream(ctx, store, dir)
	if err != nil {
		return nil, err
	}
	a.guard(guardedListener{target: "collector", routes: svc.Routes(), table: collectorAccess(), url: svc.URL})
	a.guard(guardedListener{
		target: "collector-otlp", routes: svc.Receiver().Routes(), table: otlp.Access,
		url:     func() string { return "http://" + server.LoopbackAddr(svc.OTLPHTTPAddr()) },
		methods: func() []string { return auth.GRPCMethods(svc.Receiver().GRPCServer()) },
	})
	// The static tokens first, then the collector, then what runs over
	// its event store (the post-deploy analysis, the analytics export's
	// schedule, the Kafka stream); stopped in reverse.
	var analyser modules.Service
	if analyses.analyser != nil {
		analyser = &modules.Background{What: "the post-deploy analysis", Run: func(ctx context.Context) { _ = analyses.analyser.Run(ctx) }}
	}
	var parts []modules.Service
	for _, p := range []modules.Service{static, svc, analyser, export, stream} {
		if p != nil {
			parts = append(parts, p)
		}
	}
	if len(parts) == 1 {
		return svc, nil
	}
	return &collectorTarget{Service: svc, parts: modules.Group{Parts: parts}}, nil
}

// collectorTarget is the collector with the parts that run beside it.
type collectorTarget struct {
	*collectorsvc.Service
	parts modules.Group
}

func (t *collectorTarget) Start(ctx context.Context) error { return t.parts.Start(ctx) }

func (t *collectorTarget) Shutdown(ctx context.Context) error { return t.parts.Shutdown(ctx) }

// telemetryConfig is the services' telemetry configuration. With no OTLP
// endpoint configured and the collector in this process (as under `up`),
// services export to it, so their traces and logs are queryable at once.
func (a *app) telemetryConfig() telemetry.Config {
	cfg := a.cfg.Telemetry
	if cfg.OTLPEndpoint == "" && a.collector != nil {
		cfg.OTLPEndpoint = server.LoopbackAddr(a.collector.OTLPGRPCAddr())
		// Over TLS when the collector serves it, verified against the
		// targets' CA file.
		cfg.OTLPInsecure = a.certs == nil
		if cfg.OTLPCAFile == "" {
			cfg.OTLPCAFile = a.cfg.TLS.CAFile
		}
	}
	return cfg
}

// telemetryToken is the token source of a service's exports to the
// collector of this process (under `up`), which requires
// telemetry.write: tokens the development issuer mints (auth.dev), unless
// telemetry.otlp-token-file names one.
func (a *app) telemetryToken(service string) (auth.TokenSource, error) {
	if a.collector == nil || a.cfg.Telemetry.OTLPEndpoint != "" || a.cfg.Telemetry.OTLPTokenFile != "" {
		return nil, nil
	}
	return a.machineTokens("estate-"+service, machineClient{}, auth.RoleTelemetryWrite)
}

// eventsConfig configures the reliability events API that the collector
// serves on its API port, and the event store behind it.
type eventsConfig struct {
	// PostgresDSN selects PostgreSQL for the event store; empty means SQLite
	// at <data-dir>/events.db.
	PostgresDSN           string `yaml:"postgres_dsn"`
	GitHubSecret          string `yaml:"github_secret"`
	CircleCISecret        string `yaml:"circleci_secret"`
	CircleCIDeployPattern string `yaml:"circleci_deploy_pattern"`
	CircleCIEnvironment   string `yaml:"circleci_environment"`
	// AlertmanagerEnvironment is the environment of the alerts that have
	// no environment label.
	AlertmanagerEnvironment string `yaml:"alertmanager_environment"`
	MaxBodyBytes            int64  `yaml:"max_body_bytes"`
	// MetricsTTL is how long the DORA series on /metrics are cached between
	// scrapes.
	MetricsTTL time.Duration `yaml:"metrics_ttl"`
	// RateLimit and RateBurst bound the requests a second of each sender
	// with a token (the signed GitHub and CircleCI webhooks have none);
	// zero turns the bound off.
	RateLimit float64 `yaml:"rate_limit"`
	RateBurst int     `yaml:"rate_burst"`
}

func (c *eventsConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.PostgresDSN, "events.postgres-dsn", "", "PostgreSQL DSN of the event store; empty keeps events in SQLite under --data-dir")
	fs.StringVar(&c.GitHubSecret, "events.github-secret", "", "secret of the GitHub deployment_status webhook; empty turns /v1/events/github off")
	fs.StringVar(&c.CircleCISecret, "events.circleci-secret", "", "secret of the CircleCI workflow-completed webhook; empty turns /v1/events/circleci off")
	fs.StringVar(&c.CircleCIDeployPattern, "events.circleci-deploy-pattern", "(?i)deploy", "regular expression selecting CircleCI deploy workflows by name; a group named environment names the environment")
	fs.StringVar(&c.CircleCIEnvironment, "events.circleci-environment", "production", "environment of CircleCI deploy workflows whose name gives none")
	fs.StringVar(&c.AlertmanagerEnvironment, "events.alertmanager-environment", alertmanager.DefaultEnvironment, "environment of the incidents of Alertmanager alerts without an environment label")
	fs.Int64Var(&c.MaxBodyBytes, "events.max-body-bytes", metricshttp.DefaultMaxBodyBytes, "largest accepted event request body, in bytes (413 beyond)")
	fs.DurationVar(&c.MetricsTTL, "events.metrics-ttl", 15*time.Second, "how long the DORA series on /metrics are cached between scrapes")
	fs.Float64Var(&c.RateLimit, "events.rate-limit", 100, "requests a second each sender of events (its principal) may make; more get 429 with Retry-After; 0 turns the limit off")
	fs.IntVar(&c.RateBurst, "events.rate-burst", 200, "requests a sender of events may make at once above events.rate-limit")
}

func (c *eventsConfig) Validate() error {
	var errs []error
	if _, err := regexp.Compile(c.CircleCIDeployPattern); err != nil {
		errs = append(errs, fmt.Errorf("events.circleci_deploy_pattern: %w", err))
	}
	if strings.TrimSpace(c.AlertmanagerEnvironment) != c.AlertmanagerEnvironment || c.AlertmanagerEnvironment == "" {
		errs = append(errs, fmt.Errorf("events.alertmanager_environment: must be a name without surrounding white space, not %q", c.AlertmanagerEnvironment))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("events.max_body_bytes: must be positive, not %d", c.MaxBodyBytes))
	}
	if c.MetricsTTL < 0 {
		errs = append(errs, fmt.Errorf("events.metrics_ttl: must not be negative, not %s", c.MetricsTTL))
	}
	if c.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("events.rate_limit: must be 0 (off) or positive, not %v", c.RateLimit))
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		errs = append(errs, fmt.Errorf("events.rate_burst: must be at least 1, not %d", c.RateBurst))
	}
	return errors.Join(errs...)
}

// alertmanager is how alerts map onto incidents, at the events API and
// from the collector's own rules alike.
func (c *eventsConfig) alertmanager() alertmanager.Options {
	return alertmanager.Options{Environment: c.AlertmanagerEnvironment}
}

// openEventStore opens the event store the configuration names and closes it
// when the run ends.
func (a *app) openEventStore(ctx context.Context) (metrics.Store, error) {
	st, closeStore, err := openEvents(ctx, a.cfg.DataDir, a.cfg.Events.PostgresDSN, a.componentLogger("events"))
	if err != nil {
		return nil, err
	}
	a.onClose(closeStore)
	return st, nil
}

// eventsFile is the SQLite event store's file under the data directory.
const eventsFile = "events.db"

// openEvents opens the event store: PostgreSQL at dsn, or SQLite under
// dataDir when dsn is empty. The function returned closes it.
func openEvents(ctx context.Context, dataDir, dsn string, logger *slog.Logger) (metrics.Store, func() error, error) {
	if dsn != "" {
		st, err := postgres.Open(ctx, dsn, postgres.Options{Logger: logger})
		if err != nil {
			return nil, nil, fmt.Errorf("opening event store: %w", err)
		}
		return st, func() error { st.Close(); return nil }, nil
	}
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, eventsFile), sqlite.Options{Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("opening event store: %w", err)
	}
	return st, st.Close, nil
}

// eventsAPI registers the DORA series of store on reg, and returns what
// mounts the events API on the collector's router, with its intakes'
// series on reg and their dead letters in deadLetterDir (the collector's).
func (a *app) eventsAPI(store metrics.Store, reg *prometheus.Registry, deadLetterDir string) (func(chi.Router) error, error) {
	logger := a.componentLogger("events")
	opts := metricshttp.Options{
		Store:                 store,
		Logger:                logger,
		Now:                   a.now,
		GitHubSecret:          a.cfg.Events.GitHubSecret,
		CircleCISecret:        a.cfg.Events.CircleCISecret,
		CircleCIDeployPattern: regexp.MustCompile(a.cfg.Events.CircleCIDeployPattern), // validated at load
		CircleCIEnvironment:   a.cfg.Events.CircleCIEnvironment,
		MaxBodyBytes:          a.cfg.Events.MaxBodyBytes,
		Alertmanager:          a.cfg.Events.alertmanager(),
		DeadLetterDir:         deadLetterDir,
		Registerer:            reg,
	}
	dora, err := metricsprom.NewCollector(metricsprom.Options{Store: store, Now: a.now, TTL: a.cfg.Events.MetricsTTL, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("DORA series: %w", err)
	}
	if err := reg.Register(dora); err != nil {
		return nil, fmt.Errorf("registering DORA series: %w", err)
	}
	var limit func(http.Handler) http.Handler
	if a.cfg.Events.RateLimit > 0 {
		limit = ratelimit.New(ratelimit.Options{Rate: a.cfg.Events.RateLimit, Burst: a.cfg.Events.RateBurst, Now: a.now, Registerer: reg,
			Key: func(r *http.Request) (string, bool) {
				p, ok := auth.FromContext(r.Context())
				return p.Who(), ok
			}}).Middleware
	}
	return func(r chi.Router) error {
		var err error
		r.Group(func(r chi.Router) {
			if limit != nil {
				r.Use(limit)
			}
			err = metricshttp.Routes(r, opts)
		})
		if err != nil {
			return fmt.Errorf("events API: %w", err)
		}
		return nil
	}, nil
}

// alertIntake is the incident intake of the collector's rules: the alert
// notifications they send, the body Alertmanager would post to
// /v1/events/alertmanager, mapped as that endpoint maps them, so a firing
// alert opens an incident and a resolved one resolves it. The rules send
// one alert per notification; one that cannot be mapped is refused for
// good, and the rules count and log it.
type alertIntake struct {
	store metrics.Store
	opts  alertmanager.Options
}

// Alerts implements collectorrules.Incidents.
func (i alertIntake) Alerts(ctx context.Context, body []byte) error {
	b, err := alertmanager.Decode(body, i.opts)
	if err != nil {
		return delivery.Permanent(err)
	}
	if _, err := i.store.Append(ctx, b.Events); err != nil {
		if errors.Is(err, metrics.ErrInvalid) {
			return delivery.Permanent(err)
		}
		return err
	}
	if err := b.Err(); err != nil {
		return delivery.Permanent(err)
	}
	return nil
}

// scrapeTarget has the collector of this process, if any (under `up`),
// scrape the /metrics of a service's server as job once it serves, and
// stop when it stops. A collector elsewhere is told of the service with
// collector.scrape.targets.
func (a *app) scrapeTarget(job string, srv *server.Server) modules.Service {
	return scrapeTarget{a: a, job: job, srv: srv}
}

type scrapeTarget struct {
	a   *app
	job string
	srv *server.Server
}

func (t scrapeTarget) Start(context.Context) error {
	if t.a.collector == nil {
		return nil
	}
	return t.a.collector.SetScrapeTargets(t.job, server.LoopbackAddr(t.srv.Addr()))
}

func (t scrapeTarget) Shutdown(context.Context) error {
	if t.a.collector == nil {
		return nil
	}
	return t.a.collector.SetScrapeTargets(t.job)
}
