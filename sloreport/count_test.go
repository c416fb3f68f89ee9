package sloreport

import (
	"context"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
)

// recording says how the counts groups are evaluated over a scrape.
type recording struct {
	// offset is the groups' evaluation offset within the step.
	offset time.Duration
	// lag, when set, is how long before an evaluation its last samples
	// reach the store: the samples in (t - lag(t), t] come after the
	// evaluation at t.
	lag func(t time.Time) time.Duration
	// skip, when set, says which evaluations do not happen.
	skip func(t time.Time) bool
	// held are times whose samples reach the store out of order, after
	// the evaluations of their step and the next.
	held []time.Time
}

// recordedQuerier appends the series to a real TSDB in time order, as a
// scrape does, with the counts groups of slos evaluated by Prometheus's
// rules manager every Step along the way, and answers with Prometheus's
// engine over it.
func recordedQuerier(t *testing.T, slos []SLO, r recording, ss ...series) promquery.Querier {
	t.Helper()
	ctx := context.Background()
	st := teststorage.New(t, func(o *tsdb.Options) { o.OutOfOrderTimeWindow = (15 * time.Minute).Milliseconds() })
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000)

	groups, err := Generate(slos, RuleOptions{})
	require.NoError(t, err)
	groups.Groups = slices.DeleteFunc(groups.Groups, func(g rulefmt.RuleGroup) bool { return !strings.HasSuffix(g.Name, ":counts") })
	file := filepath.Join(t.TempDir(), "counts.yaml")
	f, err := os.Create(file)
	require.NoError(t, err)
	require.NoError(t, WriteRules(f, groups))
	require.NoError(t, f.Close())
	m := rules.NewManager(&rules.ManagerOptions{
		QueryFunc: rules.EngineQueryFunc(engine, st), AppendableV2: st, Queryable: st,
		Context: ctx, Logger: slog.New(slog.DiscardHandler),
	})
	loaded, errs := m.LoadGroups(Step, labels.EmptyLabels(), "", nil, false, file)
	require.Empty(t, errs)
	require.Len(t, loaded, len(slos))

	type point struct {
		ls labels.Labels
		t  time.Time
		v  float64
	}
	var points []point
	for _, s := range ss {
		ls, err := promqlParser.ParseMetric(s.metric)
		require.NoError(t, err, s.metric)
		for _, smp := range s.samples {
			points = append(points, point{ls, smp.t, smp.v})
		}
	}
	slices.SortStableFunc(points, func(a, b point) int { return a.t.Compare(b.t) })
	var held []point
	appendUntil := func(until time.Time) {
		app := st.Appender(ctx)
		for _, p := range held {
			if !p.t.Add(2 * Step).After(until) {
				_, err := app.Append(0, p.ls, p.t.UnixMilli(), p.v)
				require.NoError(t, err)
			}
		}
		held = slices.DeleteFunc(held, func(p point) bool { return !p.t.Add(2 * Step).After(until) })
		for len(points) > 0 && !points[0].t.After(until) {
			if slices.ContainsFunc(r.held, points[0].t.Equal) {
				held = append(held, points[0])
			} else {
				_, err := app.Append(0, points[0].ls, points[0].t.UnixMilli(), points[0].v)
				require.NoError(t, err)
			}
			points = points[1:]
		}
		require.NoError(t, app.Commit())
	}
	if len(points) > 0 {
		last := points[len(points)-1].t
		for ts := points[0].t.Truncate(Step).Add(r.offset); !ts.After(last.Add(Step)); ts = ts.Add(Step) {
			var lag time.Duration
			if r.lag != nil {
				lag = r.lag(ts)
			}
			appendUntil(ts.Add(-lag))
			if r.skip != nil && r.skip(ts) {
				continue
			}
			for _, g := range loaded {
				g.Eval(ctx, ts)
			}
		}
		appendUntil(last.Add(2 * Step))
	}
	return promquery.NewEngine(engine, st)
}

// rawSamples counts the raw samples of the counters that the queries
// under it return: every matrix but the recorded steps'.
type rawSamples struct {
	promquery.Querier
	n int
}

func (r *rawSamples) Query(ctx context.Context, expr string, t time.Time) (model.Value, error) {
	v, err := r.Querier.Query(ctx, expr, t)
	if m, ok := v.(model.Matrix); ok && !strings.Contains(expr, StepIncreaseRecord) {
		for _, ss := range m {
			r.n += len(ss.Values)
		}
	}
	return v, err
}

// evaluations are what TestRecordedStepsCountExactly compares: the known
// week's SLO over its week, at a time off the steps, and as a report's
// period with its burn-down, and a 30-day SLO whose window starts before
// the data.
func evaluations(t *testing.T, q promquery.Querier) (n int, out []any) {
	t.Helper()
	ctx := context.Background()
	rq := &rawSamples{Querier: q}
	e := evaluator(t, rq, Policy{MinEvents: 100, AtRiskRemaining: 0.25})
	week, month := ratioSLO(rolling(7*24*time.Hour)), ratioSLO(rolling(30*24*time.Hour))
	for _, at := range []time.Time{weekEnd, weekEnd.Add(-3*time.Hour - 17*time.Minute - 1234*time.Millisecond)} {
		st, err := e.Evaluate(ctx, week, at)
		require.NoError(t, err)
		out = append(out, st)
	}
	ps, err := e.EvaluatePeriod(ctx, month, weekStart, weekEnd, 28)
	require.NoError(t, err)
	return rq.n, append(out, ps)
}

// TestRecordedStepsCountExactly: the counts that an Evaluator takes from
// the steps its counts group recorded are those it counts from the raw
// samples alone, whatever the series do (resets within a step and across
// its start, scrape gaps, a series born in the window) and whatever the
// recording missed (evaluations that did not happen, samples that came
// after the evaluation of their step). Where the steps are there, it
// reads a tenth of the raw samples or fewer.
func TestRecordedStepsCountExactly(t *testing.T) {
	requests, errs := knownWeek()
	minute := func(t time.Time) int { return int(t.Sub(dataStart) / time.Minute) }
	thursday := weekStart.Add(3*24*time.Hour + 12*time.Hour)
	friday := weekStart.Add(4*24*time.Hour + 3*time.Hour)
	tuesday := weekStart.Add(24*time.Hour + 6*time.Hour)
	newRoute := counterSamples(weekStart.Add(5*24*time.Hour+2*time.Minute), time.Minute, 600, func(i int) float64 { return float64(7 + i%3) })
	// Born five minutes before a step; in the step after, from 6 to 8, 33,
	// then reset: 12, 13.
	young := counterSamples(weekStart.Add(5*24*time.Hour-5*time.Minute), time.Minute, 600, func(i int) float64 {
		if d, ok := map[int]float64{6: 2, 7: 25, 8: -21}[i]; ok {
			return d
		}
		return 1
	})
	require.Equal(t, []float64{6, 8, 33, 12, 13}, []float64{young[5].v, young[6].v, young[7].v, young[8].v, young[9].v})
	pair := func(requests, errs []sample, more ...series) []series {
		return append([]series{
			{`requests_total{service="inv",route="GET /invoices"}`, requests},
			{`errors_total{service="inv",route="GET /invoices"}`, errs},
		}, more...)
	}
	tests := []struct {
		name   string
		series []series
		rec    recording
		// reads is how many raw samples the evaluator reads with the
		// steps, against without: "few" (a tenth or fewer: most steps
		// count), "all" (none counts), or "" (some do).
		reads string
	}{
		{"every step recorded", pair(requests, errs), recording{offset: 2*time.Minute + 17*time.Second}, "few"},
		{"both counters reset within a step on Thursday, the errors counter again during the outage",
			pair(resetAt(requests, minute(thursday)), resetAt(resetAt(errs, minute(thursday)), minute(outage.Add(10*time.Minute)))), recording{offset: 17 * time.Second}, "few"},
		// Past its value before the step at once: no sample in the step
		// is below that value, but one is below the sample before it.
		{"a young counter that resets within a step", pair(requests, errs, series{`requests_total{service="inv",route="PUT /invoices"}`, young}), recording{offset: 17 * time.Second}, "few"},
		// Below the sample before the step; none below the one before it
		// in the step.
		{"a reset at a step's first sample, evaluated on the minute", pair(resetAt(requests, minute(thursday)+1), errs), recording{}, "few"},
		{"a 45-minute scrape gap on Friday", pair(without(requests, friday, friday.Add(45*time.Minute)), without(errs, friday, friday.Add(45*time.Minute))), recording{offset: 17 * time.Second}, "few"},
		{"a scrape gap across the week's start", pair(without(requests, weekStart.Add(-20*time.Minute), weekStart.Add(25*time.Minute)), without(errs, weekStart.Add(-20*time.Minute), weekStart.Add(25*time.Minute))), recording{offset: time.Minute}, "few"},
		{"a series born in the week", pair(requests, errs, series{`requests_total{service="inv",route="POST /invoices"}`, newRoute}), recording{offset: 17 * time.Second}, "few"},
		// Its target gone, marked stale at the scrape after its last.
		{"a series that stops", pair(requests, errs, series{`requests_total{service="inv",route="POST /invoices"}`, append(
			without(counterSamples(dataStart, time.Minute, weekSamples, func(int) float64 { return 3 }), friday, weekEnd.Add(time.Minute)),
			sample{friday, math.Float64frombits(value.StaleNaN)})}), recording{offset: 17 * time.Second}, "few"},
		{"the rules evaluator down for three hours on Tuesday, and one evaluation missed", pair(requests, errs), recording{
			offset: 17 * time.Second,
			skip: func(t time.Time) bool {
				return !t.Before(tuesday) && t.Before(tuesday.Add(3*time.Hour)) || t.Equal(outage.Add(10*time.Minute+17*time.Second))
			},
		}, "few"},
		{"the samples of some steps late for their evaluation", pair(requests, errs), recording{
			offset: 17 * time.Second,
			lag: func(t time.Time) time.Duration {
				// During the outage and in the week's last hour, when the
				// errors increase, and every 50th step.
				if !t.Before(outage) && t.Before(outage.Add(time.Hour)) || t.After(weekEnd.Add(-time.Hour)) || t.Unix()/300%50 == 0 {
					return 30 * time.Second
				}
				return 0
			},
		}, "few"},
		// Missed by both evaluations, the last sample of the step before
		// the one that holds the start of the last three days: the two
		// recorded steps still add up, but the raw samples after them do
		// not start where they end.
		{"a sample out of order after the evaluations of its step and the next", pair(requests, errs), recording{
			offset: 17 * time.Second, held: []time.Time{weekEnd.Add(-3*24*time.Hour - 5*time.Minute)},
		}, ""},
		// The requests' steps all miss their last increment; the errors
		// counter's late samples, outside the outage, add nothing, and its
		// steps count.
		{"every sample late", pair(requests, errs), recording{offset: 17 * time.Second, lag: func(time.Time) time.Duration { return 30 * time.Second }}, ""},
		{"no evaluation", pair(requests, errs), recording{skip: func(time.Time) bool { return true }}, "all"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rawN, want := evaluations(t, querier(t, tc.series...))
			recN, got := evaluations(t, recordedQuerier(t, []SLO{ratioSLO(rolling(7 * 24 * time.Hour))}, tc.rec, tc.series...))
			require.Empty(t, cmp.Diff(want, got))
			switch tc.reads {
			case "few":
				require.Less(t, recN, rawN/10, "raw samples read")
			case "all":
				require.Equal(t, rawN, recN, "raw samples read")
			}
		})
	}
}

// TestRecordedStepsOfAnotherSelector: the steps recorded for an SLO's
// former indicator are not counted for its new one.
func TestRecordedStepsOfAnotherSelector(t *testing.T) {
	requests, errs := knownWeek()
	ss := []series{
		{`requests_total{service="inv",route="GET /invoices"}`, requests},
		{`errors_total{service="inv",route="GET /invoices"}`, errs},
		{`requests_total{service="inv",route="POST /invoices"}`, requests},
		{`errors_total{service="inv",route="POST /invoices"}`, errs},
	}
	before := ratioSLO(rolling(7 * 24 * time.Hour))
	q := recordedQuerier(t, []SLO{before}, recording{offset: 17 * time.Second}, ss...)
	now := before
	now.Indicator = Indicator{Bad: `errors_total{route="GET /invoices"}`, Total: `requests_total{route="GET /invoices"}`}

	rawN, want := evaluations(t, querier(t, ss[:2]...))
	rq := &rawSamples{Querier: q}
	got, err := evaluator(t, rq, Policy{MinEvents: 100, AtRiskRemaining: 0.25}).Evaluate(context.Background(), now, weekEnd)
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(want[0], got, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "SLO" }, cmp.Ignore())))
	require.Positive(t, rawN)
	require.Greater(t, rq.n, 7*24*60*2, "every raw sample of the week read")

	// The former indicator's steps still count for it.
	rq.n = 0
	got, err = evaluator(t, rq, Policy{MinEvents: 100, AtRiskRemaining: 0.25}).Evaluate(context.Background(), before, weekEnd)
	require.NoError(t, err)
	require.Equal(t, 2*want[0].(Status).Events.Total, got.Events.Total)
	require.Less(t, rq.n, 7*24*60*2/10)
}
