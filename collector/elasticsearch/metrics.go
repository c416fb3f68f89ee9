package elasticsearch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/estatehq/estate/internal/delivery"
)

// metrics are the series every exporter keeps, under the names this one
// has always published, and its dead letters.
type metrics struct {
	*delivery.Metrics
	deadLetterFile          prometheus.Counter
	deadLetterIndexFailures prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	const sub = "elasticsearch_exporter"
	m := &metrics{
		deadLetterFile: delivery.Counter(sub, "dead_letter_records_total", "Records written to the dead-letter file."),
		deadLetterIndexFailures: delivery.Counter(sub, "dead_letter_index_failures_total",
			"Dead letters that could not be written to the dead-letter index (they are in the file)."),
	}
	var err error
	m.Metrics, err = delivery.NewMetrics(reg, delivery.MetricsOpts{
		Subsystem: sub,
		ItemsName: "items_total", ItemLabels: []string{"outcome"},
		ItemsHelp:    "Bulk items by outcome: created, duplicate (409 on create: delivered before), retry (429/5xx, sent again), dead_letter (refused for good).",
		Preset:       [][]string{{outcomeCreated}, {outcomeDuplicate}, {outcomeRetry}, {outcomeDeadLetter}},
		RequestsName: "bulk_requests_total", RequestsHelp: "_bulk requests by HTTP status, or error when no answer came.",
		DurationName: "bulk_request_duration_seconds", DurationHelp: "Duration of _bulk requests.",
		Buckets:     prometheus.ExponentialBuckets(0.005, 2, 12),
		RetriesName: "retry_rounds_total", RetriesHelp: "Rounds of resending throttled items after a backoff.",
		Extra: []prometheus.Collector{m.deadLetterFile, m.deadLetterIndexFailures},
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}
