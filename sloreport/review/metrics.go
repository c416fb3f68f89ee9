package review

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/sloreport"
)

// The collector's RED series, which the error rate is read from.
const (
	redRequests = "estate_red_requests_total"
	redErrors   = "estate_red_errors_total"
)

// staleAfter is Prometheus's lookback delta: a series with no sample for
// this long has ended. An alert's series with a gap this long fired twice.
const staleAfter = 5 * time.Minute

// alertStateLabel is the label of the ALERTS series that says whether an
// alert is pending or firing.
const alertStateLabel model.LabelName = "alertstate"

// peakWindow is the window of the error ratio whose peak is reported.
const peakWindow = 5 * time.Minute

// reader reads the metrics store for one incident.
type reader struct {
	q    promquery.Querier
	eval *sloreport.Evaluator
	f    *Findings
	in   Inputs
}

// readMetrics adds to f what the metrics store says around the incident:
// its alerts, the SLO burn and the error rate.
func readMetrics(ctx context.Context, f *Findings, in Inputs) error {
	// The Evaluator counts events exactly from the counters' raw samples
	// (docs/slo.md); the review asks it about windows of its own.
	eval, err := sloreport.New(sloreport.Options{Querier: in.Querier})
	if err != nil {
		return err
	}
	r := reader{q: in.Querier, eval: eval, f: f, in: in}
	if err := r.alerts(ctx); err != nil {
		return err
	}
	if err := r.slos(ctx); err != nil {
		return err
	}
	return r.requests(ctx)
}

// after is the end of what is read after the incident: Around after its
// end, and never past the review's time.
func (r reader) after() time.Time {
	t := r.f.To.Add(r.in.Around)
	if t.After(r.f.At) {
		return r.f.At
	}
	return t
}

// selector selects metric's series of the incident's service.
func (r reader) selector(metric string) string {
	return fmt.Sprintf("%s{service=%s}", metric, strconv.Quote(r.f.Incident.Service))
}

// alerts lists the alerts of the incident's service from Around before it
// to Around after it, from the ALERTS series that the rules evaluator
// keeps: when each went pending, fired and stopped firing.
func (r reader) alerts(ctx context.Context) error {
	inc := r.f.Incident
	from, to := inc.Start.Add(-r.in.Around), r.after()
	if !from.Before(to) {
		return nil
	}
	expr := fmt.Sprintf("%s[%s]", r.selector("ALERTS"), model.Duration(to.Sub(from)))
	v, err := r.q.Query(ctx, expr, to)
	if err != nil {
		return fmt.Errorf("reading the alerts: %w", err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return fmt.Errorf("reading the alerts: a range selector answered %s, not a matrix", v.Type())
	}
	source := Source{Query: fmt.Sprintf("%s at %s", expr, stamp(to))}
	for _, ss := range m {
		if env, ok := ss.Metric["environment"]; ok && string(env) != inc.Environment {
			continue
		}
		alert := make(model.LabelSet, len(ss.Metric))
		for k, v := range ss.Metric {
			if k != model.MetricNameLabel && k != alertStateLabel {
				alert[k] = v
			}
		}
		name := describeAlert(alert, inc)
		for _, run := range runs(ss.Values) {
			first, last := run[0], run[len(run)-1]
			// A run that begins with the window may have begun before.
			already := ""
			if first.Timestamp.Time().Sub(from) <= 2*interval(run) {
				already = "already "
			}
			switch ss.Metric[alertStateLabel] {
			case "pending":
				r.add(first, KindAlertPending, source, "alert %s %spending", name, already)
			case "firing":
				opened := ""
				if alert.Fingerprint().String() == inc.Alert {
					opened = "; it opened this incident"
				}
				r.add(first, KindAlertFiring, source, "alert %s %sfiring%s", name, already, opened)
				// A firing alert has a sample at every evaluation: one
				// missing twice over has stopped firing.
				if to.Sub(last.Timestamp.Time()) > 2*interval(run) {
					r.add(last, KindAlertResolved, source, "alert %s stopped firing (its last firing sample)", name)
				}
			}
		}
	}
	return nil
}

func (r reader) add(p model.SamplePair, kind Kind, source Source, format string, args ...any) {
	r.f.Entries = append(r.f.Entries, Entry{Time: p.Timestamp.Time().UTC(), Kind: kind, Summary: fmt.Sprintf(format, args...), Source: source})
}

// describeAlert names an alert by its alertname and the labels that say
// more than the incident does: HighErrorRate{severity="page"}.
func describeAlert(alert model.LabelSet, inc Incident) string {
	rest := model.LabelSet{}
	for k, v := range alert {
		switch {
		case k == model.AlertNameLabel:
		case k == "service" && string(v) == inc.Service:
		case k == "environment" && string(v) == inc.Environment:
		default:
			rest[k] = v
		}
	}
	name := string(alert[model.AlertNameLabel])
	if len(rest) == 0 {
		return name
	}
	return name + rest.String()
}

// runs splits samples where a gap of staleAfter or more shows that the
// series ended and began again.
func runs(samples []model.SamplePair) [][]model.SamplePair {
	var out [][]model.SamplePair
	start := 0
	for i := 1; i <= len(samples); i++ {
		if i == len(samples) || samples[i].Timestamp.Sub(samples[i-1].Timestamp) >= staleAfter {
			if i > start {
				out = append(out, samples[start:i])
			}
			start = i
		}
	}
	return out
}

// interval is the shortest gap between the samples of a run: the
// evaluation interval. One sample alone gives a minute, the rules'
// default.
func interval(run []model.SamplePair) time.Duration {
	d := time.Duration(0)
	for i := 1; i < len(run); i++ {
		if gap := run[i].Timestamp.Sub(run[i-1].Timestamp); gap > 0 && (d == 0 || gap < d) {
			d = gap
		}
	}
	if d == 0 {
		return time.Minute
	}
	return d
}

// slos reads how much of each of the service's SLOs' budget the incident
// spent: its events during the incident, against the budget of the SLO's
// own window at the incident's end.
func (r reader) slos(ctx context.Context) error {
	inc := r.f.Incident
	var mine []sloreport.SLO
	for _, s := range r.in.SLOs {
		if env, ok := s.Labels["environment"]; s.Service == inc.Service && (!ok || env == inc.Environment) {
			mine = append(mine, s)
		}
	}
	if len(mine) == 0 {
		r.f.Notes = append(r.f.Notes, fmt.Sprintf("No SLO is defined for %s in %s: no error budget is read.", inc.Service, inc.Environment))
		return nil
	}
	slices.SortFunc(mine, func(a, b sloreport.SLO) int { return strings.Compare(a.Name, b.Name) })
	end := r.f.To
	for _, s := range mine {
		during, err := r.count(ctx, s, inc.Start, end)
		if err != nil {
			return err
		}
		whole, err := r.eval.Evaluate(ctx, s, end)
		if err != nil {
			return fmt.Errorf("reading SLO %s: %w", s.Name, err)
		}
		b := SLOBurn{
			Name: s.Name, DisplayName: s.DisplayName, Objective: s.Objective, Window: s.Window.String(),
			During: during, Query: indicatorQuery(s.Indicator),
		}
		if during.Total > 0 {
			b.BurnRate = ptr(during.Bad / during.Total / s.Budget())
		}
		if whole.Events.Total > 0 {
			b.BudgetLeft = ptr(whole.Budget.RemainingRatio)
			if whole.Budget.Allowed > 0 {
				b.BudgetSpent = ptr(during.Bad / whole.Budget.Allowed)
			}
		}
		r.f.SLOs = append(r.f.SLOs, b)
		r.f.Entries = append(r.f.Entries, Entry{Time: end, Kind: KindSLOBurn, Summary: burnSummary(b), Source: Source{Query: b.Query}})
	}
	return nil
}

// count is the events of s's indicator in (from, to], counted exactly by
// the Evaluator over a rolling window of that length.
func (r reader) count(ctx context.Context, s sloreport.SLO, from, to time.Time) (sloreport.Events, error) {
	s.Window = sloreport.Window{Kind: sloreport.Rolling, Length: max(to.Sub(from), 0)}
	st, err := r.eval.Evaluate(ctx, s, to)
	if err != nil {
		return sloreport.Events{}, fmt.Errorf("counting %s in (%s, %s]: %w", indicatorQuery(s.Indicator), stamp(from), stamp(to), err)
	}
	return st.Events, nil
}

func indicatorQuery(in sloreport.Indicator) string {
	if in.Good != "" {
		return "good: " + in.Good + "; total: " + in.Total
	}
	return "bad: " + in.Bad + "; total: " + in.Total
}

func burnSummary(b SLOBurn) string {
	var s strings.Builder
	fmt.Fprintf(&s, "SLO %s (%s over %s): %s of %s events bad during the incident",
		b.Name, percent(b.Objective), b.Window, count(b.During.Bad), count(b.During.Total))
	if b.BudgetSpent != nil {
		fmt.Fprintf(&s, ", %s of the error budget", percent(*b.BudgetSpent))
	}
	if b.BudgetLeft != nil {
		fmt.Fprintf(&s, "; %s of the budget left at the end", percent(*b.BudgetLeft))
	}
	return s.String()
}

// requests reads the service's requests and failures before, during and
// after the incident from the collector's RED series, and the peak of the
// error ratio during it.
func (r reader) requests(ctx context.Context) error {
	inc := r.f.Incident
	errs, reqs := r.selector(redErrors), r.selector(redRequests)
	red := sloreport.SLO{Name: "requests", Service: inc.Service, Indicator: sloreport.Indicator{Bad: errs, Total: reqs}, Objective: 0.5}
	counts := func(from, to time.Time) (Counts, error) {
		ev, err := r.count(ctx, red, from, to)
		return Counts{From: from, To: to, Total: ev.Total, Failed: ev.Bad}, err
	}
	req := &Requests{Query: errs + ", " + reqs}
	var err error
	if req.Before, err = counts(inc.Start.Add(-r.in.Around), inc.Start); err != nil {
		return err
	}
	if req.During, err = counts(inc.Start, r.f.To); err != nil {
		return err
	}
	if inc.Resolved() && r.after().After(r.f.To) {
		after, err := counts(r.f.To, r.after())
		if err != nil {
			return err
		}
		req.After = &after
	}
	peakExpr := fmt.Sprintf("sum(rate(%s[%s])) / sum(rate(%s[%s]))", errs, model.Duration(peakWindow), reqs, model.Duration(peakWindow))
	if req.Peak, err = r.peak(ctx, peakExpr); err != nil {
		return err
	}
	r.f.Requests = req
	if req.Before.Total == 0 && req.During.Total == 0 && (req.After == nil || req.After.Total == 0) {
		r.f.Notes = append(r.f.Notes, fmt.Sprintf("No request of %s is counted in the metrics store (%s) around the incident: no error rate is read.", inc.Service, reqs))
		return nil
	}
	add := func(t time.Time, summary, query string) {
		r.f.Entries = append(r.f.Entries, Entry{Time: t, Kind: KindErrorRate, Summary: summary, Source: Source{Query: query}})
	}
	if c := req.Before; c.Total > 0 {
		add(c.From, fmt.Sprintf("error rate in the %s before the start: %s", formatDuration(c.To.Sub(c.From)), describeCounts(c)), req.Query)
	}
	if p := req.Peak; p != nil {
		add(p.At, fmt.Sprintf("error rate at its peak during the incident: %s over %s", percent(p.Ratio), formatDuration(peakWindow)), peakExpr)
	}
	if c := req.After; c != nil && c.Total > 0 {
		add(c.From, fmt.Sprintf("error rate in the %s after the end: %s", formatDuration(c.To.Sub(c.From)), describeCounts(*c)), req.Query)
	}
	return nil
}

// peak is the highest value of expr during the incident (the earliest of
// equal ones), at a resolution of about 250 points; nil without values.
func (r reader) peak(ctx context.Context, expr string) (*Peak, error) {
	inc := r.f.Incident
	if !r.f.To.After(inc.Start) {
		return nil, nil // an incident of no length (or a clock behind its start)
	}
	step := max((r.f.To.Sub(inc.Start) / 250).Truncate(time.Second), 15*time.Second)
	m, err := r.q.QueryRange(ctx, expr, promquery.Range{Start: inc.Start, End: r.f.To, Step: step})
	if err != nil {
		return nil, fmt.Errorf("reading the peak error rate: %w", err)
	}
	var p *Peak
	for _, ss := range m {
		for _, v := range ss.Values {
			val := float64(v.Value)
			if math.IsNaN(val) || math.IsInf(val, 0) {
				continue
			}
			// Equal ratios computed over different samples differ in
			// their last bits; to twelve digits they tie, and the
			// earliest is the peak.
			val, _ = strconv.ParseFloat(strconv.FormatFloat(val, 'g', 12, 64), 64)
			t := v.Timestamp.Time().UTC()
			if p == nil || val > p.Ratio || val == p.Ratio && t.Before(p.At) {
				p = &Peak{At: t, Ratio: val}
			}
		}
	}
	return p, nil
}

func describeCounts(c Counts) string {
	ratio := "no request"
	if r := c.Ratio(); r != nil {
		ratio = percent(*r)
	}
	return fmt.Sprintf("%s (%s of %s requests failed)", ratio, count(c.Failed), count(c.Total))
}

func ptr[T any](v T) *T { return &v }
