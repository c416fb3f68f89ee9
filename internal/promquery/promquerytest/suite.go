package promquerytest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
)

// At is when most questions are asked: 90 minutes into the series, seven
// seconds after a sample. Every time the suite evaluates at is seven
// seconds past a sample, so that no range's start falls on a sample:
// Prometheus 3 leaves a range open at its start, (t-r, t], where 2.x
// closed it, [t-r, t], and the suite asks what both must answer alike.
var At = Start.Add(90*time.Minute + 7*time.Second)

// Case is one PromQL question.
type Case struct {
	Name  string
	Query string
	// At is the time of an instant query; Range, when set, makes it a range
	// query.
	At    time.Time
	Range *promquery.Range
	// Want, when set, is the answer every backend must give (the others are
	// held to the first backend's); WantErr the error type it must fail
	// with.
	Want    model.Value
	WantErr promquery.ErrorType
}

// Cases are the questions of the suite, with the answers worked out from
// Data where that is plain arithmetic.
func Cases() []Case {
	data := Data()
	find := func(name string, match map[string]string) []Series {
		var out []Series
		for _, s := range data {
			if s.Name != name {
				continue
			}
			ok := true
			for k, v := range match {
				ok = ok && s.Labels[k] == v
			}
			if ok {
				out = append(out, s)
			}
		}
		return out
	}
	requests := find("http_requests_total", nil)
	// instant is the vector of the series' values at t (or at t-offset),
	// stamped t.
	instant := func(ss []Series, t time.Time, offset time.Duration) model.Vector {
		out := model.Vector{}
		for _, s := range ss {
			if v, ok := s.At(t.Add(-offset)); ok {
				out = append(out, &model.Sample{Metric: metric(s), Value: model.SampleValue(v), Timestamp: model.TimeFromUnixNano(t.UnixNano())})
			}
		}
		return out
	}
	return []Case{
		{Name: "instant vector", Query: `http_requests_total`, At: At, Want: instant(requests, At, 0)},
		{Name: "label matchers", Query: `http_requests_total{code=~"5..",instance!="b"}`, At: At,
			Want: instant(find("http_requests_total", map[string]string{"code": "500", "instance": "a"}), At, 0)},
		{Name: "range selector gives raw samples", Query: `http_requests_total{instance="a",code="200"}[1m]`, At: At,
			Want: raw(find("http_requests_total", map[string]string{"instance": "a", "code": "200"}), At.Add(-time.Minute), At)},
		{Name: "rate", Query: `rate(http_requests_total[5m])`, At: At},
		{Name: "irate", Query: `irate(http_requests_total{instance="b"}[1m])`, At: At},
		{Name: "increase across a counter reset", Query: `increase(http_requests_total{instance="b"}[10m])`, At: Start.Add(62*time.Minute + 7*time.Second)},
		{Name: "resets", Query: `resets(http_requests_total[30m])`, At: Start.Add(75*time.Minute + 7*time.Second),
			Want: model.Vector{
				sample(model.Metric{"job": "api", "instance": "a", "code": "200"}, 0, Start.Add(75*time.Minute+7*time.Second)),
				sample(model.Metric{"job": "api", "instance": "a", "code": "500"}, 0, Start.Add(75*time.Minute+7*time.Second)),
				sample(model.Metric{"job": "api", "instance": "b", "code": "200"}, 1, Start.Add(75*time.Minute+7*time.Second)),
				sample(model.Metric{"job": "api", "instance": "b", "code": "500"}, 1, Start.Add(75*time.Minute+7*time.Second)),
			}},
		{Name: "sum by", Query: `sum by (code) (rate(http_requests_total[5m]))`, At: At},
		{Name: "error ratio", Query: `sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))`, At: At},
		{Name: "one-to-one matching", Query: `sum by (instance) (rate(http_requests_total{code="500"}[5m])) / on (instance) sum by (instance) (rate(http_requests_total[5m]))`, At: At},
		{Name: "count by", Query: `count by (instance) (http_requests_total)`, At: At,
			Want: model.Vector{sample(model.Metric{"instance": "a"}, 2, At), sample(model.Metric{"instance": "b"}, 2, At)}},
		{Name: "histogram_quantile p90 over classic buckets", Query: `histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))`, At: At},
		{Name: "histogram_quantile p50 by instance", Query: `histogram_quantile(0.5, sum by (instance, le) (rate(http_request_duration_seconds_bucket[10m])))`, At: At},
		{Name: "mean from sum and count", Query: `rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])`, At: At},
		{Name: "absent of a missing series", Query: `absent(nonexistent_total{job="x"})`, At: At,
			Want: model.Vector{sample(model.Metric{"job": "x"}, 1, At)}},
		{Name: "absent of a present series", Query: `absent(http_requests_total)`, At: At, Want: model.Vector{}},
		{Name: "stopped series within the lookback", Query: `temperature_celsius`, At: Start.Add(33*time.Minute + 7*time.Second),
			Want: instant(find("temperature_celsius", nil), Start.Add(33*time.Minute+7*time.Second), 0)},
		{Name: "stopped series after the lookback", Query: `temperature_celsius`, At: Start.Add(40*time.Minute + 7*time.Second), Want: model.Vector{}},
		{Name: "offset", Query: `http_requests_total{instance="a"} offset 30m`, At: At,
			Want: instant(find("http_requests_total", map[string]string{"instance": "a"}), At, 30*time.Minute)},
		{Name: "rate with offset", Query: `rate(http_requests_total[5m] offset 1h)`, At: At},
		{Name: "at modifier", Query: fmt.Sprintf(`queue_depth @ %d`, Start.Add(time.Hour).Unix()), At: At,
			Want: model.Vector{sample(model.Metric{"__name__": "queue_depth", "job": "worker"}, model.SampleValue(240*13%50), At)}},
		// A subquery evaluates at multiples of its step: the inner range is
		// 70 s so that its start, at :50 past a minute, is never a sample.
		{Name: "subquery", Query: `max_over_time(rate(http_requests_total{code="200"}[70s])[10m:1m])`, At: At},
		{Name: "subquery with the default step", Query: `avg_over_time(queue_depth[15m:])`, At: At},
		{Name: "quantile_over_time", Query: `quantile_over_time(0.5, queue_depth[10m])`, At: At},
		{Name: "changes and delta", Query: `changes(queue_depth[5m]) + delta(queue_depth[10m])`, At: At},
		{Name: "label_replace", Query: `label_replace(queue_depth, "team", "ops-$1", "job", "(.*)")`, At: At,
			Want: model.Vector{sample(model.Metric{"__name__": "queue_depth", "job": "worker", "team": "ops-worker"}, model.SampleValue(360*13%50), At)}},
		{Name: "scalar", Query: `scalar(sum(queue_depth)) * 2`, At: At,
			Want: &model.Scalar{Value: model.SampleValue(2 * (360 * 13 % 50)), Timestamp: model.TimeFromUnixNano(At.UnixNano())}},
		{Name: "range query across the reset", Query: `sum by (instance) (rate(http_requests_total[5m]))`,
			Range: &promquery.Range{Start: Start.Add(30*time.Minute + 7*time.Second), End: At, Step: 5 * time.Minute}},
		{Name: "range query of a counter", Query: `http_requests_total{instance="b",code="500"}`,
			Range: &promquery.Range{Start: Start.Add(50*time.Minute + 7*time.Second), End: Start.Add(70*time.Minute + 7*time.Second), Step: 2 * time.Minute},
			Want:  stepped(find("http_requests_total", map[string]string{"instance": "b", "code": "500"}), Start.Add(50*time.Minute+7*time.Second), Start.Add(70*time.Minute+7*time.Second), 2*time.Minute)},
		{Name: "range query of a series that stops", Query: `temperature_celsius`,
			Range: &promquery.Range{Start: Start.Add(7 * time.Second), End: Start.Add(60*time.Minute + 7*time.Second), Step: time.Minute},
			Want:  stepped(find("temperature_celsius", nil), Start.Add(7*time.Second), Start.Add(60*time.Minute+7*time.Second), time.Minute)},
		{Name: "parse error", Query: `sum(rate(http_requests_total[5m])`, At: At, WantErr: promquery.ErrBadData},
		{Name: "unknown function", Query: `no_such_function(http_requests_total)`, At: At, WantErr: promquery.ErrBadData},
		{Name: "many-to-many matching", Query: `http_requests_total + on (job) http_requests_total`, At: At, WantErr: promquery.ErrExecution},
		{Name: "range query of a range vector", Query: `http_requests_total[5m]`,
			Range: &promquery.Range{Start: Start.Add(30 * time.Minute), End: At, Step: time.Minute}, WantErr: promquery.ErrBadData},
	}
}

// lookback is Prometheus's default: how far back an instant selector finds
// a sample.
const lookback = 5 * time.Minute

// stepped is what a range query of a plain selector answers: at each step,
// the newest sample within the lookback, with the series' name.
func stepped(ss []Series, start, end time.Time, step time.Duration) model.Matrix {
	out := model.Matrix{}
	for _, s := range ss {
		stream := &model.SampleStream{Metric: metric(s)}
		for t := start; !t.After(end); t = t.Add(step) {
			for i := len(s.Points) - 1; i >= 0; i-- {
				p := s.Points[i]
				if !p.T.After(t) {
					if t.Sub(p.T) < lookback {
						stream.Values = append(stream.Values, model.SamplePair{Timestamp: model.TimeFromUnixNano(t.UnixNano()), Value: model.SampleValue(p.V)})
					}
					break
				}
			}
		}
		if len(stream.Values) > 0 {
			out = append(out, stream)
		}
	}
	return out
}

// raw is what a range selector answers: the samples in (from, to].
func raw(ss []Series, from, to time.Time) model.Matrix {
	out := model.Matrix{}
	for _, s := range ss {
		stream := &model.SampleStream{Metric: metric(s)}
		for _, p := range s.Points {
			if p.T.After(from) && !p.T.After(to) {
				stream.Values = append(stream.Values, model.SamplePair{Timestamp: model.TimeFromUnixNano(p.T.UnixNano()), Value: model.SampleValue(p.V)})
			}
		}
		out = append(out, stream)
	}
	return out
}

// metric is the series' labels with its name.
func metric(s Series) model.Metric {
	m := model.Metric{model.MetricNameLabel: model.LabelValue(s.Name)}
	for k, v := range s.Labels {
		m[model.LabelName(k)] = model.LabelValue(v)
	}
	return m
}

func sample(m model.Metric, v model.SampleValue, t time.Time) *model.Sample {
	return &model.Sample{Metric: m, Value: v, Timestamp: model.TimeFromUnixNano(t.UnixNano())}
}

// Backend is a query backend under test.
type Backend struct {
	Name    string
	Querier promquery.Querier
}

// Run asks every case of every backend, each loaded with Data. Every
// answer must equal the first backend's, and the case's Want or WantErr
// when it has one.
func Run(t *testing.T, backends ...Backend) {
	t.Helper()
	require.NotEmpty(t, backends)
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			var ref answer
			for i, b := range backends {
				got := ask(ctx, b.Querier, c)
				if c.WantErr != "" {
					require.Equal(t, c.WantErr, got.err, "%s: error type of %q (answer %s)", b.Name, c.Query, got)
				} else {
					require.Empty(t, got.err, "%s: %q failed: %s", b.Name, c.Query, got.msg)
				}
				if c.Want != nil {
					require.NoError(t, got.equal(canonical(c.Want)), "%s: %q\n got %s\nwant %s", b.Name, c.Query, got, canonical(c.Want))
				}
				if i == 0 {
					// A question that answers nothing everywhere proves
					// nothing: only those with a Want may.
					require.True(t, c.Want != nil || c.WantErr != "" || len(got.series) > 0, "%s: %q answers nothing", b.Name, c.Query)
					ref = got
					continue
				}
				require.NoError(t, got.equal(ref), "%s answers %q unlike %s\n%s: %s\n%s: %s", b.Name, c.Query, backends[0].Name, b.Name, got, backends[0].Name, ref)
			}
		})
	}
}

func ask(ctx context.Context, q promquery.Querier, c Case) answer {
	var (
		v   model.Value
		err error
	)
	if c.Range != nil {
		var m model.Matrix
		m, err = q.QueryRange(ctx, c.Query, *c.Range)
		v = m
	} else {
		v, err = q.Query(ctx, c.Query, c.At)
	}
	if err != nil {
		var qe *promquery.Error
		if errors.As(err, &qe) {
			return answer{err: qe.Type, msg: qe.Msg}
		}
		return answer{err: "untyped", msg: err.Error()}
	}
	return canonical(v)
}

// answer is a result in a form that compares: its type, and its series
// sorted by their labels (a scalar is one series with no labels).
type answer struct {
	typ    model.ValueType
	series []stream
	err    promquery.ErrorType
	msg    string
}

type stream struct {
	metric string
	points []model.SamplePair
}

func canonical(v model.Value) answer {
	a := answer{typ: v.Type()}
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			a.series = append(a.series, stream{metric: s.Metric.String(), points: []model.SamplePair{{Timestamp: s.Timestamp, Value: s.Value}}})
		}
	case model.Matrix:
		for _, s := range v {
			a.series = append(a.series, stream{metric: s.Metric.String(), points: s.Values})
		}
	case *model.Scalar:
		a.series = []stream{{points: []model.SamplePair{{Timestamp: v.Timestamp, Value: v.Value}}}}
	case *model.String:
		a.series = []stream{{metric: v.Value, points: []model.SamplePair{{Timestamp: v.Timestamp}}}}
	}
	slices.SortFunc(a.series, func(x, y stream) int { return strings.Compare(x.metric, y.metric) })
	return a
}

func (a answer) String() string {
	if a.err != "" {
		return fmt.Sprintf("error %s: %s", a.err, a.msg)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:", a.typ)
	for _, s := range a.series {
		fmt.Fprintf(&b, "\n  %s %v", s.metric, s.points)
	}
	return b.String()
}

// equal says how a differs from b. Values agree to 1e-9 of their size:
// Prometheus 3 sums with Kahan compensation where 2.x added plainly, which
// may change the last bits.
func (a answer) equal(b answer) error {
	if a.err != "" || b.err != "" {
		if a.err != b.err {
			return fmt.Errorf("error %q, not %q", a.err, b.err)
		}
		return nil
	}
	if a.typ != b.typ {
		return fmt.Errorf("a %s, not a %s", a.typ, b.typ)
	}
	if len(a.series) != len(b.series) {
		return fmt.Errorf("%d series, not %d", len(a.series), len(b.series))
	}
	for i, s := range a.series {
		o := b.series[i]
		if s.metric != o.metric {
			return fmt.Errorf("series %s, not %s", s.metric, o.metric)
		}
		if len(s.points) != len(o.points) {
			return fmt.Errorf("%s: %d points, not %d", s.metric, len(s.points), len(o.points))
		}
		for j, p := range s.points {
			q := o.points[j]
			if p.Timestamp != q.Timestamp || !near(float64(p.Value), float64(q.Value)) {
				return fmt.Errorf("%s: point %v, not %v", s.metric, p, q)
			}
		}
	}
	return nil
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}
