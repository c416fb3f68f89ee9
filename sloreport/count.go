package sloreport

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/prometheus/common/model"

	"github.com/estatehq/estate/internal/promquery"
)

// counter counts the events of a counter selector exactly, from its raw
// samples, over several windows that end at the same time.
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
type counter struct {
	q promquery.Querier
	// chunk is the longest range fetched at once.
	chunk time.Duration
}

// increases are the events of selector in (starts[i], end] for every i.
// The samples are fetched in chunks of c.chunk from the earliest start,
// with a range selector (which returns raw samples), and each series'
// last sample before the earliest start is read with last_over_time over
// lookback: a series with no sample in that lookback is new, and its
// first sample counts from zero.
func (c counter) increases(ctx context.Context, selector string, starts []time.Time, end time.Time, lookback time.Duration) ([]float64, error) {
	earliest := slices.MinFunc(starts, func(a, b time.Time) int { return a.Compare(b) })
	out := make([]float64, len(starts))
	if !earliest.Before(end) {
		return out, nil
	}
	last := map[string]float64{}
	v, err := c.q.Query(ctx, fmt.Sprintf("last_over_time(%s[%s])", selector, promDuration(lookback)), earliest)
	if err != nil {
		return nil, fmt.Errorf("reading %s before %s: %w", selector, earliest.UTC().Format(time.RFC3339), err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("reading %s: last_over_time answered %s, not a vector", selector, v.Type())
	}
	for _, s := range vec {
		if !math.IsNaN(float64(s.Value)) {
			last[seriesKey(s.Metric)] = float64(s.Value)
		}
	}
	startsMs := make([]int64, len(starts))
	for i, s := range starts {
		startsMs[i] = s.UnixMilli()
	}
	for from := earliest; from.Before(end); from = from.Add(c.chunk) {
		to := from.Add(c.chunk)
		if to.After(end) {
			to = end
		}
		v, err := c.q.Query(ctx, fmt.Sprintf("%s[%s]", selector, promDuration(to.Sub(from))), to)
		if err != nil {
			return nil, fmt.Errorf("reading %s in (%s, %s]: %w", selector, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), err)
		}
		m, ok := v.(model.Matrix)
		if !ok {
			return nil, fmt.Errorf("reading %s: a range selector answered %s, not a matrix", selector, v.Type())
		}
		fromMs, toMs := from.UnixMilli(), to.UnixMilli()
		for _, ss := range m {
			key := seriesKey(ss.Metric)
			for _, p := range ss.Values {
				// Prometheus 2 includes a sample at the range's start,
				// Prometheus 3 does not: the previous chunk counted it.
				t, val := int64(p.Timestamp), float64(p.Value)
				if t <= fromMs || t > toMs || math.IsNaN(val) {
					continue
				}
				prev, seen := last[key]
				delta := val
				if seen && val >= prev {
					delta = val - prev
				}
				last[key] = val
				for i, s := range startsMs {
					if t > s {
						out[i] += delta
					}
				}
			}
		}
	}
	return out, nil
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

// promDuration writes d as a PromQL duration in milliseconds, exact for
// any d.
func promDuration(d time.Duration) string {
	return fmt.Sprintf("%dms", d.Milliseconds())
}
