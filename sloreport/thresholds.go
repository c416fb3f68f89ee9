package sloreport

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"
)

// RAG is the colour of a service in the executive summary: red, amber or
// green.
type RAG string

// The colours, from worst to best, and the absence of anything to judge.
const (
	Red   RAG = "red"
	Amber RAG = "amber"
	Green RAG = "green"
	// NoStatus: the period holds no event of the service and its SLOs no
	// event either.
	NoStatus RAG = "no_data"
)

// rank orders the colours: a higher rank is worse.
func (r RAG) rank() int {
	switch r {
	case Red:
		return 3
	case Amber:
		return 2
	case Green:
		return 1
	}
	return 0
}

// Thresholds decide a service's colour. A figure with no data decides
// nothing. Red wins over amber, amber over green:
//
//   - budget: the lowest share of an SLO's error budget left over the
//     period; red at or below BudgetRed, amber below BudgetAmber.
//   - rollback rate and change failure rate: red above the Red
//     threshold, amber above the Amber one.
//   - MTTR (mean): red above MTTRRed, amber above MTTRAmber.
type Thresholds struct {
	BudgetAmber float64 `yaml:"budget_amber" json:"budget_amber"`
	BudgetRed   float64 `yaml:"budget_red" json:"budget_red"`

	RollbackAmber float64 `yaml:"rollback_amber" json:"rollback_amber"`
	RollbackRed   float64 `yaml:"rollback_red" json:"rollback_red"`

	ChangeFailureAmber float64 `yaml:"change_failure_amber" json:"change_failure_amber"`
	ChangeFailureRed   float64 `yaml:"change_failure_red" json:"change_failure_red"`

	MTTRAmber time.Duration `yaml:"mttr_amber" json:"-"`
	MTTRRed   time.Duration `yaml:"mttr_red" json:"-"`
}

// MarshalJSON writes the durations in seconds, as every duration of a
// report's JSON.
func (t Thresholds) MarshalJSON() ([]byte, error) {
	type plain Thresholds
	return json.Marshal(struct {
		plain
		MTTRAmber float64 `json:"mttr_amber_seconds"`
		MTTRRed   float64 `json:"mttr_red_seconds"`
	}{plain(t), t.MTTRAmber.Seconds(), t.MTTRRed.Seconds()})
}

// DefaultThresholds are the defaults of RegisterFlags: the budget's at
// those of the SLO policy (at risk below a quarter, exhausted at none),
// the change failure rate's at DORA's elite (15%) and low (30%)
// performers, MTTR's at an hour and a day.
func DefaultThresholds() Thresholds {
	return Thresholds{
		BudgetAmber: DefaultAtRiskRemaining, BudgetRed: 0,
		RollbackAmber: 0.10, RollbackRed: 0.25,
		ChangeFailureAmber: 0.15, ChangeFailureRed: 0.30,
		MTTRAmber: time.Hour, MTTRRed: 24 * time.Hour,
	}
}

// RegisterFlags sets the defaults and binds the flags, named prefix +
// "budget-amber" and so on.
func (t *Thresholds) RegisterFlags(fs *flag.FlagSet, prefix string) {
	d := DefaultThresholds()
	fs.Float64Var(&t.BudgetAmber, prefix+"budget-amber", d.BudgetAmber, "a service is amber when an SLO has less than this share of the period's error budget left")
	fs.Float64Var(&t.BudgetRed, prefix+"budget-red", d.BudgetRed, "a service is red when an SLO has this share of the period's error budget left, or less")
	fs.Float64Var(&t.RollbackAmber, prefix+"rollback-amber", d.RollbackAmber, "a service is amber when its rollback rate is above this")
	fs.Float64Var(&t.RollbackRed, prefix+"rollback-red", d.RollbackRed, "a service is red when its rollback rate is above this")
	fs.Float64Var(&t.ChangeFailureAmber, prefix+"change-failure-amber", d.ChangeFailureAmber, "a service is amber when its change failure rate is above this")
	fs.Float64Var(&t.ChangeFailureRed, prefix+"change-failure-red", d.ChangeFailureRed, "a service is red when its change failure rate is above this")
	fs.DurationVar(&t.MTTRAmber, prefix+"mttr-amber", d.MTTRAmber, "a service is amber when its mean time to restore is longer than this")
	fs.DurationVar(&t.MTTRRed, prefix+"mttr-red", d.MTTRRed, "a service is red when its mean time to restore is longer than this")
}

// Validate names every field at fault, by its key.
func (t *Thresholds) Validate() error {
	var errs []error
	ratio := func(key string, v float64) {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("%s: must be between 0 and 1, not %v", key, v))
		}
	}
	ratio("budget_amber", t.BudgetAmber)
	ratio("budget_red", t.BudgetRed)
	ratio("rollback_amber", t.RollbackAmber)
	ratio("rollback_red", t.RollbackRed)
	ratio("change_failure_amber", t.ChangeFailureAmber)
	ratio("change_failure_red", t.ChangeFailureRed)
	if t.BudgetRed > t.BudgetAmber {
		errs = append(errs, fmt.Errorf("budget_red: must be at most budget_amber (%v), not %v", t.BudgetAmber, t.BudgetRed))
	}
	if t.RollbackRed < t.RollbackAmber {
		errs = append(errs, fmt.Errorf("rollback_red: must be at least rollback_amber (%v), not %v", t.RollbackAmber, t.RollbackRed))
	}
	if t.ChangeFailureRed < t.ChangeFailureAmber {
		errs = append(errs, fmt.Errorf("change_failure_red: must be at least change_failure_amber (%v), not %v", t.ChangeFailureAmber, t.ChangeFailureRed))
	}
	if t.MTTRAmber <= 0 {
		errs = append(errs, fmt.Errorf("mttr_amber: must be positive, not %s", t.MTTRAmber))
	}
	if t.MTTRRed < t.MTTRAmber {
		errs = append(errs, fmt.Errorf("mttr_red: must be at least mttr_amber (%s), not %s", t.MTTRAmber, t.MTTRRed))
	}
	return errors.Join(errs...)
}
