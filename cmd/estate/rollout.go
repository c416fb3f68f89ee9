//go:build !servicesonly

package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
	rollouthttp "github.com/estatehq/estate/rollout/http"
	"github.com/estatehq/estate/sloreport"
)

// rolloutConfig is the post-deploy analysis of the collector target
// (rollout.*) and its rollback hooks (rollout.hooks.*).
type rolloutConfig struct {
	rollout.Settings `yaml:",inline"`
	Hooks            hooks.Config `yaml:"hooks"`
}

func (c *rolloutConfig) RegisterFlags(fs *flag.FlagSet) {
	c.Settings.RegisterFlags(fs, "rollout.")
	c.Hooks.RegisterFlags(fs, "rollout.hooks.")
}

func (c *rolloutConfig) Validate() error {
	return errors.Join(config.Under("rollout.", c.Settings.Validate()), config.Under("rollout.hooks.", c.Hooks.Validate()))
}

// rolloutWiring is the analyser the collector target runs, and the routes
// of its API; both are nil when the analysis is off.
type rolloutWiring struct {
	analyser *rollout.Analyser
	routes   func(chi.Router) error
}

// rolloutAnalyser builds the post-deploy analysis over the event store
// and the SLOs' querier, with the objective of each service's
// availability SLO and the configured rollback hooks.
func (a *app) rolloutAnalyser(store metrics.Store, slos sloWiring, reg prometheus.Registerer) (rolloutWiring, error) {
	cfg := a.cfg.Rollout
	if !cfg.Enabled {
		return rolloutWiring{routes: func(chi.Router) error { return nil }}, nil
	}
	hs, err := hooks.New(cfg.Hooks, nil, hooks.Options{Now: a.now})
	if err != nil {
		return rolloutWiring{}, fmt.Errorf("rollback hooks: %w", err)
	}
	o := cfg.Options()
	o.Store, o.Querier, o.Hooks = store, slos.querier, hs
	o.Objective = availabilityObjectives(slos.slos)
	o.Now, o.Logger, o.Registerer = a.now, a.componentLogger("rollout"), reg
	an, err := rollout.NewAnalyser(o)
	if err != nil {
		return rolloutWiring{}, err
	}
	logger := o.Logger
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.Name()
	}
	logger.Info("post-deploy analysis on", "window", o.Config.Window, "environments", o.Environments, "dry_run", !o.CallHooks || len(hs) == 0, "hooks", names)
	return rolloutWiring{analyser: an, routes: func(r chi.Router) error {
		if err := rollouthttp.Routes(r, an, logger); err != nil {
			return fmt.Errorf("analyses API: %w", err)
		}
		return nil
	}}, nil
}

// availabilityObjectives gives, for a service, the highest objective of
// its SLOs over the same ratio the analysis measures (bad events counted
// by estate_red_errors_total): the burn rate is only comparable to the
// SLO of the same indicator. 0 when it has none.
func availabilityObjectives(slos []sloreport.SLO) func(string) float64 {
	obj := map[string]float64{}
	for _, s := range slos {
		if s.Indicator.Latency == nil && strings.HasPrefix(strings.TrimSpace(s.Indicator.Bad), "estate_red_errors_total") {
			obj[s.Service] = max(obj[s.Service], s.Objective)
		}
	}
	return func(service string) float64 { return obj[service] }
}
