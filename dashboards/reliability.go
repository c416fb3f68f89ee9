package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// rose is 1 at each step where a counter of the event store (a count of
// events ever, recomputed from the store at each scrape) is above its value
// one step before, or appeared with a count: Grafana makes an annotation
// of every positive value, and a region of consecutive ones.
func rose(selector string) string {
	return selector + ` > bool ` + selector + ` offset $__interval or ` + selector + ` > bool 0 unless ` + selector + ` offset $__interval`
}

// eventAnnotations mark, on every panel of a dashboard, the deployments,
// rollbacks and incidents the event store records, the alerts firing and
// the chaos experiments running, from the series that exist of them:
// the store's counters rise at the first scrape after an event is stored
// (the collector caches them for events.metrics_ttl), so a mark is within
// a scrape interval and that cache of the event's arrival.
func eventAnnotations(b *board, service string) *board {
	sel := func(metric string) string {
		return metric + `{service=~"` + service + `"}`
	}
	add := func(name, color, expr, title string) {
		b.Annotation(dashboard.NewAnnotationQueryBuilder().
			Name(name).
			Datasource(promDatasource()).
			Enable(true).
			IconColor(color).
			Expr(expr).
			TitleFormat(title).
			TagKeys("service,environment"))
	}
	add("Deployments", "blue", rose(sel("estate_deployments_total")), "Deployment of {{service}} ({{environment}})")
	add("Rollbacks", "orange", rose(sel("estate_deployment_rollbacks_total")), "Rollback of {{service}} ({{environment}})")
	add("Incidents", "red", rose(sel("estate_incidents_total")), "Incident opened on {{service}} ({{environment}})")
	add("Alerts firing", "dark-red", `max by (alertname, service, severity) (ALERTS{alertstate="firing", service=~"`+service+`"})`, "{{alertname}} ({{severity}}) on {{service}}")
	add("Chaos experiments", "purple", `sum(estate_chaos_active_faults) > bool 0`, "Chaos fault injected")
	return b
}

// reliability is DORA and the incident figures over time, by service.
func (o Options) reliability() *board {
	dora := func(metric string) string {
		return metric + `{service=~"$service", environment=~"$environment", window="$window"}`
	}
	b := newDashboard(UIDReliability, "Reliability and DORA",
		"Deployment frequency, lead time for changes, change failure rate, rollback rate, MTTR and MTBF over rolling windows, from the reliability events the collector stores; annotated with deployments, rollbacks, incidents and chaos experiments.").
		WithVariable(labelValues("service", "service", "estate_deployments_total", true)).
		WithVariable(labelValues("environment", "environment", `estate_deployments_total{service=~"$service"}`, true)).
		WithVariable(choice("window", "Window", "7d", "30d").
			Description("The rolling window each figure is computed over, ending at each point.")).
		WithRow(dashboard.NewRowBuilder("Throughput")).
		WithPanel(timeSeries("Deployment frequency", "Production deployments per day over the window.", "short",
			query{Expr: dora("estate_dora_deployment_frequency_per_day"), Legend: "{{service}} {{environment}}"}).
			Span(12)).
		WithPanel(timeSeries("Lead time for changes", "Time from commit to production, median and 90th percentile over the commits of the window's deployments.", "s",
			query{Expr: dora("estate_dora_lead_time_p50_seconds"), Legend: "p50 {{service}} {{environment}}"},
			query{Expr: dora("estate_dora_lead_time_p90_seconds"), Legend: "p90 {{service}} {{environment}}"}).
			Span(12)).
		WithRow(dashboard.NewRowBuilder("Stability")).
		WithPanel(timeSeries("Change failure rate", "Deployments of the window rolled back or named as an incident's cause, over its deployments.", "percentunit",
			query{Expr: dora("estate_dora_change_failure_ratio"), Legend: "{{service}} {{environment}}"}).
			Max(1).
			Span(12)).
		WithPanel(timeSeries("Rollback rate", "Deployments of the window rolled back before its end, over its deployments.", "percentunit",
			query{Expr: dora("estate_dora_rollback_ratio"), Legend: "{{service}} {{environment}}"}).
			Max(1).
			Span(12)).
		WithPanel(timeSeries("MTTR", "Time to recovery, mean and median, over the incidents resolved in the window (chaos experiments' apart).", "s",
			query{Expr: dora("estate_dora_mttr_seconds"), Legend: "mean {{service}} {{environment}}"},
			query{Expr: dora("estate_dora_mttr_median_seconds"), Legend: "median {{service}} {{environment}}"}).
			Span(12)).
		WithPanel(timeSeries("MTBF", "Mean time between failures: the window's time without an incident open, over its incidents.", "s",
			query{Expr: dora("estate_dora_mtbf_seconds"), Legend: "{{service}} {{environment}}"}).
			Span(12)).
		WithRow(dashboard.NewRowBuilder("Events")).
		WithPanel(bars("Deployments, rollbacks and incidents", "Events the store counted in each interval.", "short",
			query{Expr: `sum by (service) (increase(estate_deployments_total{service=~"$service", environment=~"$environment"}[$__interval]))`, Legend: "deployments {{service}}"},
			query{Expr: `sum by (service) (increase(estate_deployment_rollbacks_total{service=~"$service", environment=~"$environment"}[$__interval]))`, Legend: "rollbacks {{service}}"},
			query{Expr: `sum by (service) (increase(estate_incidents_total{service=~"$service", environment=~"$environment"}[$__interval]))`, Legend: "incidents {{service}}"}).
			Span(12)).
		WithPanel(singleStat("In the window", "Counts of the window: deployments, failed deployments, rollbacks, incidents and the time with an incident open.", "short",
			query{Expr: `sum(` + dora("estate_dora_deployments") + `)`, Legend: "deployments", Instant: true},
			query{Expr: `sum(` + dora("estate_dora_failed_deployments") + `)`, Legend: "failed", Instant: true},
			query{Expr: `sum(` + dora("estate_dora_rollbacks") + `)`, Legend: "rollbacks", Instant: true},
			query{Expr: `sum(` + dora("estate_dora_incidents") + `)`, Legend: "incidents", Instant: true}).
			GraphMode(common.BigValueGraphModeNone).
			Links([]cog.Builder[dashboard.DashboardLink]{dashboardLink("Chaos", UIDChaos)}).
			Span(12))
	return eventAnnotations(b, "$service")
}
