package rollout

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/estatehq/estate/metrics"
)

// Running is the state of an analysis whose window is not over.
const Running = "running"

// Status is what is known of one deployment's analysis.
type Status struct {
	DeploymentID string    `json:"deployment_id"`
	Service      string    `json:"service"`
	Environment  string    `json:"environment"`
	Version      string    `json:"version"`
	DeployedAt   time.Time `json:"deployed_at"`
	// WindowEnd is when the analysis decides at the latest.
	WindowEnd time.Time `json:"window_end"`
	// State is running, or the verdict: passed, failed or inconclusive.
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	// RollbackRecommended is set when the analysis failed; DryRun when no
	// hook was to be called for it.
	RollbackRecommended bool `json:"rollback_recommended"`
	DryRun              bool `json:"dry_run,omitempty"`
	// RolledBackAt is when the deployment was rolled back, by anyone.
	RolledBackAt *time.Time `json:"rolled_back_at,omitempty"`
	// Hooks are the answers of the rollback hooks called.
	Hooks []HookCall `json:"hooks,omitempty"`
	// Result is the evidence: the numbers, the tests and the queries.
	// Only Analysis gives it; lists leave it out.
	Result *Result `json:"result,omitempty"`
}

// HookCall is a rollback hook's recorded answer.
type HookCall struct {
	Hook     string    `json:"hook"`
	Outcome  string    `json:"outcome"`
	Attempts int       `json:"attempts"`
	Status   int       `json:"status,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	At       time.Time `json:"at"`
}

// Filter selects analyses; a zero field selects all.
type Filter struct {
	Service, Environment string
	// State is running, passed, failed or inconclusive.
	State string
	// From and To bound the deployment's time in production: [From, To).
	From, To time.Time
}

// Analyses lists the analyses f selects, the latest deployment first:
// every deployment with a verdict, and those under analysis now.
func (a *Analyser) Analyses(ctx context.Context, f Filter) ([]Status, error) {
	all, err := a.statuses(ctx, "", false)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(all))
	for _, s := range all {
		if (f.Service == "" || s.Service == f.Service) && (f.Environment == "" || s.Environment == f.Environment) &&
			(f.State == "" || s.State == f.State) && (f.From.IsZero() || !s.DeployedAt.Before(f.From)) &&
			(f.To.IsZero() || s.DeployedAt.Before(f.To)) {
			out = append(out, s)
		}
	}
	return out, nil
}

// Analysis is the analysis of one deployment with its evidence. Errors: a
// *metrics.NotFoundError when the deployment is unknown, or neither
// analysed nor under analysis.
func (a *Analyser) Analysis(ctx context.Context, deploymentID string) (Status, error) {
	all, err := a.statuses(ctx, deploymentID, true)
	if err != nil {
		return Status{}, err
	}
	if len(all) == 0 {
		return Status{}, &metrics.NotFoundError{What: fmt.Sprintf("no analysis of deployment %q", deploymentID)}
	}
	return all[0], nil
}

// statuses reads the analyses from the event log: of one deployment when
// id is set, with the evidence when withResult.
func (a *Analyser) statuses(ctx context.Context, id string, withResult bool) ([]Status, error) {
	now := a.o.Now()
	events, err := a.o.Store.Events(ctx, metrics.Filter{})
	if err != nil {
		return nil, fmt.Errorf("reading the event log: %w", err)
	}
	deps, _ := metrics.Fold(events)
	type extra struct {
		hooks    []HookCall
		dryRun   bool
		evidence json.RawMessage
	}
	extras := map[string]*extra{}
	get := func(d string) *extra {
		x := extras[d]
		if x == nil {
			x = &extra{}
			extras[d] = x
		}
		return x
	}
	for _, e := range events {
		switch d := e.Data.(type) {
		case metrics.DeploymentAnalysed:
			if id == "" || d.DeploymentID == id {
				if x := get(d.DeploymentID); x.evidence == nil {
					x.evidence = d.Evidence
				}
			}
		case metrics.DeploymentRollbackRecommended:
			get(d.DeploymentID).dryRun = d.DryRun
		case metrics.DeploymentRollbackHookCalled:
			x := get(d.DeploymentID)
			x.hooks = append(x.hooks, HookCall{Hook: d.Hook, Outcome: d.Outcome, Attempts: d.Attempts, Status: d.Status, Detail: d.Detail, At: e.Time})
		}
	}
	var out []Status
	for _, d := range deps {
		if id != "" && d.ID != id {
			continue
		}
		if d.Verdict == "" && !a.underAnalysis(d, now) {
			continue
		}
		s := Status{DeploymentID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version,
			DeployedAt: d.SucceededAt, WindowEnd: d.SucceededAt.Add(a.config(d.Service).Window), State: Running}
		if d.Verdict != "" {
			at := d.AnalysedAt
			s.State, s.Reason, s.DecidedAt = d.Verdict, d.VerdictReason, &at
		}
		if !d.RollbackRecommendedAt.IsZero() {
			s.RollbackRecommended = true
		}
		if d.RolledBack() {
			at := d.RolledBackAt
			s.RolledBackAt = &at
		}
		if x := extras[d.ID]; x != nil {
			s.DryRun = s.RollbackRecommended && x.dryRun
			s.Hooks = x.hooks
			slices.SortFunc(s.Hooks, func(p, q HookCall) int { return cmp.Compare(p.Hook, q.Hook) })
			if withResult && len(x.evidence) > 0 {
				var r Result
				if err := json.Unmarshal(x.evidence, &r); err != nil {
					return nil, fmt.Errorf("deployment %s: reading the evidence: %w", d.ID, err)
				}
				s.Result = &r
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(p, q Status) int {
		if c := q.DeployedAt.Compare(p.DeployedAt); c != 0 {
			return c
		}
		return cmp.Compare(p.DeploymentID, q.DeploymentID)
	})
	return out, nil
}
