package sloreport

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PeriodStatus is an SLO over a report's period, (From, To], rather than
// over its own window: what a week's report says of it.
type PeriodStatus struct {
	// Own is the SLO's status over its own window at To. For a calendar
	// window whose period starts exactly at To (a weekly window and a
	// report on its week), it is the period that ends at To.
	Own      Status
	From, To time.Time
	// Period holds the events in (From, To].
	Period PeriodFigures
	// Previous holds the events of the period of the same length just
	// before: (From - (To - From), From].
	Previous PeriodFigures
	// BurnDown is the period's budget as the period went by: at From, then
	// at equal steps to To. Its last point is Period's.
	BurnDown []BudgetPoint
}

// PeriodFigures are an SLO's figures over a period.
type PeriodFigures struct {
	Events Events
	// Attainment is good / total events; nil when the period holds none.
	Attainment *float64
	// Budget is (1 - objective) * the period's events; TimeLeft is not set.
	Budget Budget
}

// BudgetPoint is the budget of a period at a time within it: the bad
// events since the period's start, against the bad events the whole
// period allows, so the line only goes down.
type BudgetPoint struct {
	At time.Time
	// Bad is the bad events in (From, At].
	Bad float64
	// RemainingRatio is (the period's allowed bad events - Bad) / those
	// allowed; nil
	// when the period holds no event.
	RemainingRatio *float64
}

// EvaluatePeriod computes s over (from, to], the period before it, its own
// window at to, and the budget's burn-down in steps points after from,
// with the exactness of Evaluate and in the same two series of queries.
// Errors: a period that is empty or not on whole milliseconds, steps
// below 1, and the Querier's.
func (e *Evaluator) EvaluatePeriod(ctx context.Context, s SLO, from, to time.Time, steps int) (PeriodStatus, error) {
	switch {
	case !from.Before(to):
		return PeriodStatus{}, fmt.Errorf("slo %s: period start %s must be before its end %s", s.Name, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
	case from.Truncate(time.Millisecond) != from || to.Truncate(time.Millisecond) != to:
		return PeriodStatus{}, fmt.Errorf("slo %s: period ends must be whole milliseconds", s.Name)
	case steps < 1:
		return PeriodStatus{}, errors.New("slo " + s.Name + ": steps must be at least 1")
	}
	length := to.Sub(from)
	// extra: the previous period's start, the period's, then each step's.
	extra := []time.Time{from.Add(-length), from}
	for k := 1; k < steps; k++ {
		extra = append(extra, from.Add(length*time.Duration(k)/time.Duration(steps)))
	}
	own := s
	if s.Window.Kind == Calendar {
		if start, _ := s.Window.Bounds(to); start.Equal(to) {
			prev, _ := s.Window.Bounds(to.Add(-time.Millisecond))
			own.Window = Window{Kind: Rolling, Length: to.Sub(prev)}
		}
	}
	st, counts, err := e.evaluate(ctx, own, to, extra)
	if err != nil {
		return PeriodStatus{}, fmt.Errorf("slo %s: %w", s.Name, err)
	}
	if own.Window != s.Window {
		st.SLO, st.End = s, to
	}
	budget := s.Budget()
	out := PeriodStatus{Own: st, From: from, To: to}
	period, before := counts[1], counts[0]
	out.Period.Events = period
	out.Period.Attainment, out.Period.Budget = budgetOf(budget, period)
	prev := Events{Total: before.Total - period.Total, Good: before.Good - period.Good, Bad: before.Bad - period.Bad}
	out.Previous.Events = prev
	out.Previous.Attainment, out.Previous.Budget = budgetOf(budget, prev)

	point := func(at time.Time, bad float64) BudgetPoint {
		p := BudgetPoint{At: at, Bad: min(max(bad, 0), period.Bad)}
		if period.Total > 0 {
			// As budgetOf computes it, so the last point is the period's.
			allowed := out.Period.Budget.Allowed
			r := (allowed - p.Bad) / allowed
			p.RemainingRatio = &r
		}
		return p
	}
	out.BurnDown = append(out.BurnDown, point(from, 0))
	for k, rest := range counts[2:] {
		out.BurnDown = append(out.BurnDown, point(extra[k+2], period.Bad-rest.Bad))
	}
	out.BurnDown = append(out.BurnDown, point(to, period.Bad))
	return out, nil
}
