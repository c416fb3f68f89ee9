package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/delivery"
	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
)

// Defaults of Options.
const (
	DefaultInterval = time.Minute
	DefaultSettle   = 30 * time.Second
	DefaultMaxAge   = 24 * time.Hour
	DefaultSource   = "urn:estate:rollout"
	// maxHookCalls bounds the hook calls in flight.
	maxHookCalls = 4
)

// Options configure an Analyser.
type Options struct {
	// Store is the event log: deployments are read from it, and verdicts,
	// recommendations and hook answers written to it.
	Store metrics.Store
	// Querier answers the RED queries.
	Querier promquery.Querier
	// Config is how every analysis decides; Windows overrides its Window
	// per service.
	Config  Config
	Windows map[string]time.Duration
	// Objective gives the target of a service's availability SLO (0.995),
	// or 0 when it has none; nil judges no burn rate.
	Objective func(service string) float64
	// Environments are those whose deployments are analysed (default
	// production).
	Environments []string
	// Source is the CloudEvents source of the events written (default
	// urn:estate:rollout).
	Source string
	// Interval is the spacing of the looks within a window (default 1m).
	Interval time.Duration
	// Settle is how long after a look's end its data is awaited: the
	// collector's scrape and the spans' way in (default 30s).
	Settle time.Duration
	// MaxAge bounds how long after reaching production a deployment is
	// still analysed, and its hooks still called (default 24h): a
	// deployment reported a week late is not rolled back now.
	MaxAge time.Duration
	// Hooks are asked for a rollback when an analysis fails, only when
	// CallHooks is set: by default the analysis recommends and calls
	// nothing (a dry run).
	Hooks     []Hook
	CallHooks bool
	// HookRetry retries a hook's call; its MaxAttempts must be set.
	HookRetry delivery.Retry
	// Now is the clock (time.Now when nil).
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Analyser runs the post-deploy analysis of every deployment that reaches
// production. It keeps no state of its own that matters: which
// deployments are under analysis, and what was decided and called, are
// read again from the event log at every pass, so an analyser started
// again resumes each analysis where its window is (the window is the
// deployment's, not the analyser's) and never decides one twice (a
// verdict is an event with an id made from the deployment's).
type Analyser struct {
	o Options

	mu sync.Mutex
	// looked is the last interim look evaluated per deployment; after a
	// restart the looks already due are skipped, not made again.
	looked map[string]int
	// hooks are the calls in flight or answered but not yet recorded.
	hooks map[hookKey]*hookState
	wg    sync.WaitGroup
	sem   chan struct{}

	analyses  *prometheus.CounterVec
	running   prometheus.Gauge
	hookCalls *prometheus.CounterVec
	failures  prometheus.Counter
}

type hookKey struct{ deployment, hook string }

type hookState struct {
	// event is the answer to record; nil while the call is in flight.
	event *metrics.Event
}

// NewAnalyser checks o and returns an analyser; Run runs it.
func NewAnalyser(o Options) (*Analyser, error) {
	if o.Store == nil || o.Querier == nil {
		return nil, errors.New("rollout: a store and a querier are required")
	}
	o.Config = o.Config.WithDefaults()
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("rollout: %w", err)
	}
	for svc, w := range o.Windows {
		c := o.Config
		c.Window = w
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("rollout: window of %s: %w", svc, err)
		}
	}
	if len(o.Environments) == 0 {
		o.Environments = []string{"production"}
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Interval < time.Second || o.Interval%time.Second != 0 {
		return nil, errors.New("rollout: interval must be a whole number of seconds")
	}
	if o.Settle == 0 {
		o.Settle = DefaultSettle
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.CallHooks && len(o.Hooks) > 0 && o.HookRetry.MaxAttempts < 1 {
		return nil, errors.New("rollout: hook retry needs max attempts")
	}
	names := map[string]bool{}
	for _, h := range o.Hooks {
		if names[h.Name()] {
			return nil, fmt.Errorf("rollout: two hooks are named %q", h.Name())
		}
		names[h.Name()] = true
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Analyser{
		o: o, looked: map[string]int{}, hooks: map[hookKey]*hookState{}, sem: make(chan struct{}, maxHookCalls),
		analyses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "estate_rollout_analyses_total",
			Help: "Post-deploy analyses decided by this process, by verdict."}, []string{"verdict"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "estate_rollout_running",
			Help: "Deployments under post-deploy analysis at the last pass."}),
		hookCalls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "estate_rollout_hook_calls_total",
			Help: "Rollback hook calls answered, by hook and outcome (after retries)."}, []string{"hook", "outcome"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "estate_rollout_pass_failures_total",
			Help: "Passes of the analyser that failed: the event store or the querier did not answer."}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{a.analyses, a.running, a.hookCalls, a.failures} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("rollout: %w", err)
			}
		}
	}
	return a, nil
}

// Run makes a pass every quarter of the interval (at most every 15 s)
// until ctx ends, then waits for the hook calls in flight, which ctx's
// end cancels: they are made again by the next analyser.
func (a *Analyser) Run(ctx context.Context) error {
	every := min(a.o.Interval/4, 15*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	defer a.wg.Wait()
	for {
		if err := a.Pass(ctx); err != nil && ctx.Err() == nil {
			a.failures.Inc()
			a.o.Logger.Warn("rollout analysis pass failed; trying again", "err", err, "in", every)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Wait waits for the hook calls that passes started.
func (a *Analyser) Wait() { a.wg.Wait() }

// Pass looks once at every deployment under analysis, decides those whose
// window is over or whose failure is already clear, and starts the hook
// calls that failed analyses still owe. Hook calls run in the background
// (Wait waits for them) under ctx.
func (a *Analyser) Pass(ctx context.Context) error {
	now := a.o.Now()
	events, err := a.o.Store.Events(ctx, metrics.Filter{})
	if err != nil {
		return fmt.Errorf("reading the event log: %w", err)
	}
	deps, _ := metrics.Fold(events)
	var errs []error
	running, decisions := 0, 0
	for _, d := range deps {
		if !a.underAnalysis(d, now) {
			continue
		}
		running++
		decided, err := a.step(ctx, d, deps, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("deployment %s: %w", d.ID, err))
		}
		if decided {
			running--
			decisions++
		}
	}
	a.running.Set(float64(running))
	owed, err := a.recommendOwed(ctx, events, deps, now)
	if err != nil {
		errs = append(errs, err)
	}
	decisions += owed
	if a.o.CallHooks && len(a.o.Hooks) > 0 {
		if decisions > 0 {
			// The hooks the new verdicts owe are called now, not a pass
			// later.
			if events, err = a.o.Store.Events(ctx, metrics.Filter{}); err != nil {
				return errors.Join(append(errs, fmt.Errorf("reading the event log: %w", err))...)
			}
			deps, _ = metrics.Fold(events)
		}
		if err := a.owedHooks(ctx, events, deps, now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// underAnalysis reports whether d is analysed and not yet decided.
func (a *Analyser) underAnalysis(d metrics.Deployment, now time.Time) bool {
	return a.eligible(d, now) && d.Verdict == ""
}

// eligible reports whether d is one the analyser analyses: started and
// in production in an analysed environment, recently enough.
func (a *Analyser) eligible(d metrics.Deployment, now time.Time) bool {
	return d.Started && d.Succeeded() && slices.Contains(a.o.Environments, d.Environment) &&
		!d.SucceededAt.Before(now.Add(-a.o.MaxAge))
}

// config is the configuration of service's analyses.
func (a *Analyser) config(service string) Config {
	c := a.o.Config
	if w, ok := a.o.Windows[service]; ok {
		c.Window = w
	}
	return c
}

// interimLooks is how many looks a window has before its end, at every
// interval.
func (a *Analyser) interimLooks(window time.Duration) int {
	return int((window - 1) / a.o.Interval)
}

// step makes the look due for d, if any, and decides when the look says
// so. It reports whether d is decided.
func (a *Analyser) step(ctx context.Context, d metrics.Deployment, deps []metrics.Deployment, now time.Time) (bool, error) {
	cfg := a.config(d.Service)
	an := Analysis{Service: d.Service, DeploymentID: d.ID, Version: d.Version, DeployedAt: d.SucceededAt}
	if a.o.Objective != nil {
		an.Objective = a.o.Objective(d.Service)
	}
	if d.RolledBack() {
		// Traffic after a rollback is the old version's: nothing to judge.
		r := Result{Service: d.Service, DeploymentID: d.ID, Verdict: Inconclusive,
			Reason: fmt.Sprintf("rolled back at %s, before the analysis decided", d.RolledBackAt.UTC().Format(time.RFC3339))}
		return true, a.decide(ctx, d, r, now)
	}
	// The false alarms of all looks together stay within Alpha: half of
	// it is spent on the final look, the other half shared by the interim
	// looks, which can only fail a deployment (Bonferroni).
	interim := a.interimLooks(cfg.Window)
	since := now.Sub(d.SucceededAt) - a.o.Settle
	final := since >= cfg.Window
	c := cfg
	if final {
		if interim > 0 {
			c.Alpha = cfg.Alpha / 2
		}
	} else {
		k := min(int(since/a.o.Interval), interim)
		a.mu.Lock()
		seen := a.looked[d.ID]
		a.mu.Unlock()
		if k < 1 || k <= seen {
			return false, nil
		}
		c.Window = time.Duration(k) * a.o.Interval
		c.Alpha = cfg.Alpha / float64(2*interim)
		defer func() {
			a.mu.Lock()
			a.looked[d.ID] = k
			a.mu.Unlock()
		}()
	}
	r, err := Evaluate(ctx, a.o.Querier, an, c)
	if err != nil {
		return false, err
	}
	if !final && r.Verdict != Failed {
		return false, nil
	}
	if err := a.decide(ctx, d, r, now); err != nil {
		return false, err
	}
	a.mu.Lock()
	delete(a.looked, d.ID)
	a.mu.Unlock()
	return true, nil
}

// decide writes r as d's verdict, once, and then, when it failed, the
// recommendation to roll back. The verdict goes first and alone: the
// store keeps one event per id, and of two analysers deciding together
// only the one whose verdict is stored recommends, so a recommendation
// never stands beside another analyser's passing verdict. A process that
// dies between the two leaves a failed verdict without its
// recommendation, which the next pass adds (recommendOwed).
func (a *Analyser) decide(ctx context.Context, d metrics.Deployment, r Result, now time.Time) error {
	evidence, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding the evidence: %w", err)
	}
	verdict := metrics.Event{ID: d.ID + "/analysed", Source: a.o.Source, Time: now,
		Data: metrics.DeploymentAnalysed{DeploymentID: d.ID, Verdict: string(r.Verdict), Reason: r.Reason, Evidence: evidence}}
	added, err := a.o.Store.Append(ctx, []metrics.Event{verdict})
	if err != nil {
		return fmt.Errorf("recording the verdict: %w", err)
	}
	if added == 0 {
		return nil // decided already: that verdict stands
	}
	a.analyses.WithLabelValues(string(r.Verdict)).Inc()
	log := a.o.Logger.Info
	if r.Verdict == Failed {
		log = a.o.Logger.Warn
	}
	log("post-deploy analysis decided", "deployment_id", d.ID, "service", d.Service, "verdict", r.Verdict, "reason", r.Reason)
	if r.Verdict != Failed {
		return nil
	}
	return a.recommend(ctx, d.ID, r.Reason, evidence, now)
}

// recommend records the recommendation to roll deployment back.
func (a *Analyser) recommend(ctx context.Context, deployment, reason string, evidence json.RawMessage, now time.Time) error {
	rec := metrics.Event{ID: deployment + "/rollback_recommended", Source: a.o.Source, Time: now,
		Data: metrics.DeploymentRollbackRecommended{DeploymentID: deployment, Reason: reason,
			DryRun: !a.o.CallHooks || len(a.o.Hooks) == 0, Evidence: evidence}}
	if _, err := a.o.Store.Append(ctx, []metrics.Event{rec}); err != nil {
		return fmt.Errorf("recording the recommendation to roll back %s: %w", deployment, err)
	}
	return nil
}

// recommendOwed adds the recommendation that a failed verdict of this
// analyser's source lacks (its process died between the two appends).
// Verdicts of other sources are theirs to act on: an event posted to the
// events API never calls a rollback hook. It reports how many it added.
func (a *Analyser) recommendOwed(ctx context.Context, events []metrics.Event, deps []metrics.Deployment, now time.Time) (int, error) {
	owed := map[string]bool{}
	for _, d := range deps {
		if d.Verdict == metrics.VerdictFailed && d.RollbackRecommendedAt.IsZero() && a.eligible(d, now) {
			owed[d.ID] = true
		}
	}
	if len(owed) == 0 {
		return 0, nil
	}
	n := 0
	var errs []error
	for _, e := range events {
		v, ok := e.Data.(metrics.DeploymentAnalysed)
		if !ok || !owed[v.DeploymentID] || e.Source != a.o.Source || e.ID != v.DeploymentID+"/analysed" || v.Verdict != metrics.VerdictFailed {
			continue
		}
		delete(owed, v.DeploymentID)
		if err := a.recommend(ctx, v.DeploymentID, v.Reason, v.Evidence, now); err != nil {
			errs = append(errs, err)
			continue
		}
		a.o.Logger.Warn("recommended the rollback a failed analysis lacked", "deployment_id", v.DeploymentID)
		n++
	}
	return n, errors.Join(errs...)
}

// owedHooks starts, for every recommendation that was not a dry run, the
// call of each hook that has no recorded answer, and records the answers
// whose append failed before.
func (a *Analyser) owedHooks(ctx context.Context, events []metrics.Event, deps []metrics.Deployment, now time.Time) error {
	answered := map[hookKey]bool{}
	var recs []metrics.Event
	for _, e := range events {
		switch d := e.Data.(type) {
		case metrics.DeploymentRollbackHookCalled:
			answered[hookKey{d.DeploymentID, d.Hook}] = true
		case metrics.DeploymentRollbackRecommended:
			if !d.DryRun {
				recs = append(recs, e)
			}
		}
	}
	byID := make(map[string]metrics.Deployment, len(deps))
	for _, d := range deps {
		byID[d.ID] = d
	}
	var errs []error
	for _, e := range recs {
		rec, _ := e.Data.(metrics.DeploymentRollbackRecommended)
		d, ok := byID[rec.DeploymentID]
		if !ok || !a.eligible(d, now) {
			continue
		}
		var r Result
		if err := json.Unmarshal(rec.Evidence, &r); err != nil && len(rec.Evidence) > 0 {
			errs = append(errs, fmt.Errorf("deployment %s: reading the evidence: %w", d.ID, err))
			continue
		}
		recommendation := Recommendation{DeploymentID: d.ID, Service: d.Service, Environment: d.Environment,
			Version: d.Version, DeployedAt: d.SucceededAt, DecidedAt: e.Time, Reason: rec.Reason, Result: r}
		if prev, err := metrics.LiveDeployment(deps, d.Service, d.Environment, d.SucceededAt.Add(-time.Nanosecond)); err == nil {
			recommendation.RollbackTo = prev.Version
		}
		for _, h := range a.o.Hooks {
			k := hookKey{d.ID, h.Name()}
			if answered[k] {
				a.mu.Lock()
				delete(a.hooks, k)
				a.mu.Unlock()
				continue
			}
			a.mu.Lock()
			st, busy := a.hooks[k]
			a.mu.Unlock()
			if busy {
				if st.event != nil {
					errs = append(errs, a.record(ctx, k, *st.event))
				}
				continue
			}
			select {
			case a.sem <- struct{}{}:
			default:
				continue // calls in flight are at their bound: next pass
			}
			a.mu.Lock()
			a.hooks[k] = &hookState{}
			a.mu.Unlock()
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				defer func() { <-a.sem }()
				a.call(ctx, k, h, recommendation)
			}()
		}
	}
	return errors.Join(errs...)
}

// call asks h for the rollback, retrying, and records its answer. A call
// cut short by ctx records nothing, so the next analyser makes it again.
func (a *Analyser) call(ctx context.Context, k hookKey, h Hook, r Recommendation) {
	attempts := 0
	var last Answer
	err := a.o.HookRetry.Do(ctx, func(ctx context.Context) error {
		attempts++
		ans, err := h.Call(ctx, r)
		last = ans
		return err
	})
	if delivery.IsShutdown(err) || ctx.Err() != nil {
		a.mu.Lock()
		delete(a.hooks, k)
		a.mu.Unlock()
		return
	}
	outcome := metrics.HookSucceeded
	detail := last.Detail
	if err != nil {
		outcome = metrics.HookFailed
		detail = err.Error()
		if last.Detail != "" {
			detail += ": " + last.Detail
		}
		a.o.Logger.Error("rollback hook failed", "hook", h.Name(), "deployment_id", r.DeploymentID, "attempts", attempts, "err", err)
	} else {
		a.o.Logger.Warn("rollback hook called", "hook", h.Name(), "deployment_id", r.DeploymentID, "attempts", attempts, "status", last.Status)
	}
	a.hookCalls.WithLabelValues(h.Name(), outcome).Inc()
	e := metrics.Event{ID: k.deployment + "/hook/" + k.hook, Source: a.o.Source, Time: a.o.Now(),
		Data: metrics.DeploymentRollbackHookCalled{DeploymentID: k.deployment, Hook: k.hook, Outcome: outcome,
			Attempts: attempts, Status: last.Status, Detail: cut(detail, 4096)}}
	a.mu.Lock()
	a.hooks[k] = &hookState{event: &e}
	a.mu.Unlock()
	if err := a.record(ctx, k, e); err != nil {
		a.o.Logger.Warn("recording a rollback hook's answer failed; trying again at the next pass", "err", err)
	}
}

// record appends a hook's answer, then forgets it.
func (a *Analyser) record(ctx context.Context, k hookKey, e metrics.Event) error {
	if _, err := a.o.Store.Append(ctx, []metrics.Event{e}); err != nil {
		return fmt.Errorf("recording the answer of hook %s for %s: %w", k.hook, k.deployment, err)
	}
	a.mu.Lock()
	delete(a.hooks, k)
	a.mu.Unlock()
	return nil
}

// cut shortens s to at most n bytes, on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
