package demo

import (
	"errors"
	"flag"
	"fmt"
	"time"
)

// Config is what `estate up --demo` generates, each part able to be
// turned off.
type Config struct {
	// Enabled turns the demo on.
	Enabled bool `yaml:"enabled"`
	// Rate is the workload's requests a second, open loop; 0 turns the
	// workload off.
	Rate float64 `yaml:"rate"`
	// Concurrency bounds the requests in flight; a request due while
	// that many are in flight is skipped, not queued.
	Concurrency int `yaml:"concurrency"`
	// Businesses is how many businesses the workload registers and
	// trades between.
	Businesses int `yaml:"businesses"`
	// History turns the scripted delivery history on.
	History bool `yaml:"history"`
	// Weeks is how far back the history goes.
	Weeks int `yaml:"weeks"`
	// Seed draws the history and the workload's choices.
	Seed uint64 `yaml:"seed"`
	// Chaos turns the game-day schedule on.
	Chaos bool `yaml:"chaos"`
	// ChaosEvery is the period of each scheduled experiment.
	ChaosEvery time.Duration `yaml:"chaos_every"`
	// BadRelease ships a bad release of invoicing BadReleaseAfter the
	// traffic starts, for the post-deploy analysis to catch.
	BadRelease      bool          `yaml:"bad_release"`
	BadReleaseAfter time.Duration `yaml:"bad_release_after"`
}

// Defaults are the options of a laptop that stays idle.
const (
	DefaultRate       = 20
	DefaultWeeks      = 6
	DefaultChaosEvery = 5 * time.Minute
	// DefaultBadReleaseAfter leaves two minutes of traffic for the
	// analysis' baseline.
	DefaultBadReleaseAfter = 2 * time.Minute
	// MinChaosEvery leaves room for a run (its fault, then its recovery)
	// before the next slot.
	MinChaosEvery = 10 * time.Second
)

// RegisterFlags binds the options to flags named demo and demo.*.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "demo", false, "run a demo beside the targets: customer traffic on both services, a scripted delivery history of the past weeks and a game-day chaos schedule (see docs/demo.md)")
	fs.Float64Var(&c.Rate, "demo.rate", DefaultRate, "requests a second of the demo's customer traffic, open loop; 0 turns the traffic off")
	fs.IntVar(&c.Concurrency, "demo.concurrency", 16, "most demo requests in flight; one due beyond it is skipped")
	fs.IntVar(&c.Businesses, "demo.businesses", 6, "businesses the demo registers and trades between")
	fs.BoolVar(&c.History, "demo.history", true, "post the scripted delivery history (deployments, rollbacks, incidents) of the past weeks to the collector")
	fs.IntVar(&c.Weeks, "demo.weeks", DefaultWeeks, "weeks of delivery history")
	fs.Uint64Var(&c.Seed, "demo.seed", 20261202, "seed of the history and of the traffic's choices: the same seed, the same history")
	fs.BoolVar(&c.Chaos, "demo.chaos", true, "schedule the game-day chaos experiments")
	fs.DurationVar(&c.ChaosEvery, "demo.chaos-every", DefaultChaosEvery, "period of each game-day experiment")
	fs.BoolVar(&c.BadRelease, "demo.bad-release", true, "ship a bad release of invoicing (a tenth of its requests fail) for the post-deploy analysis to catch and roll back; needs the traffic")
	fs.DurationVar(&c.BadReleaseAfter, "demo.bad-release-after", DefaultBadReleaseAfter, "when the bad release ships after the traffic starts: the analysis' baseline is the traffic before")
}

// Validate names every option at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.Rate < 0 || c.Rate > 5000 {
		errs = append(errs, fmt.Errorf("demo.rate: must be between 0 and 5000, not %v", c.Rate))
	}
	if c.Concurrency < 1 || c.Concurrency > 1000 {
		errs = append(errs, fmt.Errorf("demo.concurrency: must be between 1 and 1000, not %d", c.Concurrency))
	}
	if c.Businesses < 2 || c.Businesses > 100 {
		errs = append(errs, fmt.Errorf("demo.businesses: must be between 2 and 100, not %d", c.Businesses))
	}
	if c.Weeks < 1 || c.Weeks > 52 {
		errs = append(errs, fmt.Errorf("demo.weeks: must be between 1 and 52, not %d", c.Weeks))
	}
	if c.ChaosEvery < MinChaosEvery {
		errs = append(errs, fmt.Errorf("demo.chaos_every: must be at least %s, not %s", MinChaosEvery, c.ChaosEvery))
	}
	if c.BadReleaseAfter < 0 || c.BadReleaseAfter > 24*time.Hour {
		errs = append(errs, fmt.Errorf("demo.bad_release_after: must be between 0 and 24h, not %s", c.BadReleaseAfter))
	}
	return errors.Join(errs...)
}
