package sloreport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/estatehq/estate/metrics"
)

// Inputs are what a report is computed from.
type Inputs struct {
	// Store holds the reliability events; or give Events. Exactly one of
	// the two is required.
	Store  metrics.Store
	Events []metrics.Event
	// SLOs computes the SLOs' figures; nil leaves SLOs out.
	SLOs *Evaluator
	// Week is the period; or give From and To, [From, To), on whole
	// milliseconds.
	Week     ISOWeek
	From, To time.Time
	// Now is when the report is computed: Report.GeneratedAt, and the end
	// of the incidents still open. Required.
	Now time.Time
	// IncludeChaos counts the incidents that chaos experiments caused in
	// incidents, downtime, MTTR and MTBF (metrics.Options).
	IncludeChaos bool
	// Thresholds decide the summary's colours; the zero value is
	// DefaultThresholds.
	Thresholds Thresholds
	// ReviewURL is the link to an incident's review; nil links nothing.
	ReviewURL func(incidentID string) string
	// BurnDownSteps is the number of steps of a budget's burn-down; 28
	// (six hours of a week) when zero.
	BurnDownSteps int
}

// ReportChunk is the longest range of raw samples that the evaluator of a
// report should fetch in one query (Options.Chunk): a week, so that a
// window read raw (without recorded steps) takes a query per week and
// counter. At a scrape every 15 s that is 40,320 samples per series, far
// below the engines' limits.
const ReportChunk = 7 * 24 * time.Hour

// The shape of a report.
const (
	// TrendPeriods is the number of periods of a trend, the report's last.
	TrendPeriods = 8
	// maxDays is the longest period whose days are counted one by one.
	maxDays = 31
	// defaultBurnDownSteps is six hours of a week.
	defaultBurnDownSteps = 28
)

// Compute computes the report of a period from the reliability events
// and the SLOs. Every DORA, MTBF and MTTR figure is package metrics'
// (metrics.Fold then metrics.Compute over the period, the previous period
// and the 8 of the trend); the SLO figures are EvaluatePeriod's. Errors:
// inputs that cannot work, the store's, and the SLOs' queries'.
func Compute(ctx context.Context, in Inputs) (*Report, error) {
	from, to, week, err := in.period()
	if err != nil {
		return nil, fmt.Errorf("computing report: %w", err)
	}
	th := in.Thresholds
	if th == (Thresholds{}) {
		th = DefaultThresholds()
	}
	if err := th.Validate(); err != nil {
		return nil, fmt.Errorf("computing report: thresholds: %w", err)
	}
	// The SLOs' queries run while the events are read and computed.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type sloResult struct {
		slos []SLOReport
		err  error
	}
	sloDone := make(chan sloResult, 1)
	go func() {
		slos, err := in.slos(ctx, from, to)
		sloDone <- sloResult{slos, err}
	}()
	events, err := in.events(ctx)
	if err != nil {
		cancel()
		<-sloDone
		return nil, fmt.Errorf("computing report: %w", err)
	}

	length := to.Sub(from)
	r := &Report{
		Week: week, From: from, To: to, PreviousFrom: from.Add(-length),
		GeneratedAt: in.Now.UTC(), IncludeChaos: in.IncludeChaos, Thresholds: th,
	}
	r.Title = title(r)

	deployments, incidents := metrics.Fold(events)
	c := newComputation(deployments, incidents, from, to, in.IncludeChaos)
	runErr := c.run()
	res := <-sloDone
	if err := errors.Join(runErr, res.err); err != nil {
		return nil, fmt.Errorf("computing report: %w", err)
	}
	slos := res.slos

	r.Overall = c.scope(overallKey)
	keys := c.activeKeys()
	for _, s := range slos {
		// An SLO of no environment belongs to every environment of its
		// service, and makes a row of its own only when there is none.
		if slices.ContainsFunc(keys, func(k scopeKey) bool {
			return k.service == s.Service && (s.Environment == "" || s.Environment == k.environment)
		}) {
			continue
		}
		keys = append(keys, scopeKey{s.Service, s.Environment})
	}
	slices.SortFunc(keys, func(a, b scopeKey) int {
		return cmp.Or(strings.Compare(a.service, b.service), strings.Compare(a.environment, b.environment))
	})
	for _, k := range keys {
		sr := c.scope(k)
		for _, s := range slos {
			if s.Service == k.service && (s.Environment == "" || s.Environment == k.environment) {
				sr.SLOs = append(sr.SLOs, s)
			}
		}
		sr.Status, sr.Reason = judge(sr, th)
		r.Services = append(r.Services, sr)
	}
	r.Overall.Status, r.Overall.Reason = overallStatus(r.Services)
	r.Summary = summary(r.Services)
	r.Analyses = analysisEntries(deployments, from, to)
	r.Incidents = incidentEntries(incidents, from, to, in.ReviewURL)
	r.Chaos = experiments(events, incidents, from, to)
	return r, nil
}

func (in Inputs) period() (from, to time.Time, week *ISOWeek, err error) {
	if !in.Week.IsZero() {
		if !in.From.IsZero() || !in.To.IsZero() {
			return from, to, nil, errors.New("give a week or a period from and to, not both")
		}
		w := in.Week
		return w.Start(), w.End(), &w, nil
	}
	from, to = in.From.UTC(), in.To.UTC()
	if err := (metrics.Window{From: from, To: to}).Validate(); err != nil {
		return from, to, nil, err
	}
	if from.Truncate(time.Millisecond) != from || to.Truncate(time.Millisecond) != to {
		return from, to, nil, errors.New("the period's ends must be whole milliseconds")
	}
	if w := WeekOf(from); w.Start().Equal(from) && w.End().Equal(to) {
		week = &w
	}
	return from, to, week, nil
}

func (in Inputs) events(ctx context.Context) ([]metrics.Event, error) {
	switch {
	case in.Now.IsZero():
		return nil, errors.New("now is required")
	case in.Store != nil && in.Events != nil:
		return nil, errors.New("give a store or events, not both")
	case in.Store == nil && in.Events == nil:
		return nil, errors.New("events are required: a store or a slice of them")
	case in.Store != nil:
		events, err := in.Store.Events(ctx, metrics.Filter{})
		if err != nil {
			return nil, fmt.Errorf("reading events: %w", err)
		}
		return events, nil
	}
	return in.Events, nil
}

func title(r *Report) string {
	if r.Week != nil {
		last := r.To.Add(-24 * time.Hour)
		return fmt.Sprintf("Weekly reliability report, %s (%s to %s)", r.Week, r.From.Format("2 January"), last.Format("2 January 2006"))
	}
	return fmt.Sprintf("Reliability report, %s to %s", r.From.Format(time.RFC3339), r.To.Format(time.RFC3339))
}

// scopeKey is a (service, environment) pair; overallKey is every service.
type scopeKey struct{ service, environment string }

var overallKey = scopeKey{}

// computation holds metrics' reports of every window the report needs.
type computation struct {
	deployments []metrics.Deployment
	folded      []metrics.Incident
	from, to    time.Time
	opts        metrics.Options
	// trend[k] is the period k periods before the report's: trend[0] is
	// the report's, trend[1] the previous.
	trend []window
	days  []window
	// all are the deployments and incidents relabelled as one scope, the
	// overall figures' input.
	allDeployments []metrics.Deployment
	allIncidents   []metrics.Incident
}

// window is metrics' report of one window, by scope; for the days the
// rollbacks of each scope, and for the trend's periods the rollbacks
// decided automatically.
type window struct {
	w         metrics.Window
	reports   map[scopeKey]metrics.ServiceReport
	rollbacks map[scopeKey]int
	automatic map[scopeKey]int
}

func newComputation(deployments []metrics.Deployment, incidents []metrics.Incident, from, to time.Time, includeChaos bool) *computation {
	c := &computation{deployments: deployments, folded: incidents, from: from, to: to, opts: metrics.Options{IncludeChaos: includeChaos}}
	length := to.Sub(from)
	for k := range TrendPeriods {
		shift := -length * time.Duration(k)
		c.trend = append(c.trend, window{w: metrics.Window{From: from.Add(shift), To: to.Add(shift)}})
	}
	if length <= maxDays*24*time.Hour {
		for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
			c.days = append(c.days, window{w: metrics.Window{From: d, To: minTime(d.Add(24*time.Hour), to)}})
		}
	}
	c.allDeployments = slices.Clone(deployments)
	for i := range c.allDeployments {
		c.allDeployments[i].Service, c.allDeployments[i].Environment = "", ""
	}
	c.allIncidents = slices.Clone(incidents)
	for i := range c.allIncidents {
		c.allIncidents[i].Service, c.allIncidents[i].Environment = "", ""
	}
	return c
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// run computes every window's report, per scope and overall.
func (c *computation) run() error {
	windows := make([]*window, 0, len(c.trend)+len(c.days))
	for i := range c.trend {
		windows = append(windows, &c.trend[i])
	}
	for i := range c.days {
		windows = append(windows, &c.days[i])
	}
	for _, w := range windows {
		per, err := metrics.Compute(c.deployments, c.folded, w.w, c.opts)
		if err != nil {
			return err
		}
		all, err := metrics.Compute(c.allDeployments, c.allIncidents, w.w, c.opts)
		if err != nil {
			return err
		}
		w.reports = make(map[scopeKey]metrics.ServiceReport, len(per.Services)+1)
		for _, s := range per.Services {
			w.reports[scopeKey{s.Service, s.Environment}] = s
		}
		for _, s := range all.Services {
			w.reports[overallKey] = s
		}
	}
	c.countRollbacks()
	for i := range c.trend {
		c.trend[i].automatic = c.countAutomatic(c.trend[i].w)
	}
	return nil
}

// active reports whether the window holds an event of the scope.
func active(s metrics.ServiceReport, ok bool) bool {
	return ok && (s.Deployments+s.FailedDeployments+s.Incidents+s.ChaosIncidents+s.MTTRSamples > 0 || s.DowntimeSeconds > 0)
}

// activeKeys are the scopes with an event in one of the trend's periods.
func (c *computation) activeKeys() []scopeKey {
	var keys []scopeKey
	for _, w := range c.trend {
		for k, s := range w.reports {
			if k != overallKey && active(s, true) && !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// scope is the report of one scope, without its SLOs and colour.
func (c *computation) scope(k scopeKey) ServiceReport {
	cur, curOK := c.trend[0].reports[k]
	prev, prevOK := c.trend[1].reports[k]
	curActive, prevActive := active(cur, curOK), active(prev, prevOK)
	sr := ServiceReport{Service: k.service, Environment: k.environment, SLOs: []SLOReport{}, Trend: []TrendPoint{}, Daily: []Day{}}
	curF := figures(cur, curActive, c.opened(k, c.trend[0].w), c.trend[0].automatic[k])
	prevF := figures(prev, prevActive, c.opened(k, c.trend[1].w), c.trend[1].automatic[k])
	sr.Figures = curF
	cf, pf := sr.Figures.Named(), prevF.Named()
	for i, f := range cf {
		f.Figure.compare(pf[i].Figure.Value, higherIsBetter[f.Key])
	}
	for i := len(c.trend) - 1; i >= 0; i-- {
		w := c.trend[i]
		s, ok := w.reports[k]
		f := figures(s, active(s, ok), 0, w.automatic[k])
		p := TrendPoint{From: w.w.From, To: w.w.To, MTTRMean: f.MTTRMean.Measure, MTBF: f.MTBF.Measure, RollbackRate: f.RollbackRate.Measure}
		if wk := WeekOf(w.w.From); wk.Start().Equal(w.w.From) && wk.End().Equal(w.w.To) {
			p.Week = &wk
		}
		sr.Trend = append(sr.Trend, p)
	}
	if curActive {
		for _, d := range c.days {
			sr.Daily = append(sr.Daily, Day{From: d.w.From, Deployments: d.reports[k].Deployments, Rollbacks: d.rollbacks[k]})
		}
	}
	return sr
}

// countRollbacks counts, per scope and overall, the production deployments
// rolled back on each day. It counts events, and computes no rate.
func (c *computation) countRollbacks() {
	for i := range c.days {
		c.days[i].rollbacks = map[scopeKey]int{}
	}
	for _, d := range c.deployments {
		if !d.Started || !d.Succeeded() || !d.RolledBack() || len(c.days) == 0 || !(metrics.Window{From: c.from, To: c.to}).Contains(d.RolledBackAt) {
			continue
		}
		day := &c.days[int(d.RolledBackAt.Sub(c.from)/(24*time.Hour))]
		day.rollbacks[scopeKey{d.Service, d.Environment}]++
		day.rollbacks[overallKey]++
	}
}

// countAutomatic counts, per scope and overall, the rollbacks of w that
// an analysis' recommendation decided. metrics.Compute counts the
// rollbacks but cannot tell who decided them, so this counts again, with
// its membership: production deployments that succeeded in w and were
// rolled back before its end.
func (c *computation) countAutomatic(w metrics.Window) map[scopeKey]int {
	n := map[scopeKey]int{}
	for _, d := range c.deployments {
		if !d.Started || !d.Succeeded() || !w.Contains(d.SucceededAt) || !d.RolledBack() || !d.RolledBackAt.Before(w.To) || !d.RollbackDecidedAutomatically() {
			continue
		}
		n[scopeKey{d.Service, d.Environment}]++
		n[overallKey]++
	}
	return n
}

// opened counts the incidents of the scope (chaos ones as metrics.Options
// says) open at some time in w: the sample of the downtime.
func (c *computation) opened(k scopeKey, w metrics.Window) int {
	n := 0
	for _, i := range c.folded {
		if !i.Opened || (i.Chaos() && !c.opts.IncludeChaos) || (k != overallKey && (i.Service != k.service || i.Environment != k.environment)) {
			continue
		}
		if i.StartedAt.Before(w.To) && (!i.Resolved() || i.ResolvedAt.After(w.From)) {
			n++
		}
	}
	return n
}

// higherIsBetter says, per figure, which way is good news.
var higherIsBetter = map[string]bool{
	"deployments":                     true,
	"failed_deployments":              false,
	"rollback_rate":                   false,
	"rollbacks_decided_automatically": true,
	"change_failure_rate":             false,
	"deployment_frequency_per_day":    true,
	"lead_time_p50_seconds":           false,
	"lead_time_p90_seconds":           false,
	"incidents":                       false,
	"chaos_incidents":                 false,
	"downtime_seconds":                false,
	"mttr_mean_seconds":               false,
	"mttr_median_seconds":             false,
	"mtbf_seconds":                    true,
	"attainment":                      true,
	"budget_remaining":                true,
}

// figures turns metrics' report of a scope into figures without changes,
// with automatic of its rollbacks decided automatically. An inactive
// window has every figure nil.
func figures(s metrics.ServiceReport, active bool, opened, automatic int) Figures {
	value := func(v float64) *float64 {
		if !active {
			return nil
		}
		return &v
	}
	opt := func(v *float64) *float64 {
		if !active {
			return nil
		}
		return v
	}
	count := func(n int, of string) Figure {
		return Figure{Measure: Measure{Value: value(float64(n)), Unit: Count, SampleSize: float64(n), SampleOf: of}}
	}
	ratio := func(v *float64, num, den int, of string) Figure {
		n, d := float64(num), float64(den)
		return Figure{Measure: Measure{Value: opt(v), Unit: Ratio, Numerator: &n, Denominator: &d, SampleSize: d, SampleOf: of}}
	}
	secs := func(v *float64, n int, of string) Figure {
		return Figure{Measure: Measure{Value: opt(v), Unit: Seconds, SampleSize: float64(n), SampleOf: of}}
	}
	if !active {
		s = metrics.ServiceReport{}
		opened, automatic = 0, 0
	}
	var p50, p90 *float64
	if lt := s.LeadTimeSeconds; lt != nil {
		p50, p90 = &lt.P50, &lt.P90
	}
	return Figures{
		Deployments:                   count(s.Deployments, "deployments"),
		FailedDeployments:             count(s.FailedDeployments, "failed deployments"),
		RollbackRate:                  ratio(s.RollbackRate, s.Rollbacks, s.Deployments, "deployments"),
		RollbacksDecidedAutomatically: ratio(share(automatic, s.Rollbacks), automatic, s.Rollbacks, "rollbacks"),
		ChangeFailureRate:             ratio(s.ChangeFailureRate, s.ChangeFailures, s.Deployments, "deployments"),
		DeploymentFrequency:           Figure{Measure: Measure{Value: value(s.DeploymentFrequencyPerDay), Unit: PerDay, SampleSize: float64(s.Deployments), SampleOf: "deployments"}},
		LeadTimeP50:                   secs(p50, s.LeadTimeSamples, "commits"),
		LeadTimeP90:                   secs(p90, s.LeadTimeSamples, "commits"),
		Incidents:                     count(s.Incidents, "incidents"),
		ChaosIncidents:                count(s.ChaosIncidents, "chaos incidents"),
		Downtime:                      secs(value(s.DowntimeSeconds), opened, "incidents open"),
		MTTRMean:                      secs(s.MTTRSeconds, s.MTTRSamples, "resolved incidents"),
		MTTRMedian:                    secs(s.MTTRMedianSeconds, s.MTTRSamples, "resolved incidents"),
		MTBF:                          secs(s.MTBFSeconds, s.Incidents, "incidents"),
	}
}

// share is num/den rounded half up to 7 decimal places, as metrics
// rounds its ratios; nil when den is 0.
func share(num, den int) *float64 {
	if den == 0 {
		return nil
	}
	q := (2*int64(num)*ratioScale + int64(den)) / (2 * int64(den))
	v := float64(q) / ratioScale
	return &v
}

// ratioScale is the precision of a ratio: 7 decimal places.
const ratioScale = 10_000_000

// compare sets the change against prev.
func (f *Figure) compare(prev *float64, higherBetter bool) {
	f.Previous = prev
	if f.Value == nil || prev == nil {
		return
	}
	ch := roundFor(f.Unit, *f.Value-*prev)
	f.Change = &ch
	switch {
	case ch > 0:
		f.Direction = Up
	case ch < 0:
		f.Direction = Down
	default:
		f.Direction, f.Assessment = Flat, Same
		return
	}
	if (ch > 0) == higherBetter {
		f.Assessment = Better
	} else {
		f.Assessment = Worse
	}
}

// roundFor rounds a difference of two figures to their precision, so that
// 0.3 - 0.2 is 0.1: ratios and rates to 7 decimals, seconds to the
// millisecond, counts to whole numbers. SLO ratios are not rounded
// (their figures are not), and differ by what float64 gives.
func roundFor(u Unit, v float64) float64 {
	scale := 1e7
	switch u {
	case Seconds:
		scale = 1e3
	case Count:
		scale = 1
	}
	return math.Round(v*scale) / scale
}

func (in Inputs) slos(ctx context.Context, from, to time.Time) ([]SLOReport, error) {
	if in.SLOs == nil {
		return nil, nil
	}
	steps := in.BurnDownSteps
	if steps == 0 {
		steps = defaultBurnDownSteps
	}
	defs := in.SLOs.SLOs()
	out := make([]SLOReport, len(defs))
	errs := make([]error, len(defs))
	// The SLOs' queries wait on the store or the network: a few at once.
	sem := make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	var wg sync.WaitGroup
	for i, s := range defs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ps, err := in.SLOs.EvaluatePeriod(ctx, s, from, to, steps)
			if err != nil {
				errs[i] = err
				return
			}
			out[i] = sloReport(ps)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func sloReport(ps PeriodStatus) SLOReport {
	s := ps.Own.SLO
	r := SLOReport{
		Name: s.Name, DisplayName: s.DisplayName, Service: s.Service, Environment: s.Labels["environment"],
		Objective: s.Objective,
		Events:    EventCounts(ps.Period.Events),
		Own: OwnWindow{
			Window: s.Window.String(), From: ps.Own.Start.UTC(), To: ps.Own.At.UTC(),
			Attainment: ps.Own.Attainment, State: ps.Own.State,
		},
		BurnDown: []BurnPoint{},
	}
	if ps.Own.Events.Total > 0 {
		b := ps.Own.Budget.RemainingRatio
		r.Own.BudgetRemaining = &b
	}
	r.Attainment, r.BudgetRemaining = sloFigures(ps.Period)
	pa, pb := sloFigures(ps.Previous)
	r.Attainment.compare(pa.Value, true)
	r.BudgetRemaining.compare(pb.Value, true)
	for _, p := range ps.BurnDown {
		r.BurnDown = append(r.BurnDown, BurnPoint{At: p.At.UTC(), BadEvents: p.Bad, BudgetRemaining: p.RemainingRatio})
	}
	return r
}

// sloFigures are the attainment (good of total events) and the budget
// remaining (remaining of allowed bad events) of a period; nil values
// without events.
func sloFigures(p PeriodFigures) (attainment, budget Figure) {
	good, total := p.Events.Good, p.Events.Total
	attainment = Figure{Measure: Measure{Value: p.Attainment, Unit: Ratio, Numerator: &good, Denominator: &total, SampleSize: total, SampleOf: "events"}}
	rem, allowed := p.Budget.Remaining, p.Budget.Allowed
	budget = Figure{Measure: Measure{Unit: Ratio, Numerator: &rem, Denominator: &allowed, SampleSize: allowed, SampleOf: "bad events allowed"}}
	if total > 0 {
		r := p.Budget.RemainingRatio
		budget.Value = &r
	}
	return attainment, budget
}

// analysisEntries lists the post-deploy analyses decided in [from, to),
// of every service and environment, by decision time then deployment id.
func analysisEntries(deployments []metrics.Deployment, from, to time.Time) []AnalysisEntry {
	out := []AnalysisEntry{}
	period := metrics.Window{From: from, To: to}
	for _, d := range deployments {
		if !d.Started || d.Verdict == "" || !period.Contains(d.AnalysedAt) {
			continue
		}
		e := AnalysisEntry{
			DeploymentID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version,
			DecidedAt: d.AnalysedAt.UTC(), Verdict: d.Verdict, Reason: d.VerdictReason,
			RollbackRecommended:          !d.RollbackRecommendedAt.IsZero(),
			RollbackDecidedAutomatically: d.RollbackDecidedAutomatically(),
		}
		if d.Succeeded() {
			at := d.SucceededAt.UTC()
			e.DeployedAt = &at
		}
		if d.RolledBack() {
			at := d.RolledBackAt.UTC()
			e.RolledBackAt = &at
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b AnalysisEntry) int {
		return cmp.Or(a.DecidedAt.Compare(b.DecidedAt), strings.Compare(a.DeploymentID, b.DeploymentID))
	})
	return out
}

// incidentEntries lists the incidents open at some time in [from, to),
// chaos ones included, by start then id.
func incidentEntries(incidents []metrics.Incident, from, to time.Time, review func(string) string) []IncidentEntry {
	out := []IncidentEntry{}
	for _, i := range incidents {
		if !i.Opened || !i.StartedAt.Before(to) || (i.Resolved() && !i.ResolvedAt.After(from)) {
			continue
		}
		e := IncidentEntry{ID: i.ID, Service: i.Service, Environment: i.Environment, Severity: i.Severity, StartedAt: i.StartedAt.UTC()}
		if i.Resolved() {
			at := i.ResolvedAt.UTC()
			d := max(at.Sub(i.StartedAt), 0).Seconds()
			e.ResolvedAt, e.DurationSeconds = &at, &d
		}
		switch {
		case i.ChaosExperimentID != "":
			e.Cause = Cause{Kind: CauseChaos, ID: i.ChaosExperimentID}
		case i.CauseDeploymentID != "":
			e.Cause = Cause{Kind: CauseDeployment, ID: i.CauseDeploymentID}
		default:
			e.Cause = Cause{Kind: CauseUnknown}
		}
		if review != nil {
			e.ReviewURL = review(i.ID)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b IncidentEntry) int {
		return cmp.Or(a.StartedAt.Compare(b.StartedAt), strings.Compare(a.ID, b.ID))
	})
	return out
}

// experiments lists the chaos experiments that started or finished in
// [from, to), by start then id. Of several events of one kind about one
// experiment, the earliest counts (then the smallest event id), as
// metrics.Fold does for deployments.
func experiments(events []metrics.Event, incidents []metrics.Incident, from, to time.Time) []Experiment {
	type state struct {
		e                   Experiment
		startID, finishID   string
		startSet, finishSet bool
	}
	byID := map[string]*state{}
	get := func(id string) *state {
		s, ok := byID[id]
		if !ok {
			s = &state{e: Experiment{ID: id, Incidents: []string{}}}
			byID[id] = s
		}
		return s
	}
	earlier := func(set bool, cur *time.Time, curID string, t time.Time, id string) bool {
		return !set || t.Before(*cur) || (t.Equal(*cur) && id < curID)
	}
	for _, ev := range events {
		switch d := ev.Data.(type) {
		case metrics.ChaosStarted:
			s := get(d.ExperimentID)
			if earlier(s.startSet, s.e.StartedAt, s.startID, ev.Time, ev.ID) {
				t := ev.Time.UTC()
				s.e.StartedAt, s.startID, s.startSet = &t, ev.ID, true
				if !s.finishSet {
					s.e.Kind, s.e.Target = d.Kind, d.Target
				}
			}
		case metrics.ChaosFinished:
			s := get(d.ExperimentID)
			if earlier(s.finishSet, s.e.FinishedAt, s.finishID, ev.Time, ev.ID) {
				t := ev.Time.UTC()
				s.e.FinishedAt, s.finishID, s.finishSet = &t, ev.ID, true
				s.e.Kind, s.e.Target, s.e.Verdict = d.Kind, d.Target, d.Outcome
			}
		}
	}
	in := func(t *time.Time) bool { return t != nil && !t.Before(from) && t.Before(to) }
	out := []Experiment{}
	for _, s := range byID {
		if !in(s.e.StartedAt) && !in(s.e.FinishedAt) {
			continue
		}
		if !s.finishSet {
			s.e.Verdict = Running
		}
		for _, i := range incidents {
			if i.Opened && i.ChaosExperimentID == s.e.ID {
				s.e.Incidents = append(s.e.Incidents, i.ID)
			}
		}
		out = append(out, s.e)
	}
	first := func(e Experiment) time.Time {
		if e.StartedAt != nil {
			return *e.StartedAt
		}
		return *e.FinishedAt
	}
	slices.SortFunc(out, func(a, b Experiment) int {
		return cmp.Or(first(a).Compare(first(b)), strings.Compare(a.ID, b.ID))
	})
	return out
}
