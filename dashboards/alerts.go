package dashboards

import (
	"strconv"
	"strings"
	"time"

	"github.com/estatehq/estate/sloreport"
)

// The thresholds of the alerts, which the dashboards draw too.
const (
	// queueAgeThreshold is how old the oldest queued record may get before
	// the collector pages.
	queueAgeThreshold = 15 * time.Minute
	// refusedRatio is the share of OTLP requests the collector may refuse
	// (memory limiter, full queue) before it pages: clients retry a
	// refusal, so a few are back-pressure, not loss.
	refusedRatio = 0.05
	// permanentRatio is the share of a sink's records refused for good
	// above which the sink is taken to refuse everything.
	permanentRatio = 0.5
	// serviceErrorRatio is the share of a service's requests that may fail
	// over 5 minutes.
	serviceErrorRatio = 0.05
	// serviceMinRequests is the low-traffic guard of the error ratio alert,
	// as the SLOs' (sloreport.DefaultMinEvents): one failure among a
	// handful of requests pages nobody.
	serviceMinRequests = 100
	// shedRatio is the share of a service's requests it may shed (503, too
	// many in flight) before it is saturated.
	shedRatio = 0.01
	// memoryRatio is how close to its GOMEMLIMIT a process's resident
	// memory may come.
	memoryRatio = 0.9
)

// estateJobs are the scrape jobs of the estate's targets, as `estate up`
// and the Helm chart's ServiceMonitors name them.
const estateJobs = "collector|invoicing|credit|chaos|report-server"

// alert is one alerting rule of the collector or the services, with the
// fixture of its promtool unit test.
type alert struct {
	Name     string
	Severity sloreport.Severity
	Expr     string
	For      time.Duration
	// Labels are set on the alert besides severity (service, for the
	// incident intake, when the expression has none).
	Labels map[string]string
	// Summary and Description are Prometheus templates over $labels and
	// $value.
	Summary, Description string
	Test                 fixture
}

// anchor is the alert's section in docs/runbooks.md.
func (a alert) anchor() string { return strings.ToLower(a.Name) }

// fixture is what a promtool unit test of an alert feeds it: series that
// hold its condition from Onset on, just above its threshold, and series
// just below it that never do.
type fixture struct {
	Above, Below []series
	// Onset is the first evaluation (every minute from 0) at which Above
	// holds the condition: 1m for a rate, which needs two samples.
	Onset time.Duration
	// Labels are the labels of the firing alert that its expression gives.
	Labels map[string]string
	// Value is the alert's value as it fires, which its annotations print.
	Value float64
}

// series is one input series of a unit test: a selector and promtool's
// expanding notation of its samples, one a minute from 0.
type series struct{ Selector, Values string }

// collectorAlerts are the alerts on the collector's own health.
func collectorAlerts() []alert {
	collector := map[string]string{"service": "collector"}
	inst := map[string]string{"job": "collector", "instance": "collector:8088"}
	ingest := func(outcome string) string {
		return `estate_collector_ingest_requests_total{job="collector", instance="collector:8088", outcome="` + outcome + `", signal="traces", transport="http"}`
	}
	export := func(outcome string) string {
		return `estate_collector_export_records_total{job="collector", instance="collector:8088", outcome="` + outcome + `", sink="elasticsearch"}`
	}
	once := func(metric string) fixture {
		return fixture{
			Above:  []series{{metric, "0x4 1x20"}},
			Below:  []series{{metric, "0x25"}},
			Onset:  5 * time.Minute,
			Labels: inst,
		}
	}
	return []alert{
		{
			Name: "CollectorQueueOldestRecordTooOld", Severity: sloreport.Page, For: 5 * time.Minute, Labels: collector,
			Expr:        `max by (job, instance) (estate_collector_queue_oldest_record_age_seconds) > ` + num(queueAgeThreshold.Seconds()),
			Summary:     `The collector's oldest queued record is {{ $value | humanizeDuration }} old`,
			Description: `A sink of {{ $labels.instance }} has not delivered a queued record for more than 15 minutes: a backend is down, refusing, or slower than ingest. Telemetry reaches it late, and the queue grows until it refuses new telemetry (queue.when_full: reject) or drops its oldest segment (drop_oldest).`,
			Test: fixture{
				Above:  []series{{`estate_collector_queue_oldest_record_age_seconds{job="collector", instance="collector:8088"}`, "901x15"}},
				Below:  []series{{`estate_collector_queue_oldest_record_age_seconds{job="collector", instance="collector:8088"}`, "899x15"}},
				Labels: inst, Value: 901,
			},
		},
		{
			Name: "CollectorRefusingTelemetry", Severity: sloreport.Page, For: 10 * time.Minute, Labels: collector,
			Expr: `sum by (job, instance) (rate(estate_collector_ingest_requests_total{outcome=~"refused_memory|refused_queue_full"}[5m]))
/
sum by (job, instance) (rate(estate_collector_ingest_requests_total[5m]))
> ` + num(refusedRatio),
			Summary:     `The collector refuses {{ $value | humanizePercentage }} of OTLP requests`,
			Description: `{{ $labels.instance }} has refused more than 5% of OTLP requests for 10 minutes, with 429 / RESOURCE_EXHAUSTED: its memory limiter is at collector.memory.max_inflight_bytes or its queue at collector.queue.max_bytes. Clients retry, and drop what their own buffers cannot hold.`,
			Test: fixture{
				Above: []series{{ingest("accepted"), "0+949x20"}, {ingest("refused_memory"), "0+51x20"}},
				Below: []series{{ingest("accepted"), "0+951x20"}, {ingest("refused_memory"), "0+49x20"}},
				Onset: time.Minute, Labels: inst, Value: 0.051,
			},
		},
		{
			Name: "CollectorRecordsDeadLettered", Severity: sloreport.Ticket, Labels: collector,
			Expr:        `sum by (job, instance) (increase(estate_elasticsearch_exporter_items_total{outcome="dead_letter"}[15m])) > 0`,
			Summary:     `Elasticsearch refused log records for good`,
			Description: `Elasticsearch refused log records of {{ $labels.instance }} for good in the last 15 minutes (a mapping conflict, a document too large). They are in the dead-letter file under the collector's data folder, and in the dead-letter index when it took them, not in the logs index.`,
			Test:        once(`estate_elasticsearch_exporter_items_total{job="collector", instance="collector:8088", outcome="dead_letter"}`),
		},
		{
			Name: "CollectorRecordsQuarantined", Severity: sloreport.Ticket, Labels: collector,
			Expr:        `sum by (job, instance) (increase(estate_collector_queue_quarantined_records_total[1h])) > 0`,
			Summary:     `The collector quarantined corrupt queue records`,
			Description: `{{ $labels.instance }} found queue records whose checksum failed, moved them to the queue's quarantine/ folder and skipped them: that telemetry reached no sink. Corruption means a disk or file system fault, or a write torn other than at the tail.`,
			Test:        once(`estate_collector_queue_quarantined_records_total{job="collector", instance="collector:8088"}`),
		},
		{
			Name: "CollectorSinkRefusingForGood", Severity: sloreport.Page, For: 5 * time.Minute, Labels: collector,
			Expr: `sum by (job, instance, sink) (rate(estate_collector_export_records_total{outcome="failed_permanent"}[10m]))
/
sum by (job, instance, sink) (rate(estate_collector_export_records_total[10m]))
> ` + num(permanentRatio),
			Summary:     `The {{ $labels.sink }} sink refuses {{ $value | humanizePercentage }} of records for good`,
			Description: `The {{ $labels.sink }} sink of {{ $labels.instance }} answered most deliveries of the last 10 minutes with a permanent error (4xx, invalid data, bad credentials): the collector passes such batches instead of retrying them, so their telemetry never reaches that backend.`,
			Test: fixture{
				Above: []series{{export("delivered"), "0+49x20"}, {export("failed_permanent"), "0+51x20"}},
				Below: []series{{export("delivered"), "0+51x20"}, {export("failed_permanent"), "0+49x20"}},
				Onset: time.Minute, Labels: map[string]string{"job": "collector", "instance": "collector:8088", "sink": "elasticsearch"}, Value: 0.51,
			},
		},
		{
			Name: "CollectorMetricsStoreRefusingSeries", Severity: sloreport.Ticket, Labels: collector,
			Expr:        `sum by (job, instance) (increase(estate_collector_tsdb_series_limit_refusals_total[15m])) > 0`,
			Summary:     `The collector's metrics store refuses new series`,
			Description: `The embedded metrics store of {{ $labels.instance }} is at its series bound (collector.tsdb.max_series) and refused samples of new series in the last 15 minutes: those metrics are missing from dashboards, SLOs and alerts.`,
			Test:        once(`estate_collector_tsdb_series_limit_refusals_total{job="collector", instance="collector:8088"}`),
		},
	}
}

// serviceAlerts are the alerts on every service of the estate.
func serviceAlerts() []alert {
	red := func(metric string) string {
		return metric + `{service="invoicing", route="GET /v1/invoices/{id}", status_class="2xx"}`
	}
	svc := map[string]string{"job": "invoicing", "instance": "invoicing:8081", "service": "invoicing"}
	http := func(metric string) string { return metric + `{job="invoicing", instance="invoicing:8081"}` }
	return []alert{
		{
			Name: "ServiceErrorRateHigh", Severity: sloreport.Page, For: 5 * time.Minute,
			Expr: `sum by (service) (rate(estate_red_errors_total{service!="__overflow__"}[5m]))
/
sum by (service) (rate(estate_red_requests_total{service!="__overflow__"}[5m]))
> ` + num(serviceErrorRatio) + `
and
sum by (service) (increase(estate_red_requests_total{service!="__overflow__"}[5m])) >= ` + num(serviceMinRequests),
			Summary:     `{{ $labels.service }} fails {{ $value | humanizePercentage }} of its requests`,
			Description: `More than 5% of the requests {{ $labels.service }} served over the last 5 minutes failed (a 5xx or an error status), for 5 minutes, with at least 100 requests in the window.`,
			Test: fixture{
				Above: []series{{red("estate_red_requests_total"), "0+1000x20"}, {red("estate_red_errors_total"), "0+51x20"}},
				Below: []series{{red("estate_red_requests_total"), "0+1000x20"}, {red("estate_red_errors_total"), "0+49x20"}},
				Onset: time.Minute, Labels: map[string]string{"service": "invoicing"}, Value: 0.051,
			},
		},
		{
			Name: "ServiceSaturated", Severity: sloreport.Page, For: 10 * time.Minute,
			Expr: `label_replace(
  sum by (job, instance) (rate(http_server_shed_requests_total[5m]))
  /
  sum by (job, instance) (rate(http_server_requests_total[5m])),
  "service", "$1", "job", "(.*)"
) > ` + num(shedRatio),
			Summary:     `{{ $labels.service }} sheds {{ $value | humanizePercentage }} of its requests`,
			Description: `{{ $labels.instance }} refused more than 1% of its requests with 503 for 10 minutes because too many were in flight at once: it is saturated (slow dependencies, too few replicas, or more traffic than it was sized for).`,
			Test: fixture{
				Above: []series{{http("http_server_requests_total"), "0+10000x25"}, {http("http_server_shed_requests_total"), "0+101x25"}},
				Below: []series{{http("http_server_requests_total"), "0+10000x25"}, {http("http_server_shed_requests_total"), "0+99x25"}},
				Onset: time.Minute, Labels: svc, Value: 0.0101,
			},
		},
		{
			Name: "ServiceMemoryNearLimit", Severity: sloreport.Page, For: 5 * time.Minute,
			Expr: `label_replace(
  max by (job, instance) (process_resident_memory_bytes)
  /
  max by (job, instance) (go_gc_gomemlimit_bytes),
  "service", "$1", "job", "(.*)"
) > ` + num(memoryRatio),
			Summary:     `{{ $labels.service }} uses {{ $value | humanizePercentage }} of its memory limit`,
			Description: `The resident memory of {{ $labels.instance }} has been above 90% of its GOMEMLIMIT for 5 minutes. The Helm chart sets GOMEMLIMIT to 90% of the container's memory limit: the garbage collector works harder and harder, and the container is killed when it reaches its limit.`,
			Test: fixture{
				Above:  []series{{http("process_resident_memory_bytes"), "901000000x15"}, {http("go_gc_gomemlimit_bytes"), "1000000000x15"}},
				Below:  []series{{http("process_resident_memory_bytes"), "899000000x15"}, {http("go_gc_gomemlimit_bytes"), "1000000000x15"}},
				Labels: svc, Value: 0.901,
			},
		},
		{
			Name: "EstateTargetDown", Severity: sloreport.Page, For: 5 * time.Minute,
			Expr:        `label_replace(up{job=~"` + estateJobs + `"}, "service", "$1", "job", "(.*)") == 0`,
			Summary:     `{{ $labels.service }} does not answer its scrape`,
			Description: `The scrape of {{ $labels.instance }}/metrics has failed for 5 minutes: the process is down, hung, or unreachable from the scraper.`,
			Test: fixture{
				Above:  []series{{`up{job="invoicing", instance="invoicing:8081"}`, "0x15"}},
				Below:  []series{{`up{job="invoicing", instance="invoicing:8081"}`, "1x15"}},
				Labels: svc, Value: 0,
			},
		},
	}
}

// num writes a threshold as PromQL reads it.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
