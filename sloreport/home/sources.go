package home

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/sloreport"
)

// REDWindow is the window of the RED figures: Prometheus's lookback, so
// that a minute's rollup is always in it.
const REDWindow = 5 * time.Minute

// recentWindow is how far back resolved incidents and finished
// experiments are listed.
const recentWindow = 24 * time.Hour

// The RED queries, over the collector's span-derived series (collector/red)
// of every service but the overflow series (collector.REDOverflow, named
// here as the dashboards name it: sloreport imports no collector
// package), by service: the same expressions as the overview dashboard's
// panels.
var (
	redSelector = `{service!="__overflow__"}`
	redWindow   = "[" + sloreport.FormatDuration(REDWindow) + "]"
	redQueries  = map[string]string{
		"rate":   `sum by (service) (rate(estate_red_requests_total` + redSelector + redWindow + `))`,
		"errors": `sum by (service) (rate(estate_red_errors_total` + redSelector + redWindow + `))`,
		"p99":    `histogram_quantile(0.99, sum by (service, le) (rate(estate_red_request_duration_seconds_bucket` + redSelector + redWindow + `)))`,
	}
)

// red reads every service's RED figures at now, the three queries at
// once. Errors: the Querier's (the first, with the others joined).
func (p *Page) red(ctx context.Context, now time.Time) (map[string]RED, error) {
	if p.o.Querier == nil {
		return nil, nil
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		got  = map[string]model.Vector{}
		errs []error
	)
	for name, expr := range redQueries {
		wg.Go(func() {
			v, err := p.o.Querier.Query(ctx, expr, now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("querying %s: %w", name, err))
				return
			}
			vec, ok := v.(model.Vector)
			if !ok {
				errs = append(errs, fmt.Errorf("querying %s: a %s, not a vector", name, v.Type()))
				return
			}
			got[name] = vec
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	byService := func(name string) map[string]float64 {
		out := map[string]float64{}
		for _, s := range got[name] {
			if v := float64(s.Value); !math.IsNaN(v) && !math.IsInf(v, 0) {
				out[string(s.Metric["service"])] = v
			}
		}
		return out
	}
	rate, errRate, p99 := byService("rate"), byService("errors"), byService("p99")
	out := map[string]RED{}
	for svc, r := range rate {
		red := RED{RequestRate: &r}
		if e, ok := errRate[svc]; ok && r > 0 {
			ratio := e / r
			red.ErrorRatio = &ratio
		}
		if q, ok := p99[svc]; ok {
			red.P99Seconds = &q
		}
		out[svc] = red
	}
	return out, nil
}

// services joins the RED figures and the SLOs' statuses by service.
func (p *Page) services(red map[string]RED, redRead bool, slos []sloreport.Status) []Service {
	by := map[string]*Service{}
	service := func(name string) *Service {
		if s := by[name]; s != nil {
			return s
		}
		s := &Service{Name: name, SLOs: []SLO{}, Status: ServiceUnknown}
		by[name] = s
		return s
	}
	for name, r := range red {
		service(name).RED = &r
	}
	for _, st := range slos {
		service(st.SLO.Service).SLOs = append(service(st.SLO.Service).SLOs, sloOf(st))
	}
	out := make([]Service, 0, len(by))
	for _, s := range by {
		if s.RED == nil && redRead {
			// Read, and no request in the window.
			s.RED = &RED{}
		}
		slices.SortFunc(s.SLOs, func(a, b SLO) int { return cmp.Compare(a.Name, b.Name) })
		for _, o := range s.SLOs {
			if s.Status == ServiceUnknown || rank(o.Status) > rank(s.Status) {
				s.Status = o.Status
			}
		}
		p.serviceLinks(s)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Service) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// serviceLinks sets a service's links to its logs and traces of the last
// hour on the collector.
func (p *Page) serviceLinks(s *Service) {
	now := p.o.Now().UTC()
	with := func(k, v string) url.Values { return url.Values{"service": {s.Name}, k: {v}} }
	s.Logs = p.o.CollectorURL + "/v1/logs?" + p.window(now, with("limit", "100"))
	s.ErrorLogs = p.o.CollectorURL + "/v1/logs?" + p.window(now, with("level", "error"))
	s.Traces = p.o.CollectorURL + "/v1/traces?" + p.window(now, with("limit", "50"))
	if s.RED != nil && s.RED.P99Seconds != nil {
		d := time.Duration(*s.RED.P99Seconds * float64(time.Second)).Round(time.Millisecond)
		if d > 0 {
			s.SlowTraces = p.o.CollectorURL + "/v1/traces?" + p.window(now, with("min_duration", d.String()))
		}
	}
}

// rank orders the SLO statuses from best to worst.
func rank(status string) int {
	return slices.Index([]string{StatusOK, StatusNoData, StatusWarning, StatusBreached}, status)
}

// sloOf is what the page shows of an SLO's status.
func sloOf(st sloreport.Status) SLO {
	o := SLO{
		Name: st.SLO.Name, DisplayName: cmp.Or(st.SLO.DisplayName, st.SLO.Name), Objective: st.SLO.Objective,
		Window: st.SLO.Window.String(), SLI: st.Attainment, BudgetRemaining: st.Budget.RemainingRatio,
	}
	for _, br := range st.BurnRates {
		if br.Window == time.Hour {
			o.BurnRate, o.BurnCounted = br.Rate, br.Counted
		}
	}
	switch st.State {
	case sloreport.Healthy:
		o.Status = StatusOK
	case sloreport.AtRisk:
		o.Status = StatusWarning
	case sloreport.Exhausted:
		o.Status = StatusBreached
	default:
		o.Status = StatusNoData
	}
	return o
}

// events reads the event store into the deployments, incidents and
// experiments of st. Errors: the store's.
func (p *Page) events(ctx context.Context, now time.Time, st *Status) error {
	events, err := p.o.Events.Events(ctx, metrics.Filter{})
	if err != nil {
		return fmt.Errorf("reading events: %w", err)
	}
	deployments, incidents := metrics.Fold(events)
	st.Deployments = p.deployments(deployments)
	st.Incidents, st.Resolved = p.incidents(incidents, now)
	st.Experiments = experiments(events, now)
	return nil
}

// deployments are the most recent, newest first, with their fate.
func (p *Page) deployments(all []metrics.Deployment) []Deployment {
	out := []Deployment{}
	for _, d := range all {
		if !d.Started {
			continue
		}
		dep := Deployment{ID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version,
			StartedAt: d.StartedAt, Fate: FateInProgress,
			Verdict: d.Verdict, RollbackRecommended: !d.RollbackRecommendedAt.IsZero()}
		switch {
		case d.RolledBack():
			dep.Fate, dep.RolledBackTo = FateRolledBack, d.RolledBackTo
		case d.Failed():
			dep.Fate = FateFailed
		case d.Succeeded():
			dep.Fate = FateSucceeded
		}
		if d.Succeeded() && len(d.Commits) > 0 {
			oldest := slices.MinFunc(d.Commits, func(a, b metrics.Commit) int { return a.CommittedAt.Compare(b.CommittedAt) })
			lead := max(0, d.SucceededAt.Sub(oldest.CommittedAt).Seconds())
			dep.LeadTimeSeconds = &lead
		}
		out = append(out, dep)
	}
	slices.SortFunc(out, func(a, b Deployment) int {
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	return out[:min(len(out), p.o.Deployments)]
}

// incidents are the open incidents and those resolved in the last day,
// newest first.
func (p *Page) incidents(all []metrics.Incident, now time.Time) (open, resolved []Incident) {
	open, resolved = []Incident{}, []Incident{}
	for _, i := range all {
		if !i.Opened {
			continue
		}
		inc := Incident{ID: i.ID, Service: i.Service, Environment: i.Environment, Severity: i.Severity, StartedAt: i.StartedAt,
			CauseDeployment: i.CauseDeploymentID, ChaosExperiment: i.ChaosExperimentID,
			Timeline: p.o.CollectorURL + "/v1/incidents/" + url.PathEscape(i.ID) + "/timeline"}
		switch {
		case !i.Resolved():
			open = append(open, inc)
		case now.Sub(i.ResolvedAt) <= recentWindow:
			at := i.ResolvedAt
			inc.ResolvedAt = &at
			resolved = append(resolved, inc)
		}
	}
	newest := func(a, b Incident) int { return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID)) }
	slices.SortFunc(open, newest)
	slices.SortFunc(resolved, newest)
	return open, resolved
}

// experiments are the chaos runs that the controller's events
// (dev.estate.chaos.started and .finished) say are running, or finished
// in the last day: running ones first, each group newest first. A run
// whose finished event never came (its controller died) counts as
// running for metrics.ChaosUnfinishedWindow, as the incidents'
// attribution to chaos does, and then no longer.
func experiments(events []metrics.Event, now time.Time) []Experiment {
	runs := map[string]*Experiment{}
	run := func(id string) *Experiment {
		if r := runs[id]; r != nil {
			return r
		}
		r := &Experiment{ID: id}
		runs[id] = r
		return r
	}
	for _, e := range events {
		switch d := e.Data.(type) {
		case metrics.ChaosStarted:
			r := run(d.ExperimentID)
			if r.StartedAt.IsZero() || e.Time.Before(r.StartedAt) {
				r.StartedAt, r.Kind, r.Target = e.Time, d.Kind, d.Target
			}
		case metrics.ChaosFinished:
			r := run(d.ExperimentID)
			if r.FinishedAt == nil || e.Time.Before(*r.FinishedAt) {
				at := e.Time
				r.FinishedAt, r.Outcome = &at, d.Outcome
				r.Kind, r.Target = cmp.Or(r.Kind, d.Kind), cmp.Or(r.Target, d.Target)
			}
		}
	}
	out := []Experiment{}
	for _, r := range runs {
		switch {
		case r.StartedAt.IsZero():
			continue
		case r.FinishedAt == nil && now.Sub(r.StartedAt) <= metrics.ChaosUnfinishedWindow:
			r.Running = true
		case r.FinishedAt == nil || now.Sub(*r.FinishedAt) > recentWindow:
			continue
		}
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Experiment) int {
		if a.Running != b.Running {
			return cmp.Compare(strconv.FormatBool(b.Running), strconv.FormatBool(a.Running))
		}
		return cmp.Or(b.StartedAt.Compare(a.StartedAt), cmp.Compare(b.ID, a.ID))
	})
	return out
}
