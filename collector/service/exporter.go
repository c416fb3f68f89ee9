package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/collector"
	"github.com/estatehq/estate/collector/internal/walqueue"
	"github.com/estatehq/estate/internal/delivery"
)

type exportMetrics struct {
	items    *prometheus.CounterVec
	retries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newExportMetrics(reg prometheus.Registerer) *exportMetrics {
	m := &exportMetrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_export_records_total",
			Help: "Queue records handed to a sink, by outcome (delivered, failed_permanent, undecodable).",
		}, []string{"sink", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "estate_collector_export_retries_total",
			Help: "Deliveries retried after a transient or throttle error.",
		}, []string{"sink"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "estate_collector_export_duration_seconds",
			Help:    "Latency of one delivery to a sink.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"sink"}),
	}
	reg.MustRegister(m.items, m.retries, m.duration)
	return m
}

// exporter moves records from the queue to one sink, and moves the sink's
// cursor only past what the sink holds.
type exporter struct {
	name   string
	sink   collector.Sink
	reader *walqueue.Reader
	cfg    ExportConfig
	logger *slog.Logger
	m      *exportMetrics
}

func (e *exporter) run(ctx context.Context) {
	for {
		recs, err := e.reader.Next(ctx, e.cfg.BatchRecords, e.cfg.BatchBytes)
		if err != nil {
			if errors.Is(err, walqueue.ErrClosed) || ctx.Err() != nil {
				return
			}
			e.logger.Error("reading the queue", "err", err)
			if delivery.Sleep(ctx, e.cfg.MaxBackoff) != nil {
				return
			}
			e.reader.Rewind()
			continue
		}
		items := make([]collector.Item, 0, len(recs))
		for _, rec := range recs {
			sig, payload, err := collector.DecodeRecord(rec.Data)
			if err != nil {
				e.m.items.WithLabelValues(e.name, "undecodable").Inc()
				e.logger.Error("skipping undecodable queue record", "seq", rec.Seq, "err", err)
				continue
			}
			items = append(items, collector.Item{Seq: rec.Seq, Time: rec.Time, Signal: sig, Payload: payload})
		}
		if len(items) > 0 && !e.deliver(ctx, items) {
			return
		}
		if err := e.reader.Commit(recs[len(recs)-1]); err != nil {
			// The records are delivered; a cursor not saved means a replay,
			// which the sink absorbs.
			e.logger.Error("saving the sink's cursor", "err", err)
		}
	}
}

// deliver retries until the sink holds the batch, the error is permanent,
// or ctx ends (false: stop without committing). The sink's own delay, when
// it names one, replaces the backoff without advancing it.
func (e *exporter) deliver(ctx context.Context, items []collector.Item) bool {
	backoff := delivery.Backoff{Initial: e.cfg.InitialBackoff, Max: e.cfg.MaxBackoff}
	backedOff := 0
	for {
		start := time.Now()
		err := e.sink.Deliver(ctx, items)
		e.m.duration.WithLabelValues(e.name).Observe(time.Since(start).Seconds())
		switch {
		case err == nil:
			e.m.items.WithLabelValues(e.name, "delivered").Add(float64(len(items)))
			return true
		case ctx.Err() != nil || delivery.IsShutdown(err):
			return false
		case delivery.IsPermanent(err):
			e.m.items.WithLabelValues(e.name, "failed_permanent").Add(float64(len(items)))
			e.logger.Error("sink refused a batch for good; passing it", "records", len(items),
				"first_seq", items[0].Seq, "err", err)
			return true
		}
		delay, named := delivery.RetryAfter(err)
		if !named || delay <= 0 {
			backedOff++
			delay = backoff.Delay(backedOff)
		}
		e.m.retries.WithLabelValues(e.name).Inc()
		e.logger.Warn("delivery failed; retrying", "records", len(items), "retry_in", delay, "err", err)
		if delivery.Sleep(ctx, delay) != nil {
			return false
		}
	}
}
