package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// collector is the collector's own health: what it takes in and hands
// on, its durable queue, what it retries, refuses, dead-letters and
// quarantines, its metrics store and its memory.
func (o Options) collector() *board {
	in := func(metric string) string { return metric + `{instance=~"$instance"}` }
	return newDashboard(UIDCollector, "Collector",
		"The collector's ingest and export rates, its durable queue (bytes, oldest record, records per sink), retries, dead letters, quarantined records, refusals, its metrics store and its memory; see collector/README.md.").
		WithVariable(labelValues("instance", "instance", "estate_collector_queue_bytes", true)).
		WithRow(dashboard.NewRowBuilder("Ingest and export")).
		WithPanel(timeSeries("Ingest", "Spans, log records and data points accepted per second, by signal.", "short",
			query{Expr: `sum by (signal) (rate(` + in(`estate_collector_ingest_items_total`) + `[$__rate_interval]))`, Legend: "{{signal}}"}).
			Span(8)).
		WithPanel(timeSeries("Ingest requests by outcome", "OTLP requests per second by outcome: accepted, partial, invalid, refused_memory (the memory limiter), refused_queue_full, too_large, error.", "reqps",
			query{Expr: `sum by (outcome) (rate(` + in(`estate_collector_ingest_requests_total`) + `[$__rate_interval]))`, Legend: "{{outcome}}"}).
			Span(8)).
		WithPanel(timeSeries("Export by sink", "Queue records each sink delivered per second.", "short",
			query{Expr: `sum by (sink) (rate(estate_collector_export_records_total{instance=~"$instance", outcome="delivered"}[$__rate_interval]))`, Legend: "{{sink}}"}).
			Span(8)).
		WithRow(dashboard.NewRowBuilder("Queue")).
		WithPanel(timeSeries("Queue bytes", "Bytes the durable queue holds, against its bound (queue.max_bytes): at the bound it refuses (when_full: reject) or drops the oldest segment (drop_oldest).", "bytes",
			query{Expr: `sum by (instance) (` + in(`estate_collector_queue_bytes`) + `)`, Legend: "held {{instance}}"},
			query{Expr: `sum by (instance) (` + in(`estate_collector_queue_max_bytes`) + `)`, Legend: "bound {{instance}}"}).
			Span(8)).
		WithPanel(timeSeries("Oldest queued record", "Age of the oldest record some sink has not delivered; 0 when all are caught up. The alert pages above 15 minutes.", "s",
			query{Expr: `max by (instance) (` + in(`estate_collector_queue_oldest_record_age_seconds`) + `)`, Legend: "{{instance}}"}).
			Thresholds(thresholds("green", step{"red", queueAgeThreshold.Seconds()})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
			Span(8)).
		WithPanel(timeSeries("Records waiting, by sink", "Queue records each sink has not committed yet.", "short",
			query{Expr: `sum by (consumer) (` + in(`estate_collector_queue_records`) + `)`, Legend: "{{consumer}}"}).
			Span(8)).
		WithRow(dashboard.NewRowBuilder("Retries, dead letters, quarantine, refusals")).
		WithPanel(timeSeries("Retries", "Deliveries retried per second after a transient or throttle error, by sink.", "short",
			query{Expr: `sum by (sink) (rate(` + in(`estate_collector_export_retries_total`) + `[$__rate_interval]))`, Legend: "{{sink}}"}).
			Span(8)).
		WithPanel(timeSeries("Refused for good", "Queue records a sink refused for good (failed_permanent: they are passed, not retried) or could not decode, per second.", "short",
			query{Expr: `sum by (sink, outcome) (rate(estate_collector_export_records_total{instance=~"$instance", outcome!="delivered"}[$__rate_interval]))`, Legend: "{{sink}} {{outcome}}"}).
			Span(8)).
		WithPanel(timeSeries("Dead letters", "Log records Elasticsearch refused for good, per second: written to the dead-letter file (and index); and those the index could not take.", "short",
			query{Expr: `sum(rate(estate_elasticsearch_exporter_items_total{instance=~"$instance", outcome="dead_letter"}[$__rate_interval]))`, Legend: "dead letters"},
			query{Expr: `sum(rate(` + in(`estate_elasticsearch_exporter_dead_letter_index_failures_total`) + `[$__rate_interval]))`, Legend: "not indexed"}).
			Span(8)).
		WithPanel(timeSeries("Quarantined and truncated", "Corrupt queue records moved to quarantine/ and bytes of torn records cut at recovery, over each interval.", "short",
			query{Expr: `sum(increase(` + in(`estate_collector_queue_quarantined_records_total`) + `[$__interval]))`, Legend: "quarantined records"},
			query{Expr: `sum(increase(` + in(`estate_collector_queue_truncated_bytes_total`) + `[$__interval]))`, Legend: "truncated bytes"}).
			Span(8)).
		WithPanel(timeSeries("Refusals", "Telemetry refused per second: OTLP requests refused by the memory limiter or a full queue (clients retry them), queue appends refused at the bound, new series refused by the metrics store's bound, samples the store refused.", "short",
			query{Expr: `sum by (outcome) (rate(estate_collector_ingest_requests_total{instance=~"$instance", outcome=~"refused_.*"}[$__rate_interval]))`, Legend: "requests {{outcome}}"},
			query{Expr: `sum(rate(` + in(`estate_collector_queue_full_refusals_total`) + `[$__rate_interval]))`, Legend: "queue appends"},
			query{Expr: `sum(rate(` + in(`estate_collector_tsdb_series_limit_refusals_total`) + `[$__rate_interval]))`, Legend: "new series"},
			query{Expr: `sum(rate(estate_collector_metrics_samples_total{instance=~"$instance", outcome="refused"}[$__rate_interval]))`, Legend: "samples"}).
			Span(8)).
		WithPanel(timeSeries("Dropped", "Records deleted unread by queue.when_full: drop_oldest, and OTLP metrics the store could not take, per second.", "short",
			query{Expr: `sum(rate(` + in(`estate_collector_queue_dropped_records_total`) + `[$__rate_interval]))`, Legend: "queue records"},
			query{Expr: `sum by (reason) (rate(` + in(`estate_collector_metrics_dropped_total`) + `[$__rate_interval]))`, Legend: "metrics {{reason}}"}).
			Span(8)).
		WithRow(dashboard.NewRowBuilder("Metrics store, rules and memory")).
		WithPanel(timeSeries("Metrics store series", "Series in the embedded metrics store's head, against its bound (collector.tsdb.max_series).", "short",
			query{Expr: `sum by (instance) (prometheus_tsdb_head_series{job="collector", instance=~"$instance"})`, Legend: "series {{instance}}"},
			query{Expr: `sum by (instance) (` + in(`estate_collector_tsdb_max_series`) + `)`, Legend: "bound {{instance}}"}).
			Span(8)).
		WithPanel(timeSeries("Alerts to the incident intake", "Alerts the collector's rules sent to the estate's incident intake per second, by outcome.", "short",
			query{Expr: `sum by (outcome) (rate(` + in(`estate_rules_incident_notifications_total`) + `[$__rate_interval]))`, Legend: "{{outcome}}"},
			query{Expr: `min(` + in(`estate_rules_last_reload_successful`) + `)`, Legend: "rules loaded"}).
			Span(8)).
		WithPanel(timeSeries("Memory", "Resident memory of the collector's process, and the bytes of OTLP requests in flight against the memory limiter's bound.", "bytes",
			query{Expr: `max by (instance) (process_resident_memory_bytes{job="collector", instance=~"$instance"})`, Legend: "resident {{instance}}"},
			query{Expr: `sum by (instance) (` + in(`estate_collector_memory_inflight_bytes`) + `)`, Legend: "in flight {{instance}}"},
			query{Expr: `sum by (instance) (` + in(`estate_collector_memory_max_inflight_bytes`) + `)`, Legend: "in-flight bound {{instance}}"}).
			Span(8))
}
