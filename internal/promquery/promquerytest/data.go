// Package promquerytest is the one test suite of the PromQL query
// interface: a set of synthetic series, the PromQL questions asked of them,
// and what runs them against every backend (the embedded store in process
// and through its HTTP API, a real Prometheus loaded with the same series
// by promtool) so that every backend is held to the same numbers.
package promquerytest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// The synthetic series run from Start for Span, one sample every Interval.
var Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	Interval = 15 * time.Second
	Span     = 2 * time.Hour
	// samples is the number of samples in a series that spans Span.
	samples = int(Span / Interval)
	// resetAt is the sample at which the counters of instance b restart
	// from zero (Start+60m), as a process restart makes them.
	resetAt = 240
	// gapAfter is the sample after which temperature stops (Start+30m).
	gapAfter = 120
)

// Series is one synthetic series.
type Series struct {
	// Family and Type are its OpenMetrics metric family and type (counter,
	// gauge, histogram); Name is the metric name of its samples.
	Family, Type, Name string
	Labels             map[string]string
	Points             []Point
}

// Point is one sample.
type Point struct {
	T time.Time
	V float64
}

// At is the value of the series' newest sample at or before t, and
// whether there is one.
func (s Series) At(t time.Time) (float64, bool) {
	v, ok := 0.0, false
	for _, p := range s.Points {
		if p.T.After(t) {
			break
		}
		v, ok = p.V, true
	}
	return v, ok
}

// labelSet is the series' labels with its name, as the TSDB keeps them.
func (s Series) labelSet() labels.Labels {
	m := maps.Clone(s.Labels)
	m[model.MetricNameLabel] = s.Name
	return labels.FromMap(m)
}

// Data are the synthetic series: counters of HTTP requests on two
// instances (b's restart from zero at Start+60m), a classic histogram of
// their durations, a gauge, and a gauge that stops at Start+30m. Every
// value is a float64 that prints and parses back exactly.
func Data() []Series {
	var out []Series
	counter := func(instance, code string, inc func(i int) float64, reset bool) {
		s := Series{Family: "http_requests", Type: "counter", Name: "http_requests_total",
			Labels: map[string]string{"job": "api", "instance": instance, "code": code}}
		v := 0.0
		for i := range samples {
			if reset && i == resetAt {
				v = 0
			}
			v += inc(i)
			s.Points = append(s.Points, Point{T: at(i), V: v})
		}
		out = append(out, s)
	}
	counter("a", "200", func(i int) float64 { return float64(3 + i*7%5) }, false)
	counter("a", "500", func(i int) float64 { return b2f(i%9 == 0) }, false)
	counter("b", "200", func(i int) float64 { return float64(2 + i%3) }, true)
	counter("b", "500", func(i int) float64 { return b2f(i%4 == 0) }, true)

	// Each interval observes a few durations in each bucket; the bounds
	// are written as Prometheus's client libraries write them.
	bounds := []string{"0.05", "0.1", "0.25", "0.5", "1", "+Inf"}
	perBucket := func(i int) []float64 {
		return []float64{float64(i % 3), 2, float64(3 + i%2), 2, 1 + b2f(i%10 == 0), b2f(i%20 == 0)}
	}
	mids := []float64{0.03, 0.07, 0.2, 0.4, 0.8, 2}
	hist := map[string]*Series{}
	histogram := func(name, le string) *Series {
		s := &Series{Family: "http_request_duration_seconds", Type: "histogram", Name: name,
			Labels: map[string]string{"job": "api", "instance": "a"}}
		if le != "" {
			s.Labels["le"] = le
		}
		hist[name+le] = s
		return s
	}
	for _, le := range bounds {
		histogram("http_request_duration_seconds_bucket", le)
	}
	count, sum := histogram("http_request_duration_seconds_count", ""), histogram("http_request_duration_seconds_sum", "")
	cum := make([]float64, len(bounds))
	var total, seconds float64
	for i := range samples {
		below := 0.0
		for b, n := range perBucket(i) {
			below += n
			cum[b] += below
			total += n
			seconds += n * mids[b]
		}
		for b, le := range bounds {
			s := hist["http_request_duration_seconds_bucket"+le]
			s.Points = append(s.Points, Point{T: at(i), V: cum[b]})
		}
		count.Points = append(count.Points, Point{T: at(i), V: total})
		// Rounded to the microsecond so that the text form is exact.
		sum.Points = append(sum.Points, Point{T: at(i), V: float64(int64(seconds*1e6+0.5)) / 1e6})
	}
	for _, le := range bounds {
		out = append(out, *hist["http_request_duration_seconds_bucket"+le])
	}
	out = append(out, *count, *sum)

	depth := Series{Family: "queue_depth", Type: "gauge", Name: "queue_depth", Labels: map[string]string{"job": "worker"}}
	temp := Series{Family: "temperature_celsius", Type: "gauge", Name: "temperature_celsius", Labels: map[string]string{"job": "sensor", "room": "lab"}}
	for i := range samples {
		depth.Points = append(depth.Points, Point{T: at(i), V: float64(i * 13 % 50)})
		if i < gapAfter {
			temp.Points = append(temp.Points, Point{T: at(i), V: 20 + float64(i%8)*0.5})
		}
	}
	return append(out, depth, temp)
}

func at(i int) time.Time { return Start.Add(time.Duration(i) * Interval) }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Append appends the series to a Prometheus storage, as a feed would, in
// one commit.
func Append(ctx context.Context, st storage.Appendable, data []Series) error {
	app := st.Appender(ctx)
	for _, s := range data {
		ls := s.labelSet()
		var ref storage.SeriesRef
		for _, p := range s.Points {
			var err error
			if ref, err = app.Append(ref, ls, p.T.UnixMilli(), p.V); err != nil {
				return errors.Join(fmt.Errorf("appending %s: %w", ls, err), app.Rollback())
			}
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("committing: %w", err)
	}
	return nil
}

// WriteOpenMetrics writes the series as OpenMetrics text with timestamps,
// the input of `promtool tsdb create-blocks-from openmetrics`. A family's
// samples are written together, a histogram's point by point (buckets,
// count, sum at each time), as the format requires.
func WriteOpenMetrics(w io.Writer, data []Series) error {
	bw := bufio.NewWriter(w)
	var families []string
	byFamily := map[string][]Series{}
	for _, s := range data {
		if _, ok := byFamily[s.Family]; !ok {
			families = append(families, s.Family)
		}
		byFamily[s.Family] = append(byFamily[s.Family], s)
	}
	for _, f := range families {
		ss := byFamily[f]
		fmt.Fprintf(bw, "# TYPE %s %s\n", f, ss[0].Type)
		if ss[0].Type != "histogram" {
			for _, s := range ss {
				for _, p := range s.Points {
					writeSample(bw, s, p)
				}
			}
			continue
		}
		// The synthetic histogram is one series of points: interleave.
		for i := range ss[0].Points {
			for _, s := range ss {
				writeSample(bw, s, s.Points[i])
			}
		}
	}
	fmt.Fprintln(bw, "# EOF")
	return bw.Flush()
}

func writeSample(w io.Writer, s Series, p Point) {
	names := slices.Sorted(maps.Keys(s.Labels))
	fmt.Fprint(w, s.Name, "{")
	for i, n := range names {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, "%s=%q", n, s.Labels[n])
	}
	fmt.Fprintf(w, "} %s %d\n", strconv.FormatFloat(p.V, 'g', -1, 64), p.T.Unix())
}
