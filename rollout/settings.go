package rollout

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/estatehq/estate/internal/delivery"
)

// Settings are the analyser's configuration as the collector target
// takes it: flags under a prefix ("rollout."), YAML keys beside them.
type Settings struct {
	// Enabled runs the analyser (default true: it only recommends, unless
	// DryRun is off and hooks are configured).
	Enabled bool `yaml:"enabled"`
	// Window is the default window after a deploy; Windows overrides it
	// per service ("invoicing=10m,credit=20m").
	Window  time.Duration `yaml:"window"`
	Windows string        `yaml:"windows"`
	// Baseline is how long before the deploy is compared with; zero is
	// the window.
	Baseline time.Duration `yaml:"baseline"`
	// Environments are the environments analysed, comma-separated.
	Environments string        `yaml:"environments"`
	Interval     time.Duration `yaml:"interval"`
	Settle       time.Duration `yaml:"settle"`
	MaxAge       time.Duration `yaml:"max_age"`
	MinRequests  float64       `yaml:"min_requests"`
	Alpha        float64       `yaml:"alpha"`
	FastBurn     float64       `yaml:"fast_burn"`
	// DryRun recommends without calling the hooks (default true).
	DryRun bool `yaml:"dry_run"`
	// HookAttempts, HookInitialBackoff and HookMaxBackoff retry a hook.
	HookAttempts       int           `yaml:"hook_attempts"`
	HookInitialBackoff time.Duration `yaml:"hook_initial_backoff"`
	HookMaxBackoff     time.Duration `yaml:"hook_max_backoff"`
}

// RegisterFlags sets the defaults and binds the flags under prefix.
func (s *Settings) RegisterFlags(fs *flag.FlagSet, prefix string) {
	fs.BoolVar(&s.Enabled, prefix+"enabled", true, "analyse every deployment that reaches production: its errors and latency after the deploy against before, and its SLO's burn")
	fs.DurationVar(&s.Window, prefix+"window", DefaultWindow, "how long after a deploy is analysed")
	fs.StringVar(&s.Windows, prefix+"windows", "", "windows of particular services, as service=duration,... (invoicing=10m)")
	fs.DurationVar(&s.Baseline, prefix+"baseline", 0, "how long before a deploy is the baseline; 0 is the window")
	fs.StringVar(&s.Environments, prefix+"environments", "production", "environments whose deployments are analysed, comma-separated")
	fs.DurationVar(&s.Interval, prefix+"interval", DefaultInterval, "spacing of the looks within a window; a failure is decided at the first look that shows it")
	fs.DurationVar(&s.Settle, prefix+"settle", DefaultSettle, "how long after a look's end its data is awaited (the scrape, the spans' way in)")
	fs.DurationVar(&s.MaxAge, prefix+"max-age", DefaultMaxAge, "deployments that reached production longer ago are not analysed, nor their hooks called")
	fs.Float64Var(&s.MinRequests, prefix+"min-requests", DefaultMinRequests, "fewest requests after the deploy, and in the baseline, that a test decides on")
	fs.Float64Var(&s.Alpha, prefix+"alpha", DefaultAlpha, "significance level of the tests, over all the looks of a window")
	fs.Float64Var(&s.FastBurn, prefix+"fast-burn", DefaultFastBurn, "burn rate of the service's availability SLO above which a deploy fails")
	fs.BoolVar(&s.DryRun, prefix+"dry-run", true, "recommend rollbacks without calling the rollback hooks")
	fs.IntVar(&s.HookAttempts, prefix+"hook-attempts", 8, "calls of a rollback hook before its failure is recorded")
	fs.DurationVar(&s.HookInitialBackoff, prefix+"hook-initial-backoff", time.Second, "first wait before calling a hook again; doubles each time")
	fs.DurationVar(&s.HookMaxBackoff, prefix+"hook-max-backoff", time.Minute, "longest wait between calls of a hook, and the longest Retry-After heeded")
}

// Validate names every key at fault.
func (s *Settings) Validate() error {
	if !s.Enabled {
		return nil
	}
	var errs []error
	if _, err := s.windows(); err != nil {
		errs = append(errs, err)
	}
	if len(s.environments()) == 0 {
		errs = append(errs, errors.New("environments: name at least one"))
	}
	if s.Interval < time.Second || s.Interval%time.Second != 0 {
		errs = append(errs, fmt.Errorf("interval: must be a whole number of seconds, not %s", s.Interval))
	}
	if s.Settle < 0 {
		errs = append(errs, fmt.Errorf("settle: must not be negative, not %s", s.Settle))
	}
	if s.MaxAge <= 0 {
		errs = append(errs, fmt.Errorf("max_age: must be positive, not %s", s.MaxAge))
	}
	if err := s.config().Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.HookAttempts < 1 {
		errs = append(errs, fmt.Errorf("hook_attempts: must be positive, not %d", s.HookAttempts))
	}
	if s.HookInitialBackoff <= 0 {
		errs = append(errs, fmt.Errorf("hook_initial_backoff: must be positive, not %s", s.HookInitialBackoff))
	}
	if s.HookMaxBackoff < s.HookInitialBackoff {
		errs = append(errs, fmt.Errorf("hook_max_backoff: must be at least hook_initial_backoff, not %s", s.HookMaxBackoff))
	}
	return errors.Join(errs...)
}

// config is the analyses' configuration.
func (s *Settings) config() Config {
	return Config{Window: s.Window, Baseline: s.Baseline, MinRequests: s.MinRequests, Alpha: s.Alpha, FastBurn: s.FastBurn}.WithDefaults()
}

func (s *Settings) retry() delivery.Retry {
	return delivery.Retry{MaxAttempts: s.HookAttempts, CapServerDelay: true,
		Backoff: delivery.Backoff{Initial: s.HookInitialBackoff, Max: s.HookMaxBackoff}}
}

func (s *Settings) environments() []string {
	var out []string
	for _, e := range strings.Split(s.Environments, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func (s *Settings) windows() (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, item := range strings.Split(s.Windows, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		svc, d, ok := strings.Cut(item, "=")
		svc = strings.TrimSpace(svc)
		w, err := time.ParseDuration(strings.TrimSpace(d))
		if !ok || svc == "" || err != nil || w <= 0 || w%time.Second != 0 {
			return nil, fmt.Errorf("windows: %q is not service=duration with a positive whole number of seconds", strings.TrimSpace(item))
		}
		out[svc] = w
	}
	return out, nil
}

// Options are the analyser's options these settings give; the caller
// adds the store, the querier, the objectives, the hooks and the rest.
func (s *Settings) Options() Options {
	w, _ := s.windows() // validated
	return Options{Config: s.config(), Windows: w, Environments: s.environments(), Interval: s.Interval,
		Settle: s.Settle, MaxAge: s.MaxAge, CallHooks: !s.DryRun, HookRetry: s.retry()}
}
