package elasticsearch

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	items                   *prometheus.CounterVec
	requests                *prometheus.CounterVec
	duration                prometheus.Histogram
	retries                 prometheus.Counter
	deadLetterFile          prometheus.Counter
	deadLetterIndexFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const ns, sub = "estate", "elasticsearch_exporter"
	m := &metrics{
		items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "items_total",
			Help: "Bulk items by outcome: created, duplicate (409 on create: delivered before), retry (429/5xx, sent again), dead_letter (refused for good).",
		}, []string{"outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "bulk_requests_total",
			Help: "_bulk requests by HTTP status, or error when no answer came.",
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "bulk_request_duration_seconds",
			Help:    "Duration of _bulk requests.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "retry_rounds_total",
			Help: "Rounds of resending throttled items after a backoff.",
		}),
		deadLetterFile: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dead_letter_records_total",
			Help: "Records written to the dead-letter file.",
		}),
		deadLetterIndexFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "dead_letter_index_failures_total",
			Help: "Dead letters that could not be written to the dead-letter index (they are in the file).",
		}),
	}
	for _, c := range []prometheus.Collector{m.items, m.requests, m.duration, m.retries, m.deadLetterFile, m.deadLetterIndexFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering elasticsearch exporter metrics: %w", err)
		}
	}
	for _, o := range []string{outcomeCreated, outcomeDuplicate, outcomeRetry, outcomeDeadLetter} {
		m.items.WithLabelValues(o)
	}
	return m, nil
}
