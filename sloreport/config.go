package sloreport

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"time"

	"github.com/estatehq/estate/internal/config"
)

// DefaultCacheTTL is how long one computation of the statuses serves the
// API and /metrics.
const DefaultCacheTTL = 15 * time.Second

// Config is what an operator sets of the SLOs (the `slo` group, read by the
// collector target, which serves them).
type Config struct {
	// Files are SLO files, besides the examples.
	Files []string `yaml:"files"`
	// Examples loads the SLOs of sloreport/examples (invoicing's and
	// credit's), compiled into the binary.
	Examples bool `yaml:"examples"`
	// MinEvents is the low-traffic guard (Policy.MinEvents).
	MinEvents float64 `yaml:"min_events"`
	// AtRiskRemaining is the remaining budget below which an SLO is at
	// risk (Policy.AtRiskRemaining).
	AtRiskRemaining float64 `yaml:"at_risk_remaining"`
	// CacheTTL is how long one computation serves the API and /metrics.
	CacheTTL time.Duration `yaml:"cache_ttl"`
	// PrometheusURL, when set, is the Prometheus (or any server of its
	// HTTP API) whose series the SLOs are computed from; empty is the
	// collector's embedded metrics store.
	PrometheusURL string `yaml:"prometheus_url"`
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "files" and so on.
func (c *Config) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.Var(config.CommaList{List: &c.Files}, prefix+"files", "SLO files (OpenSLO, apiVersion openslo/v1, kind SLO), comma-separated, besides the examples")
	fs.BoolVar(&c.Examples, prefix+"examples", true, "load the example SLOs of invoicing and credit (availability and latency, over the collector's estate_red_* series)")
	fs.Float64Var(&c.MinEvents, prefix+"min-events", DefaultMinEvents, "low-traffic guard: a burn rate counts, for the SLO's state and in every generated alert, only over a window with at least this many events")
	fs.Float64Var(&c.AtRiskRemaining, prefix+"at-risk-remaining", DefaultAtRiskRemaining, "an SLO with less than this fraction of its error budget left is at risk")
	fs.DurationVar(&c.CacheTTL, prefix+"cache-ttl", DefaultCacheTTL, "how long one computation of the SLOs serves GET /v1/slos and the estate_slo_* series")
	fs.StringVar(&c.PrometheusURL, prefix+"prometheus-url", "", "Prometheus (any server of its HTTP API, such as http://prometheus:9090) whose series the SLOs are computed from; empty: the collector's embedded metrics store")
}

// Validate names every field at fault, by its key in this group.
func (c *Config) Validate() error {
	var errs []error
	if c.MinEvents < 0 {
		errs = append(errs, fmt.Errorf("min_events: must not be negative, not %v", c.MinEvents))
	}
	if !(c.AtRiskRemaining >= 0 && c.AtRiskRemaining <= 1) {
		errs = append(errs, fmt.Errorf("at_risk_remaining: must be between 0 and 1, not %v", c.AtRiskRemaining))
	}
	if c.CacheTTL < 0 {
		errs = append(errs, fmt.Errorf("cache_ttl: must not be negative, not %s", c.CacheTTL))
	}
	if c.PrometheusURL != "" {
		if u, err := url.Parse(c.PrometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("prometheus_url: must be an http or https URL with a host, not %q", c.PrometheusURL))
		}
	}
	return errors.Join(errs...)
}

// Policy is the configuration's policy.
func (c *Config) Policy() Policy {
	return Policy{MinEvents: c.MinEvents, AtRiskRemaining: c.AtRiskRemaining}
}

// Load reads the SLOs the configuration names: the examples when Examples
// is set (examples is their files), then Files. Errors as ParseFiles.
func (c *Config) Load(examples fs.FS) ([]SLO, error) {
	var (
		slos []SLO
		errs []error
	)
	if c.Examples {
		ex, err := ParseFS(examples)
		slos = append(slos, ex...)
		errs = append(errs, err)
	}
	files, err := ParseFiles(c.Files...)
	errs = append(errs, err)
	for _, s := range files {
		if slices.ContainsFunc(slos, func(o SLO) bool { return o.Name == s.Name }) {
			errs = append(errs, &FieldError{Field: "metadata.name", Msg: fmt.Sprintf("%q names an example SLO too (--slo.examples=false leaves them out)", s.Name)})
			continue
		}
		slos = append(slos, s)
	}
	return slos, errors.Join(errs...)
}
