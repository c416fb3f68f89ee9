package sloreport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/estatehq/estate/internal/promquery"
)

// ErrNotFound is the error of a name that no SLO has.
var ErrNotFound = errors.New("no such SLO")

// Severity is how urgent a burn alert is.
type Severity string

// The severities, as the alerts' severity label writes them.
const (
	Page   Severity = "page"
	Ticket Severity = "ticket"
)

// BurnAlert is one multi-window, multi-burn-rate condition of the SRE
// workbook: the error budget burns faster than Threshold times the
// sustainable rate over both the long and the short window, each with
// enough events to count (the low-traffic guard). The long window says
// that enough budget is gone to matter; the short one that it is still
// going.
type BurnAlert struct {
	Severity    Severity
	Long, Short time.Duration
	Threshold   float64
	// For is how long the condition must hold before the generated alert
	// fires: a tenth of the short window, in whole minutes, so that one
	// evaluation's blip does not alert. The fast page has none: its short
	// window already asks that the burn be current, and it must page as
	// soon as both windows burn.
	For time.Duration
}

// BurnAlerts are the four conditions, in the order of their urgency: page
// at 14.4 times over 1h and 5m (2% of a 30-day budget in an hour) and 6
// times over 6h and 30m (5% in six hours); ticket at 3 times over 1d and
// 2h (10% in a day) and once over 3d and 6h.
func BurnAlerts() []BurnAlert {
	return []BurnAlert{
		{Severity: Page, Long: time.Hour, Short: 5 * time.Minute, Threshold: 14.4},
		{Severity: Page, Long: 6 * time.Hour, Short: 30 * time.Minute, Threshold: 6, For: 3 * time.Minute},
		{Severity: Ticket, Long: 24 * time.Hour, Short: 2 * time.Hour, Threshold: 3, For: 12 * time.Minute},
		{Severity: Ticket, Long: 72 * time.Hour, Short: 6 * time.Hour, Threshold: 1, For: 36 * time.Minute},
	}
}

// BurnWindows are the windows burn rates are computed over, shortest
// first: every window of BurnAlerts.
func BurnWindows() []time.Duration {
	return []time.Duration{5 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 24 * time.Hour, 72 * time.Hour}
}

// currentBurnWindow is the window whose burn rate is "the current rate"
// of Budget.TimeLeft.
const currentBurnWindow = time.Hour

// State is an SLO's policy state.
type State string

// The policy states, decided in this order (Policy holds the thresholds).
const (
	// NoData: the window holds no event, so nothing can be said.
	NoData State = "no_data"
	// Exhausted: the window's bad events reached its budget.
	Exhausted State = "exhausted"
	// AtRisk: less than Policy.AtRiskRemaining of the budget remains, or a
	// burn alert's condition holds.
	AtRisk State = "at_risk"
	// Healthy: none of the above.
	Healthy State = "healthy"
)

// Policy holds the thresholds of the computation.
type Policy struct {
	// MinEvents is the low-traffic guard: a burn rate counts (for the
	// state, and in every generated alert) only over a window with at
	// least this many events, so that one error in a quiet hour does not
	// page. 0 turns the guard off.
	MinEvents float64
	// AtRiskRemaining is the fraction of the budget below which an SLO is
	// at risk.
	AtRiskRemaining float64
}

// The default policy's thresholds.
const (
	DefaultMinEvents       = 100
	DefaultAtRiskRemaining = 0.25
)

// Events are counts of events in a window.
type Events struct {
	Total, Good, Bad float64
}

// Budget is the error budget of a window: the bad events it allows.
type Budget struct {
	// Allowed is (1 - objective) * total events.
	Allowed float64
	// Remaining is Allowed - bad events; negative when overspent.
	Remaining float64
	// RemainingRatio is Remaining / Allowed: 1 when nothing is spent (and
	// when the window holds no event), 0 when exhausted, negative when
	// overspent.
	RemainingRatio float64
	// TimeLeft is how long the remaining budget lasts at the current burn
	// rate (over the last hour): RemainingRatio * period / burn rate, 0 when
	// exhausted; nil when that burn rate is zero or does not count (the
	// low-traffic guard): the budget is not running out.
	TimeLeft *time.Duration
}

// BurnRate is how fast a window spends the budget: its ratio of bad events
// over the budget's ratio. At 1 the budget lasts exactly the SLO's window.
type BurnRate struct {
	Window time.Duration
	Events Events
	// Rate is nil when the window holds no event.
	Rate *float64
	// Counted says whether the window holds enough events for the rate to
	// count: Policy.MinEvents.
	Counted bool
}

// Status is an SLO at a time.
type Status struct {
	SLO SLO
	At  time.Time
	// Start and End are the window's period: events are counted in
	// (Start, At]; End is At for a rolling window and the period's end for
	// a calendar one.
	Start, End time.Time
	Events     Events
	// Attainment is good / total events; nil when the window holds none.
	Attainment *float64
	Budget     Budget
	// BurnRates are over BurnWindows, in that order.
	BurnRates []BurnRate
	// Burning are the BurnAlerts whose condition holds.
	Burning []BurnAlert
	State   State
}

// Options are what an Evaluator is built from.
type Options struct {
	// Querier answers the queries. Required.
	Querier promquery.Querier
	// SLOs are those that Statuses and Status report.
	SLOs   []SLO
	Policy Policy
	// CacheTTL is how long Statuses serves one computation.
	CacheTTL time.Duration
	// Chunk is the longest range of raw samples fetched in one query;
	// default one day.
	Chunk time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Evaluator computes SLO statuses through a Querier.
type Evaluator struct {
	o   Options
	cnt counter

	mu       sync.Mutex
	cached   []Status
	cachedAt time.Time
}

// New returns an Evaluator; it fails only for options that cannot work.
func New(o Options) (*Evaluator, error) {
	var errs []error
	if o.Querier == nil {
		errs = append(errs, errors.New("querier is required"))
	}
	if o.Policy.MinEvents < 0 {
		errs = append(errs, fmt.Errorf("min events must not be negative, not %v", o.Policy.MinEvents))
	}
	if o.Policy.AtRiskRemaining < 0 || o.Policy.AtRiskRemaining > 1 {
		errs = append(errs, fmt.Errorf("at-risk remaining must be between 0 and 1, not %v", o.Policy.AtRiskRemaining))
	}
	if o.CacheTTL < 0 || o.Chunk < 0 {
		errs = append(errs, fmt.Errorf("cache TTL (%s) and chunk (%s) must not be negative", o.CacheTTL, o.Chunk))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("slo evaluator: %w", err)
	}
	if o.Chunk == 0 {
		o.Chunk = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.SLOs = slices.Clone(o.SLOs)
	return &Evaluator{o: o, cnt: counter{q: o.Querier, chunk: o.Chunk}}, nil
}

// SLOs are the SLOs the evaluator reports.
func (e *Evaluator) SLOs() []SLO { return slices.Clone(e.o.SLOs) }

// Statuses are every SLO's status now, computed at most once per
// Options.CacheTTL. Errors: the Querier's, wrapped with the SLO's name.
func (e *Evaluator) Statuses(ctx context.Context) ([]Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.o.Now()
	if e.cached != nil && now.Sub(e.cachedAt) < e.o.CacheTTL && !now.Before(e.cachedAt) {
		return slices.Clone(e.cached), nil
	}
	out := make([]Status, 0, len(e.o.SLOs))
	for _, s := range e.o.SLOs {
		st, err := e.Evaluate(ctx, s, now)
		if err != nil {
			return nil, fmt.Errorf("slo %s: %w", s.Name, err)
		}
		out = append(out, st)
	}
	e.cached, e.cachedAt = out, now
	return slices.Clone(out), nil
}

// Status is the named SLO's status now, as Statuses. Errors: ErrNotFound,
// and those of Statuses.
func (e *Evaluator) Status(ctx context.Context, name string) (Status, error) {
	if !slices.ContainsFunc(e.o.SLOs, func(s SLO) bool { return s.Name == name }) {
		return Status{}, ErrNotFound
	}
	all, err := e.Statuses(ctx)
	if err != nil {
		return Status{}, err
	}
	i := slices.IndexFunc(all, func(st Status) bool { return st.SLO.Name == name })
	return all[i], nil
}

// Evaluate computes s's status at at (to the millisecond), exactly: every
// count is a sum of the raw samples' increases, read raw or from the
// steps its counts group recorded (see counter). Errors: the Querier's.
func (e *Evaluator) Evaluate(ctx context.Context, s SLO, at time.Time) (Status, error) {
	st, _, err := e.evaluate(ctx, s, at, nil)
	return st, err
}

// evaluate is Evaluate, and also counts the events in (extra[i], at] for
// every i, in the same queries.
func (e *Evaluator) evaluate(ctx context.Context, s SLO, at time.Time, extra []time.Time) (Status, []Events, error) {
	at = time.UnixMilli(at.UnixMilli()).In(at.Location())
	start, end := s.Window.Bounds(at)
	windows := BurnWindows()
	starts := []time.Time{start}
	for _, w := range windows {
		starts = append(starts, at.Add(-w))
	}
	starts = append(starts, extra...)
	lookback := max(s.Window.Period(at), 24*time.Hour)
	in := s.Indicator
	total, err := e.cnt.increases(ctx, s, in.Total, starts, at, lookback)
	if err != nil {
		return Status{}, nil, err
	}
	part := in.Good
	if part == "" {
		part = in.Bad
	}
	counted, err := e.cnt.increases(ctx, s, part, starts, at, lookback)
	if err != nil {
		return Status{}, nil, err
	}
	events := make([]Events, len(starts))
	for i := range starts {
		bad := counted[i]
		if in.Good != "" {
			bad = total[i] - counted[i]
		}
		// Good and total are scraped apart; a bad count outside [0, total]
		// is the skew of two scrapes, not an event.
		bad = min(max(bad, 0), total[i])
		events[i] = Events{Total: total[i], Good: total[i] - bad, Bad: bad}
	}
	st := Status{SLO: s, At: at, Start: start, End: end, Events: events[0]}
	budget := s.Budget()
	st.Attainment, st.Budget = budgetOf(budget, st.Events)
	for i, w := range windows {
		ev := events[i+1]
		br := BurnRate{Window: w, Events: ev, Counted: ev.Total > 0 && ev.Total >= e.o.Policy.MinEvents}
		if ev.Total > 0 {
			r := ev.Bad / ev.Total / budget
			br.Rate = &r
		}
		st.BurnRates = append(st.BurnRates, br)
	}
	st.Burning = burning(st.BurnRates)
	if cur := st.burnRate(currentBurnWindow); cur.Counted && *cur.Rate > 0 {
		left := time.Duration(max(st.Budget.RemainingRatio, 0) * float64(s.Window.Period(at)) / *cur.Rate)
		st.Budget.TimeLeft = &left
	}
	st.State = e.o.Policy.state(st)
	return st, events[1+len(windows):], nil
}

// budgetOf is the attainment (nil without events) and the budget of the
// events of a window, for an SLO whose budget (1 - objective) is budget.
// The budget's TimeLeft is not set.
func budgetOf(budget float64, ev Events) (*float64, Budget) {
	if ev.Total == 0 {
		return nil, Budget{RemainingRatio: 1}
	}
	a := ev.Good / ev.Total
	b := Budget{Allowed: budget * ev.Total}
	b.Remaining = b.Allowed - ev.Bad
	b.RemainingRatio = b.Remaining / b.Allowed
	return &a, b
}

func (st Status) burnRate(w time.Duration) BurnRate {
	for _, br := range st.BurnRates {
		if br.Window == w {
			return br
		}
	}
	return BurnRate{Window: w}
}

// burning are the alerts whose two windows both count and burn above the
// threshold.
func burning(rates []BurnRate) []BurnAlert {
	above := func(w time.Duration, threshold float64) bool {
		for _, br := range rates {
			if br.Window == w {
				return br.Counted && *br.Rate > threshold
			}
		}
		return false
	}
	var out []BurnAlert
	for _, a := range BurnAlerts() {
		if above(a.Long, a.Threshold) && above(a.Short, a.Threshold) {
			out = append(out, a)
		}
	}
	return out
}

func (p Policy) state(st Status) State {
	switch {
	case st.Events.Total == 0:
		return NoData
	case st.Events.Bad > 0 && st.Budget.Remaining <= 0:
		return Exhausted
	case st.Budget.RemainingRatio < p.AtRiskRemaining || len(st.Burning) > 0:
		return AtRisk
	}
	return Healthy
}
