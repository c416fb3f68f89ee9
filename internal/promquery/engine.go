package promquery

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
)

// Engine is the in-process backend: Prometheus's own PromQL engine over a
// Prometheus storage, such as the collector's embedded TSDB.
type Engine struct {
	engine promql.QueryEngine
	store  storage.Queryable
}

var _ Querier = (*Engine)(nil)

// NewEngine answers queries with engine over store.
func NewEngine(engine promql.QueryEngine, store storage.Queryable) *Engine {
	return &Engine{engine: engine, store: store}
}

// Query implements Querier.
func (e *Engine) Query(ctx context.Context, expr string, t time.Time) (model.Value, error) {
	q, err := e.engine.NewInstantQuery(ctx, e.store, nil, expr, t)
	if err != nil {
		return nil, constructionError(err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, engineError(res.Err)
	}
	return toModel(res.Value), nil
}

// QueryRange implements Querier.
func (e *Engine) QueryRange(ctx context.Context, expr string, r Range) (model.Matrix, error) {
	if r.Step <= 0 {
		return nil, &Error{Type: ErrBadData, Msg: "step must be positive"}
	}
	q, err := e.engine.NewRangeQuery(ctx, e.store, nil, expr, r.Start, r.End, r.Step)
	if err != nil {
		return nil, constructionError(err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, engineError(res.Err)
	}
	m, ok := toModel(res.Value).(model.Matrix)
	if !ok {
		return nil, &Error{Type: ErrBadData, Msg: "a range query needs an expression of scalar or instant-vector type"}
	}
	return m, nil
}

// constructionError classifies the errors of a query that could not be
// built as Prometheus's API does: the query is bad data (it does not parse,
// or a range query's expression is a range vector), unless building it
// timed out or was canceled.
func constructionError(err error) error {
	var (
		timeout  promql.ErrQueryTimeout
		canceled promql.ErrQueryCanceled
	)
	if errors.As(err, &timeout) || errors.As(err, &canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return engineError(err)
	}
	return &Error{Type: ErrBadData, Msg: err.Error(), Err: err}
}

// engineError classifies the engine's errors as Prometheus's API does.
func engineError(err error) error {
	var (
		parseErrs parser.ParseErrors
		parseErr  *parser.ParseErr
		timeout   promql.ErrQueryTimeout
		canceled  promql.ErrQueryCanceled
		storage   promql.ErrStorage
	)
	switch {
	case errors.As(err, &parseErrs), errors.As(err, &parseErr):
		return &Error{Type: ErrBadData, Msg: err.Error(), Err: err}
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &Error{Type: ErrTimeout, Msg: err.Error(), Err: err}
	case errors.As(err, &canceled), errors.Is(err, context.Canceled):
		return &Error{Type: ErrCanceled, Msg: err.Error(), Err: err}
	case errors.As(err, &storage):
		return &Error{Type: ErrInternal, Msg: err.Error(), Err: err}
	}
	return &Error{Type: ErrExecution, Msg: err.Error(), Err: err}
}

// toModel converts an engine result into the types of Prometheus's API
// client, which the HTTP backend returns too.
func toModel(v parser.Value) model.Value {
	switch v := v.(type) {
	case promql.Vector:
		out := make(model.Vector, 0, len(v))
		for _, s := range v {
			out = append(out, &model.Sample{
				Metric: metric(s.Metric), Timestamp: model.Time(s.T), Value: model.SampleValue(s.F), Histogram: sampleHistogram(s.H),
			})
		}
		return out
	case promql.Matrix:
		out := make(model.Matrix, 0, len(v))
		for _, s := range v {
			ss := &model.SampleStream{Metric: metric(s.Metric)}
			for _, p := range s.Floats {
				ss.Values = append(ss.Values, model.SamplePair{Timestamp: model.Time(p.T), Value: model.SampleValue(p.F)})
			}
			for _, p := range s.Histograms {
				ss.Histograms = append(ss.Histograms, model.SampleHistogramPair{Timestamp: model.Time(p.T), Histogram: sampleHistogram(p.H)})
			}
			out = append(out, ss)
		}
		return out
	case promql.Scalar:
		return &model.Scalar{Timestamp: model.Time(v.T), Value: model.SampleValue(v.V)}
	case promql.String:
		return &model.String{Timestamp: model.Time(v.T), Value: v.V}
	}
	return nil
}

func metric(ls labels.Labels) model.Metric {
	m := make(model.Metric, ls.Len())
	ls.Range(func(l labels.Label) { m[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return m
}

// sampleHistogram converts a native histogram with the bucket boundary
// codes of Prometheus's API: 0 (a, b], 1 [a, b), 2 (a, b), 3 [a, b].
func sampleHistogram(h *histogram.FloatHistogram) *model.SampleHistogram {
	if h == nil {
		return nil
	}
	out := &model.SampleHistogram{Count: model.FloatString(h.Count), Sum: model.FloatString(h.Sum)}
	for it := h.AllBucketIterator(); it.Next(); {
		b := it.At()
		if b.Count == 0 {
			continue
		}
		var bounds int32 = 2
		switch {
		case b.LowerInclusive && b.UpperInclusive:
			bounds = 3
		case b.LowerInclusive:
			bounds = 1
		case b.UpperInclusive:
			bounds = 0
		}
		out.Buckets = append(out.Buckets, &model.HistogramBucket{
			Boundaries: bounds, Lower: model.FloatString(b.Lower), Upper: model.FloatString(b.Upper), Count: model.FloatString(b.Count),
		})
	}
	return out
}
