package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
)

// The RED series of every service but the overflow series, where spans go
// once the collector's series bound is reached (collector.REDOverflow).
const (
	redRequests = `estate_red_requests_total{service!="__overflow__"}`
	redErrors   = `estate_red_errors_total{service!="__overflow__"}`
	redBuckets  = `estate_red_request_duration_seconds_bucket{service!="__overflow__"}`
)

// sloStateExpr encodes each SLO's policy state as a number, for value
// mappings and colours: 0 healthy, 1 no data, 2 at risk, 3 exhausted.
const sloStateExpr = `max by (slo) (
  (estate_slo_state{slo=~"$slo", state="healthy"} == 1) * 0
  or (estate_slo_state{slo=~"$slo", state="no_data"} == 1) * 1
  or (estate_slo_state{slo=~"$slo", state="at_risk"} == 1) * 2
  or (estate_slo_state{slo=~"$slo", state="exhausted"} == 1) * 3
)`

// sloState shows each SLO's policy state in words and colours.
func sloState(title, description string) *stat.PanelBuilder {
	return singleStat(title, description, "none", query{Expr: sloStateExpr, Legend: "{{slo}}", Instant: true}).
		GraphMode(common.BigValueGraphModeNone).
		ColorMode(common.BigValueColorModeBackground).
		Mappings(valueText(map[int][2]string{0: {"healthy", "green"}, 1: {"no data", "blue"}, 2: {"at risk", "orange"}, 3: {"exhausted", "red"}})).
		Thresholds(thresholds("green", step{"blue", 1.0}, step{"orange", 2.0}, step{"red", 3.0}))
}

// overview is the estate at a glance: every service's rate, errors,
// latency and SLOs, the collector's health, and what is burning now.
func (o Options) overview() *board {
	b := newDashboard(UIDOverview, "Estate overview",
		"Every service's rate, errors, p99 and SLO status; the collector's health; the alerts firing and chaos experiments running now.").
		WithVariable(labelValues("slo", "slo", "estate_slo_objective_ratio", true).Hide(dashboard.VariableHideHideVariable)).
		WithRow(dashboard.NewRowBuilder("Now")).
		WithPanel(singleStat("Alerts firing", "Alerts firing now, by severity: each opens an incident at the collector's intake (unless labelled estate_incident=\"false\").", "none",
			query{Expr: `sum by (severity) (ALERTS{alertstate="firing"}) or on() vector(0)`, Legend: "{{severity}}", Instant: true}).
			GraphMode(common.BigValueGraphModeNone).
			Thresholds(thresholds("green", step{"red", 1.0})).
			Span(6).Height(5)).
		WithPanel(singleStat("Chaos faults active", "Faults the chaos controller holds in place now; the kill switch (estate chaos halt) removes them all.", "none",
			query{Expr: `sum(estate_chaos_active_faults)`, Legend: "faults", Instant: true},
			query{Expr: `max(estate_chaos_halted)`, Legend: "kill switch", Instant: true}).
			GraphMode(common.BigValueGraphModeNone).
			Thresholds(thresholds("green", step{"orange", 1.0})).
			Span(6).Height(5)).
		WithPanel(singleStat("Incidents, last 7 days", "Incidents opened in the last 7 days, by service and environment (chaos experiments' apart, on the Chaos dashboard).", "none",
			query{Expr: `sum by (service, environment) (estate_dora_incidents{window="7d"})`, Legend: "{{service}} {{environment}}", Instant: true}).
			GraphMode(common.BigValueGraphModeNone).
			Thresholds(thresholds("green", step{"orange", 1.0})).
			Span(6).Height(5)).
		WithPanel(sloState("SLO status", "Each SLO's policy state: healthy, at risk (under 25% of its budget left, or a burn alert's condition holds), exhausted, or no data.").
			Links([]cog.Builder[dashboard.DashboardLink]{dashboardLink("SLOs", UIDSLOs)}).
			Span(6).Height(5)).
		WithRow(dashboard.NewRowBuilder("Services")).
		WithPanel(timeSeries("Request rate", "Requests per second by service, from the server spans the collector receives.", "reqps",
			query{Expr: `sum by (service) (rate(` + redRequests + `[$__rate_interval]))`, Legend: "{{service}}"}).
			Links([]cog.Builder[dashboard.DashboardLink]{dashboardLink("Service detail", UIDService)}).
			Span(8)).
		WithPanel(timeSeries("Error ratio", "Share of requests that failed (5xx or an error status), by service.", "percentunit",
			query{Expr: `sum by (service) (rate(` + redErrors + `[$__rate_interval])) / sum by (service) (rate(` + redRequests + `[$__rate_interval]))`, Legend: "{{service}}"}).
			Thresholds(thresholds("green", step{"red", serviceErrorRatio})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
			Span(8)).
		WithPanel(timeSeries("p99 latency", "99th percentile of request duration by service, from the span-derived histogram.", "s",
			query{Expr: `histogram_quantile(0.99, sum by (service, le) (rate(` + redBuckets + `[$__rate_interval])))`, Legend: "{{service}}"}).
			Span(8)).
		WithPanel(gauges("Error budget remaining", "The share of each SLO's error budget left over its window: 100% untouched, 0 spent, below 0 overspent.", "percentunit",
			query{Expr: `estate_slo_error_budget_remaining_ratio{slo=~"$slo"}`, Legend: "{{slo}}", Instant: true}).
			Min(-1).Max(1).
			Thresholds(thresholds("red", step{"orange", 0.0}, step{"green", 0.25})).
			Span(12)).
		WithPanel(gauges("SLO attainment", "Good events / all events over each SLO's window, against its objective.", "percentunit",
			query{Expr: `estate_slo_attainment_ratio{slo=~"$slo"}`, Legend: "{{slo}}", Instant: true}).
			Min(0.9).Max(1).
			Decimals(3).
			Span(12)).
		WithRow(dashboard.NewRowBuilder("Collector")).
		WithPanel(timeSeries("Targets up", "1 while the scrape of a target's /metrics succeeds.", "none",
			query{Expr: `up`, Legend: "{{job}} {{instance}}"}).
			Max(1).
			Span(6)).
		WithPanel(timeSeries("Oldest queued record", "Age of the oldest record some sink of the collector's queue has not delivered; 0 when every sink is caught up.", "s",
			query{Expr: `max by (instance) (estate_collector_queue_oldest_record_age_seconds)`, Legend: "{{instance}}"}).
			Thresholds(thresholds("green", step{"red", queueAgeThreshold.Seconds()})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
			Links([]cog.Builder[dashboard.DashboardLink]{dashboardLink("Collector", UIDCollector)}).
			Span(6)).
		WithPanel(timeSeries("Ingest", "Spans, log records and data points the collector accepted per second, and those it refused or rejected.", "short",
			query{Expr: `sum by (signal) (rate(estate_collector_ingest_items_total{outcome="accepted"}[$__rate_interval]))`, Legend: "{{signal}}"},
			query{Expr: `sum by (outcome) (rate(estate_collector_ingest_requests_total{outcome!~"accepted|partial"}[$__rate_interval]))`, Legend: "requests {{outcome}}"}).
			Span(6)).
		WithPanel(timeSeries("Export failures", "Queue records a sink refused for good (failed_permanent) or could not decode, per second.", "short",
			query{Expr: `sum by (sink, outcome) (rate(estate_collector_export_records_total{outcome!="delivered"}[$__rate_interval]))`, Legend: "{{sink}} {{outcome}}"}).
			Span(6))
	return eventAnnotations(b, ".*")
}
