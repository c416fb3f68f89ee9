package sloreport

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
)

// TestEvaluatePeriodKnownWeek: the known week of TestEvaluateKnownWeek,
// over the report's period rather than the SLO's own window: the same
// events, budget and attainment; the previous period holds the day of
// traffic before the week; the burn-down steps down at Wednesday's outage
// and the last ten minutes.
func TestEvaluatePeriodKnownWeek(t *testing.T) {
	requests, errs := knownWeek()
	e := evaluator(t, loadPair(t, requests, errs), Policy{MinEvents: 100, AtRiskRemaining: 0.25})
	slo := ratioSLO(rolling(30 * 24 * time.Hour))
	ps, err := e.EvaluatePeriod(context.Background(), slo, weekStart, weekEnd, 28)
	require.NoError(t, err)

	require.Equal(t, Events{Total: 1_008_000, Good: 1_007_350, Bad: 650}, ps.Period.Events)
	require.Equal(t, 0.9993551587301587, *ps.Period.Attainment)
	require.Equal(t, Budget{Allowed: 1008, Remaining: 358, RemainingRatio: 0.3551587301587302}, ps.Period.Budget)
	// (26 Oct, 2 Nov]: 1441 samples from 1 November 00:00, the first
	// counted from zero (the series is born with it).
	require.Equal(t, Events{Total: 144_100, Good: 144_100}, ps.Previous.Events)
	require.Equal(t, 1.0, *ps.Previous.Attainment)

	own, err := e.Evaluate(context.Background(), slo, weekEnd)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(own, ps.Own), "the own window is Evaluate's")

	require.Len(t, ps.BurnDown, 29)
	for i, p := range ps.BurnDown {
		require.Equal(t, weekStart.Add(time.Duration(i)*6*time.Hour), p.At, i)
		at := p.At
		var bad float64
		switch {
		case at.Equal(weekEnd):
			bad = 650
		case !at.Before(outage.Add(30 * time.Minute)):
			bad = 600
		}
		require.Equal(t, bad, p.Bad, at)
		require.InDelta(t, (1008-bad)/1008, *p.RemainingRatio, 1e-12, at)
	}
	require.Equal(t, ps.Period.Budget.RemainingRatio, *ps.BurnDown[28].RemainingRatio, "the last point is the period's")
}

// TestEvaluatePeriodCalendarWeek: a weekly calendar window whose period
// starts at the report's end reports, as its own window, the period that
// ends there.
func TestEvaluatePeriodCalendarWeek(t *testing.T) {
	requests, errs := knownWeek()
	e := evaluator(t, loadPair(t, requests, errs), Policy{MinEvents: 100, AtRiskRemaining: 0.25})
	slo := ratioSLO(Window{Kind: Calendar, Unit: Week, Anchor: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)})
	ps, err := e.EvaluatePeriod(context.Background(), slo, weekStart, weekEnd, 7)
	require.NoError(t, err)
	require.Equal(t, weekStart, ps.Own.Start)
	require.Equal(t, weekEnd, ps.Own.End)
	require.Equal(t, slo, ps.Own.SLO)
	require.Equal(t, ps.Period.Events, ps.Own.Events)
	require.Len(t, ps.BurnDown, 8)
}

func TestEvaluatePeriodErrors(t *testing.T) {
	e := evaluator(t, querier(t), Policy{})
	slo := ratioSLO(rolling(24 * time.Hour))
	for name, c := range map[string]struct {
		from, to time.Time
		steps    int
		err      string
	}{
		"empty period":    {weekEnd, weekEnd, 7, "must be before its end"},
		"sub-millisecond": {weekStart.Add(time.Microsecond), weekEnd, 7, "whole milliseconds"},
		"no steps":        {weekStart, weekEnd, 0, "steps must be at least 1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.EvaluatePeriod(context.Background(), slo, c.from, c.to, c.steps)
			require.ErrorContains(t, err, c.err)
		})
	}
}
