package remotewrite

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/internal/delivery"
)

// OTLPSinkName is the cursor name in the queue of the OTLP metrics path.
const OTLPSinkName = "remote_write"

// OTLPSink forwards the OTLP metrics of the collector's queue to the
// receiver: a consumer of the queue with its own cursor (OTLPSinkName),
// which translates a batch as the embedded metrics store does (the same
// series, by Prometheus's own OTLP translator) and sends it as one write
// request.
type OTLPSink struct{ e *Exporter }

var _ collector.Sink = OTLPSink{}

// OTLPSink is the exporter's OTLP metrics path.
func (e *Exporter) OTLPSink() OTLPSink { return OTLPSink{e: e} }

// Name implements collector.Sink.
func (OTLPSink) Name() string { return OTLPSinkName }

// Deliver implements collector.Sink. Items of other signals are skipped;
// an undecodable item and a metric the translator refuses are counted and
// left out, the rest is sent. The receiver's refusal (a 4xx, such as
// Prometheus's answer to samples older than those it holds, after a
// replay) is a *delivery.PermanentError; 5xx and 429 are retried
// MaxAttempts times and then handed back, a *delivery.ThrottleError
// carrying the receiver's delay.
func (s OTLPSink) Deliver(ctx context.Context, items []collector.Item) error {
	e := s.e
	ctx, done, err := e.life.Begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	w := newWriteRequestAppender()
	for _, it := range items {
		if it.Signal != collector.SignalMetrics {
			continue
		}
		md, err := it.Metrics()
		if err != nil {
			e.metrics.otlpDropped.WithLabelValues("undecodable_record").Inc()
			e.log.Error("skipping undecodable metrics record", "seq", it.Seq, "err", err)
			continue
		}
		res, err := e.translator.Append(ctx, md, w)
		if err != nil {
			return &delivery.ShutdownError{Err: err}
		}
		if len(res.Refused) > 0 {
			e.metrics.otlpDropped.WithLabelValues("untranslatable").Add(float64(len(res.Refused)))
			e.log.Warn("OTLP metrics the Prometheus translator refused", "seq", it.Seq, "metrics", len(res.Refused), "err", errors.Join(res.Refused...))
		}
	}
	req := w.request()
	if len(req.Timeseries) == 0 {
		return nil
	}
	raw, err := req.Marshal()
	if err != nil {
		return &delivery.PermanentError{Err: fmt.Errorf("encoding write request: %w", err)}
	}
	body := snappy.Encode(nil, raw)
	if err := e.queueRetry.Do(ctx, func(ctx context.Context) error { return e.send(ctx, body) }); err != nil {
		return fmt.Errorf("forwarding OTLP metrics: %w", err)
	}
	e.metrics.Items.WithLabelValues().Add(float64(w.samples))
	return nil
}

// writeRequestAppender collects what the translator appends as the series
// of a remote_write request.
type writeRequestAppender struct {
	series   map[string]*prompb.TimeSeries
	order    []string
	families map[string]bool
	metadata []prompb.MetricMetadata
	samples  int
	buf      []byte
}

func newWriteRequestAppender() *writeRequestAppender {
	return &writeRequestAppender{series: map[string]*prompb.TimeSeries{}, families: map[string]bool{}}
}

var _ storage.AppenderV2 = (*writeRequestAppender)(nil)

// Append implements storage.AppenderV2.
func (w *writeRequestAppender) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AOptions) (storage.SeriesRef, error) {
	w.buf = ls.Bytes(w.buf[:0])
	key := string(w.buf)
	ts, ok := w.series[key]
	if !ok {
		ts = &prompb.TimeSeries{Labels: prompb.FromLabels(ls, nil)}
		w.series[key] = ts
		w.order = append(w.order, key)
	}
	switch {
	case fh != nil:
		ts.Histograms = append(ts.Histograms, prompb.FromFloatHistogram(t, fh))
	case h != nil:
		ts.Histograms = append(ts.Histograms, prompb.FromIntHistogram(t, h))
	default:
		ts.Samples = append(ts.Samples, prompb.Sample{Value: v, Timestamp: t})
	}
	w.samples++
	if name := opts.MetricFamilyName; name != "" && !w.families[name] {
		w.families[name] = true
		w.metadata = append(w.metadata, prompb.MetricMetadata{
			Type: prompb.FromMetadataType(opts.Metadata.Type), MetricFamilyName: name,
			Help: opts.Metadata.Help, Unit: opts.Metadata.Unit,
		})
	}
	return 0, nil
}

// Commit implements storage.AppenderV2; the request is sent by the sink.
func (*writeRequestAppender) Commit() error { return nil }

// Rollback implements storage.AppenderV2.
func (*writeRequestAppender) Rollback() error { return nil }

// request is the write request, each series' samples in time order as the
// protocol requires.
func (w *writeRequestAppender) request() *prompb.WriteRequest {
	req := &prompb.WriteRequest{Metadata: w.metadata}
	for _, key := range w.order {
		ts := w.series[key]
		slices.SortStableFunc(ts.Samples, func(a, b prompb.Sample) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
		slices.SortStableFunc(ts.Histograms, func(a, b prompb.Histogram) int { return cmp.Compare(a.Timestamp, b.Timestamp) })
		req.Timeseries = append(req.Timeseries, *ts)
	}
	return req
}
