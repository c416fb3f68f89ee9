package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// The RED series of the chosen service and routes.
const (
	svcRequests = `estate_red_requests_total{service="$service", route=~"$route"}`
	svcErrors   = `estate_red_errors_total{service="$service", route=~"$route"}`
	svcBuckets  = `estate_red_request_duration_seconds_bucket{service="$service", route=~"$route"}`
)

// service is one service in detail: RED by route from its spans, its
// latency as a heatmap, the mix of its answers, its own server's
// saturation and memory, and links to its logs and traces.
func (o Options) service() *board {
	quantile := func(q, legend string) query {
		return query{Expr: `histogram_quantile(` + q + `, sum by (route, le) (rate(` + svcBuckets + `[$__rate_interval])))`, Legend: legend}
	}
	b := newDashboard(UIDService, "Service detail",
		"One service: rate, errors and duration by route from its server spans, a latency heatmap, the status mix, its HTTP server's saturation and memory, with links to its logs and traces.").
		WithVariable(labelValues("service", "service", redRequests, false)).
		WithVariable(labelValues("route", "route", `estate_red_requests_total{service="$service"}`, true)).
		WithVariable(collectorAPI(o.Endpoints.Collector)).
		WithRow(dashboard.NewRowBuilder("Requests, errors, duration by route")).
		WithPanel(timeSeries("Request rate by route", "Requests per second, by route (method and route pattern).", "reqps",
			query{Expr: `sum by (route) (rate(` + svcRequests + `[$__rate_interval]))`, Legend: "{{route}}"}).
			Links(serviceLinks("")).
			Span(8)).
		WithPanel(timeSeries("Error ratio by route", "Share of requests that failed (5xx or an error status), by route. The links open the service's error logs and traces over the same time range.", "percentunit",
			query{Expr: `sum by (route) (rate(` + svcErrors + `[$__rate_interval])) / sum by (route) (rate(` + svcRequests + `[$__rate_interval]))`, Legend: "{{route}}"}).
			Thresholds(thresholds("green", step{"red", serviceErrorRatio})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine)).
			Links(serviceLinks("")).
			Span(8)).
		WithPanel(timeSeries("p99 latency by route", "99th percentile of request duration, by route. The trace links list the service's traces slower than 250 ms.", "s",
			quantile("0.99", "{{route}}")).
			Links(serviceLinks("&min_duration=250ms")).
			Span(8)).
		WithPanel(heatmapOf("Latency", "How long requests took, each bucket of the span-derived histogram over time (classic buckets: neither the embedded store nor Prometheus 2 ingests native histograms by default).", "s",
			query{Expr: `sum by (le) (rate(` + svcBuckets + `[$__rate_interval]))`, Legend: "{{le}}"}).
			Span(12).Height(10)).
		WithPanel(timeSeries("Latency quantiles", "Median, 90th and 99th percentile of request duration, every route chosen together.", "s",
			query{Expr: `histogram_quantile(0.5, sum by (le) (rate(` + svcBuckets + `[$__rate_interval])))`, Legend: "p50"},
			query{Expr: `histogram_quantile(0.9, sum by (le) (rate(` + svcBuckets + `[$__rate_interval])))`, Legend: "p90"},
			query{Expr: `histogram_quantile(0.99, sum by (le) (rate(` + svcBuckets + `[$__rate_interval])))`, Legend: "p99"}).
			Span(12).Height(10)).
		WithRow(dashboard.NewRowBuilder("Answers")).
		WithPanel(stacked("Status mix", "Share of requests by status class (2xx to 5xx, or ok/error for non-HTTP spans).",
			query{Expr: `sum by (status_class) (rate(` + svcRequests + `[$__rate_interval]))`, Legend: "{{status_class}}"}).
			Span(12)).
		WithPanel(timeSeries("Status codes", "Requests per second by HTTP status code, from the service's own server metrics (429: the per-tenant rate limit; 503 with shed requests: too many in flight).", "reqps",
			query{Expr: `sum by (status) (rate(http_server_requests_total{job="$service"}[$__rate_interval]))`, Legend: "{{status}}"}).
			Span(12)).
		WithRow(dashboard.NewRowBuilder("Saturation and memory")).
		WithPanel(timeSeries("Requests in flight", "Requests being served at once; beyond the service's bound it sheds them with 503.", "short",
			query{Expr: `sum(http_server_requests_in_flight{job="$service"})`, Legend: "in flight"}).
			Span(8)).
		WithPanel(timeSeries("Shed and throttled", "Requests refused per second: shed (503, too many in flight: saturation) and throttled (429, a tenant above its rate limit).", "reqps",
			query{Expr: `sum(rate(http_server_shed_requests_total{job="$service"}[$__rate_interval]))`, Legend: "shed"},
			query{Expr: `sum(rate(http_server_throttled_requests_total{job="$service"}[$__rate_interval]))`, Legend: "throttled"}).
			Span(8)).
		WithPanel(timeSeries("Memory", "Resident memory of the service's process, and its share of GOMEMLIMIT (set to 90% of the container's memory limit by the Helm chart; 0% when no limit is set).", "bytes",
			query{Expr: `max(process_resident_memory_bytes{job="$service"})`, Legend: "resident"},
			query{Expr: `max(process_resident_memory_bytes{job="$service"}) / max(go_gc_gomemlimit_bytes{job="$service"})`, Legend: "of GOMEMLIMIT"}).
			OverrideByName("of GOMEMLIMIT", []dashboard.DynamicConfigValue{
				{Id: "unit", Value: "percentunit"},
				{Id: "custom.axisPlacement", Value: "right"},
			}).
			Span(8))
	return eventAnnotations(b, "$service")
}
