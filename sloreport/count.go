package sloreport

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/internal/promquery"
)

// counter counts the events of a counter selector exactly over several
// windows that end at the same time.
//
// Each increase between two consecutive samples of a series (a delta)
// belongs to the window that holds the later sample. A delta is the
// difference of the two values, or the later value when it is lower (the
// counter was reset, and counted again from zero). A series' first sample
// is a delta from zero: the series was born with it. So adjacent windows
// split a counter's increase exactly, with nothing counted twice or lost:
// a reset, or a gap between scrapes, neither creates nor hides an event;
// unlike increase() and rate(), nothing is extrapolated to the window's
// ends.
//
// Where the SLO's counts group (CountsGroup) recorded the steps of a
// window, those steps are summed instead of reading their raw samples: a
// recorded step is the sum of the same deltas, over the same series. A
// step is used only when the sum recorded at its end is the next step's
// start (the next step's sum less its increase), which shows that its
// evaluation saw the last sample of every series in it, and only in runs
// of at least minRecordedRun steps that no window's start cuts, whose
// ends meet the raw samples read around them (count). Everything else
// (the window's two ends, the steps that hold another window's start,
// missing or unchecked steps) is read raw; without recorded steps (a
// Prometheus that does not evaluate the rules) the whole window is, and
// the counts are the same.
type counter struct {
	q promquery.Querier
	// chunk is the longest range fetched at once.
	chunk time.Duration
}

// minRecordedRun is the fewest consecutive recorded steps read in place of
// raw samples: an hour. A run costs a query for the raw samples after it,
// which a shorter run would not repay.
const minRecordedRun = 12

// maxLookups is the most series of a raw read whose sample before it is
// looked up by their own labels; more are looked up by the selector, over
// every series' lookback.
const maxLookups = 8

var stepNames = regexp.QuoteMeta(StepIncreaseRecord) + "|" + regexp.QuoteMeta(StepSumRecord)

// increases are the events of selector, one of s's counters, in
// (starts[i], end] for every i. A series with no sample in lookback
// before the earliest start is new: its first sample counts from zero.
func (c counter) increases(ctx context.Context, s SLO, selector string, starts []time.Time, end time.Time, lookback time.Duration) ([]float64, error) {
	endMs := end.UnixMilli()
	// bounds are the distinct starts before end, ascending; bins[j] gets
	// the events of (bounds[j], bounds[j+1]], the last bin those up to end.
	var bounds []int64
	for _, st := range starts {
		if ms := st.UnixMilli(); ms < endMs {
			bounds = append(bounds, ms)
		}
	}
	out := make([]float64, len(starts))
	if len(bounds) == 0 {
		return out, nil
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	horizon := bounds[0] - lookback.Milliseconds()
	steps, err := c.steps(ctx, s, selector, bounds[0], endMs)
	if err != nil {
		return nil, err
	}
	bins, ok, err := c.count(ctx, selector, runs(steps, bounds), bounds, endMs, horizon)
	if err == nil && !ok {
		bins, _, err = c.count(ctx, selector, nil, bounds, endMs, horizon)
	}
	if err != nil {
		return nil, err
	}
	for j := len(bins) - 2; j >= 0; j-- {
		bins[j] += bins[j+1]
	}
	for i, st := range starts {
		if ms := st.UnixMilli(); ms < endMs {
			out[i] = bins[slices.Index(bounds, ms)]
		}
	}
	return out, nil
}

// count returns, for each bound, the events in (bound, next bound] (the
// last: up to end): those of the recorded runs, and of the raw samples
// before, between and after them. A run's first step is read raw too, so
// that both its ends meet raw samples over the same series: the sums
// recorded at the ends of its first and last steps must be those of the
// counters' last samples in those steps. It reports false, and counts
// nothing more, when one is not: a sample that reached the store after
// the evaluations of its step and the next makes that difference, and the
// caller counts everything raw then.
func (c counter) count(ctx context.Context, selector string, runs [][]step, bounds []int64, end, horizon int64) ([]float64, bool, error) {
	bins := make([]float64, len(bounds))
	add := func(t int64, v float64) {
		// The last bound before t.
		bins[sort.Search(len(bounds), func(i int) bool { return bounds[i] >= t })-1] += v
	}
	from := bounds[0]
	var before *step
	for _, run := range runs {
		first, last := run[0], run[len(run)-1]
		sums, err := c.raw(ctx, selector, from, first.end, horizon, add)
		if err != nil {
			return nil, false, err
		}
		if before != nil && sums.start != before.sum || sums.end != first.sum {
			return nil, false, nil
		}
		for _, st := range run[1:] {
			add(st.end, st.increase)
		}
		from, before = last.end, &last
	}
	sums, err := c.raw(ctx, selector, from, end, horizon, add)
	if err != nil {
		return nil, false, err
	}
	if before != nil && sums.start != before.sum {
		return nil, false, nil
	}
	return bins, true, nil
}

// step is a recorded step: increase events in (end - Step, end], and the
// sum of the counters at end.
type step struct {
	end           int64
	increase, sum float64
}

// steps are the recorded steps of selector within (from, to] whose sum at
// their end is the next step's start, by end. They are read in one query:
// a sample every Step is few.
func (c counter) steps(ctx context.Context, s SLO, selector string, from, to int64) ([]step, error) {
	var increases, sums []model.SamplePair
	series := 0
	sel := fmt.Sprintf("{__name__=~%q, slo=%q, %s=%q}", stepNames, s.Name, SelectorLabel, selector)
	err := c.read(ctx, sel, from, to, to-from, func(m model.Metric, ps []model.SamplePair) error {
		series++
		if m[model.MetricNameLabel] == StepIncreaseRecord {
			increases = append(increases, ps...)
		} else {
			sums = append(sums, ps...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if series > 2 {
		// The SLO's labels changed: a series for each, with samples at
		// times of their own, unless two rule files recorded both.
		for _, ps := range [][]model.SamplePair{increases, sums} {
			slices.SortStableFunc(ps, func(a, b model.SamplePair) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
		}
	}
	stepMs := model.Time(Step.Milliseconds())
	var out []step
	j := 0
	for i, inc := range increases {
		for j < len(sums) && sums[j].Timestamp < inc.Timestamp {
			j++
		}
		// The sum at the step's end, then the next step's increase and
		// sum, each alone at its time.
		switch {
		case int64(inc.Timestamp-stepMs) < from,
			i+1 >= len(increases) || j+1 >= len(sums),
			i > 0 && increases[i-1].Timestamp == inc.Timestamp,
			sums[j].Timestamp != inc.Timestamp || sums[j+1].Timestamp == inc.Timestamp,
			increases[i+1].Timestamp != inc.Timestamp+stepMs || sums[j+1].Timestamp != inc.Timestamp+stepMs,
			i+2 < len(increases) && increases[i+2].Timestamp == increases[i+1].Timestamp,
			j+2 < len(sums) && sums[j+2].Timestamp == sums[j+1].Timestamp:
			continue
		}
		if sums[j].Value == sums[j+1].Value-increases[i+1].Value {
			out = append(out, step{end: int64(inc.Timestamp), increase: float64(inc.Value), sum: float64(sums[j].Value)})
		}
	}
	return out, nil
}

// runs are the runs of consecutive steps that are at least
// minRecordedRun long, without the steps that a bound falls within or at
// the start of: a bound is always in raw samples, where the run's ends
// are checked.
func runs(steps []step, bounds []int64) [][]step {
	stepMs := Step.Milliseconds()
	var out [][]step
	var cur []step
	flush := func() {
		if len(cur) >= minRecordedRun {
			out = append(out, cur)
		}
		cur = nil
	}
	for _, st := range steps {
		i := sort.Search(len(bounds), func(i int) bool { return bounds[i] >= st.end-stepMs })
		if i < len(bounds) && bounds[i] < st.end {
			flush()
			continue
		}
		if len(cur) > 0 && cur[len(cur)-1].end != st.end-stepMs {
			flush()
		}
		cur = append(cur, st)
	}
	flush()
	return out
}

// firstSample is a series' first sample in a raw read.
type firstSample struct {
	metric model.Metric
	t      int64
	v      float64
}

// rawSums are the sums of the counters' last samples at a raw read's
// start and end: of the series with a sample in the Step up to it.
type rawSums struct{ start, end float64 }

// raw adds the deltas of selector's raw samples in (from, to] at their
// times. Each series' sample before from is the last in the Step before
// it; a series with none there is looked up back to horizon, and is new
// if it has none since.
func (c counter) raw(ctx context.Context, selector string, from, to, horizon int64, add func(t int64, delta float64)) (rawSums, error) {
	type state struct {
		prev, atFrom      float64
		prevT             int64
		seen, beforeStart bool
	}
	var (
		states = map[string]*state{}
		// unknown are the series whose first sample in (from, to] had no
		// sample before it in the read: counted from zero until looked up.
		unknown = map[string]firstSample{}
	)
	err := c.read(ctx, selector, from-Step.Milliseconds(), to, c.chunk.Milliseconds(), func(m model.Metric, ps []model.SamplePair) error {
		key := seriesKey(m)
		st := states[key]
		if st == nil {
			st = &state{}
			states[key] = st
		}
		for _, p := range ps {
			t, v := int64(p.Timestamp), float64(p.Value)
			if math.IsNaN(v) {
				continue
			}
			if t <= from {
				st.prev, st.prevT, st.seen = v, t, true
				st.atFrom, st.beforeStart = v, true
				continue
			}
			if !st.seen {
				unknown[key] = firstSample{m, t, v}
			}
			delta := v
			if st.seen && v >= st.prev {
				delta = v - st.prev
			}
			st.prev, st.prevT, st.seen = v, t, true
			add(t, delta)
		}
		return nil
	})
	if err != nil {
		return rawSums{}, err
	}
	var sums rawSums
	for _, st := range states {
		// The read holds no sample at or before from but those in the
		// Step up to it.
		if st.beforeStart {
			sums.start += st.atFrom
		}
		if st.prevT > to-Step.Milliseconds() {
			sums.end += st.prev
		}
	}
	if len(unknown) == 0 {
		return sums, nil
	}
	before, err := c.lookup(ctx, selector, unknown, from, horizon)
	if err != nil {
		return rawSums{}, err
	}
	for key, u := range unknown {
		// The series is not new: its first delta is from its sample
		// before, unless it reset.
		if prev, ok := before[key]; ok && u.v >= prev {
			add(u.t, -prev)
		}
	}
	return sums, nil
}

// lookup is the last sample at or before at and after horizon of each
// series in want, by seriesKey, in one query: a few series are looked up
// by their exact labels (their own samples only, or-ed together); more
// by the selector.
func (c counter) lookup(ctx context.Context, selector string, want map[string]firstSample, at, horizon int64) (map[string]float64, error) {
	rng := fmt.Sprintf("[%dms]", at-horizon)
	expr := "last_over_time(" + selector + rng + ")"
	if len(want) <= maxLookups {
		// The series' exact labels; a series with more labels matches
		// too, and is not wanted.
		parts := make([]string, 0, len(want))
		for _, u := range want {
			parts = append(parts, "last_over_time("+u.metric.String()+rng+")")
		}
		slices.Sort(parts)
		expr = strings.Join(parts, " or ")
	}
	v, err := c.q.Query(ctx, expr, time.UnixMilli(at))
	if err != nil {
		return nil, fmt.Errorf("reading %s before %s: %w", selector, time.UnixMilli(at).UTC().Format(time.RFC3339), err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("reading %s: last_over_time answered %s, not a vector", selector, v.Type())
	}
	out := map[string]float64{}
	for _, s := range vec {
		if key := seriesKey(s.Metric); !math.IsNaN(float64(s.Value)) {
			if _, ok := want[key]; ok {
				out[key] = float64(s.Value)
			}
		}
	}
	return out, nil
}

// read calls fn with the samples of each series that selector selects in
// (from, to], fetched in chunks of chunk milliseconds with range selectors
// in instant queries (which return raw samples), in time order.
func (c counter) read(ctx context.Context, selector string, from, to, chunk int64, fn func(model.Metric, []model.SamplePair) error) error {
	for lo := from; lo < to; lo += chunk {
		hi := min(lo+chunk, to)
		v, err := c.q.Query(ctx, fmt.Sprintf("%s[%dms]", selector, hi-lo), time.UnixMilli(hi))
		if err != nil {
			return fmt.Errorf("reading %s in (%s, %s]: %w", selector, time.UnixMilli(lo).UTC().Format(time.RFC3339), time.UnixMilli(hi).UTC().Format(time.RFC3339), err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return fmt.Errorf("reading %s: a range selector answered %s, not a matrix", selector, v.Type())
		}
		for _, ss := range m {
			// Prometheus 2 includes a sample at the range's start,
			// Prometheus 3 does not: the previous chunk counted it.
			ps := ss.Values
			for len(ps) > 0 && int64(ps[0].Timestamp) <= lo {
				ps = ps[1:]
			}
			for len(ps) > 0 && int64(ps[len(ps)-1].Timestamp) > hi {
				ps = ps[:len(ps)-1]
			}
			if err := fn(ss.Metric, ps); err != nil {
				return err
			}
		}
	}
	return nil
}

// seriesKey identifies a series without its name, which last_over_time
// drops in Prometheus 2: a selector names one metric.
func seriesKey(m model.Metric) string {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		if k != model.MetricNameLabel {
			ls[k] = v
		}
	}
	return ls.String()
}
