// Package otlpmetrics keeps the OTLP metrics the collector receives: a
// consumer of the queue, with its own cursor, that translates them with
// Prometheus's own OTLP translator (collector/internal/promotlp) and
// appends them to the embedded metrics store.
//
// The queue replays what a crash left undelivered, so a batch may come
// twice. The store ignores an exact copy of a series' newest sample, and
// refuses a sample at or before the newest time it holds of the series:
// such a refusal means the sample is there already, and it is counted as a
// duplicate, not as a failure. Any other
// sample the store refuses (too old for it, a series beyond its bound) is
// counted and the rest of the batch is kept; so is a metric the translator
// cannot take, and a queue record that cannot be decoded.
package otlpmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/internal/promotlp"
)

// DefaultSinkName is the consumer's cursor name in the queue.
const DefaultSinkName = "metrics"

// Options are the sink's dependencies.
type Options struct {
	// Translation is how OTLP metrics become series.
	Translation promotlp.Config
	// Appendable is the store; required.
	Appendable storage.AppendableV2
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Sink appends the OTLP metrics of the queue to a Prometheus store.
type Sink struct {
	store      storage.AppendableV2
	translator *promotlp.Translator
	logger     *slog.Logger
	samples    *prometheus.CounterVec
	dropped    *prometheus.CounterVec
}

var _ collector.Sink = (*Sink)(nil)

// New builds the sink.
func New(opts Options) (*Sink, error) {
	if opts.Appendable == nil {
		return nil, errors.New("otlpmetrics: Options.Appendable is required")
	}
	if err := opts.Translation.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s := &Sink{
		store:      opts.Appendable,
		translator: promotlp.New(opts.Translation),
		logger:     opts.Logger,
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_metrics_samples_total",
			Help: "Samples of OTLP metrics handed to the embedded metrics store, by outcome: appended (an exact copy of a series' newest sample is taken and ignored), duplicate (the store holds one at that time or later: a replay), refused (the store will not take it).",
		}, []string{"outcome"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_metrics_dropped_total",
			Help: "OTLP metrics not kept, by reason: undecodable_record (a queue record), untranslatable (a metric the Prometheus translator refused, such as a delta sum).",
		}, []string{"reason"}),
	}
	for _, o := range []string{outcomeAppended, outcomeDuplicate, outcomeRefused} {
		s.samples.WithLabelValues(o)
	}
	for _, r := range []string{reasonUndecodable, reasonUntranslatable} {
		s.dropped.WithLabelValues(r)
	}
	if err := errors.Join(opts.Registerer.Register(s.samples), opts.Registerer.Register(s.dropped)); err != nil {
		return nil, fmt.Errorf("registering OTLP metrics series: %w", err)
	}
	return s, nil
}

const (
	outcomeAppended      = "appended"
	outcomeDuplicate     = "duplicate"
	outcomeRefused       = "refused"
	reasonUndecodable    = "undecodable_record"
	reasonUntranslatable = "untranslatable"
)

// Name implements collector.Sink.
func (s *Sink) Name() string { return DefaultSinkName }

// Deliver implements collector.Sink: it appends the metrics of every item
// in one transaction and commits it. Items of other signals are skipped.
// An error means nothing of the batch was committed; it is the store's
// (retried), or ctx's when it ended (a *delivery.ShutdownError is not
// needed: the delivery loop stops on ctx).
func (s *Sink) Deliver(ctx context.Context, items []collector.Item) error {
	app := &classifier{AppenderV2: s.store.AppenderV2(ctx)}
	for _, it := range items {
		if it.Signal != collector.SignalMetrics {
			continue
		}
		md, err := it.Metrics()
		if err != nil {
			s.dropped.WithLabelValues(reasonUndecodable).Inc()
			s.logger.Error("skipping undecodable metrics record", "seq", it.Seq, "err", err)
			continue
		}
		res, err := s.translator.Append(ctx, md, app)
		if err != nil {
			return errors.Join(err, app.Rollback())
		}
		if len(res.Refused) > 0 {
			s.dropped.WithLabelValues(reasonUntranslatable).Add(float64(len(res.Refused)))
			s.logger.Warn("OTLP metrics the Prometheus translator refused", "seq", it.Seq, "metrics", len(res.Refused), "err", errors.Join(res.Refused...))
		}
		if len(res.Warnings) > 0 {
			s.logger.Debug("translating OTLP metrics", "seq", it.Seq, "warnings", res.Warnings)
		}
	}
	if err := app.Commit(); err != nil {
		return fmt.Errorf("committing OTLP metrics to the metrics store: %w", err)
	}
	s.samples.WithLabelValues(outcomeAppended).Add(float64(app.appended))
	s.samples.WithLabelValues(outcomeDuplicate).Add(float64(app.duplicates))
	s.samples.WithLabelValues(outcomeRefused).Add(float64(app.refused))
	if app.refused > 0 {
		s.logger.Warn("the metrics store refused samples of OTLP metrics", "refused", app.refused, "first_err", app.firstErr)
	}
	return nil
}

// classifier takes the store's refusal of one sample out of the
// translator's way, so that the rest of a metric is appended, and counts
// it: a sample at a time the store holds, or before the newest it holds,
// is a duplicate; anything else is refused.
type classifier struct {
	storage.AppenderV2
	appended, duplicates, refused int
	firstErr                      error
}

func (c *classifier) Append(ref storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AOptions) (storage.SeriesRef, error) {
	ref, err := c.AppenderV2.Append(ref, ls, st, t, v, h, fh, opts)
	var partial *storage.AppendPartialError
	switch {
	case err == nil, errors.As(err, &partial):
		// A partial error is about exemplars: the sample is in.
		c.appended++
		return ref, nil
	case errors.Is(err, storage.ErrDuplicateSampleForTimestamp), errors.Is(err, storage.ErrOutOfOrderSample):
		c.duplicates++
	default:
		c.refused++
		if c.firstErr == nil {
			c.firstErr = fmt.Errorf("%s: %w", ls.Get(model.MetricNameLabel), err)
		}
	}
	return 0, nil
}
