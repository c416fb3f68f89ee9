package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// chaos is the chaos experiments over time with their verdicts, the
// faults in place and what they did.
func (o Options) chaos() *board {
	b := newDashboard(UIDChaos, "Chaos",
		"Chaos experiments over time with their verdicts, the faults in place now, the requests they touched and the incidents they opened; see docs/chaos.md.").
		WithRow(dashboard.NewRowBuilder("Runs")).
		WithPanel(bars("Runs finished, by verdict", "Chaos runs that finished in each interval: passed (the hypothesis held and the service recovered), failed, aborted or errored.", "short",
			query{Expr: `sum by (verdict) (increase(estate_chaos_runs_total[$__interval]))`, Legend: "{{verdict}}"}).
			Span(16)).
		WithPanel(gauges("Verdicts over the time range", "Runs finished in the dashboard's time range, by verdict.", "short",
			query{Expr: `sum by (verdict) (increase(estate_chaos_runs_total[$__range]))`, Legend: "{{verdict}}", Instant: true}).
			Span(8)).
		WithRow(dashboard.NewRowBuilder("Faults")).
		WithPanel(timeline("Faults in place", "Faults the controller holds in place, and the kill switch (on while halted: no run may start).",
			query{Expr: `sum(estate_chaos_active_faults)`, Legend: "faults"},
			query{Expr: `max(estate_chaos_halted)`, Legend: "kill switch"}).
			Mappings(valueText(map[int][2]string{0: {"none", "green"}, 1: {"on", "purple"}})).
			Span(12)).
		WithPanel(timeSeries("Faults active by service", "Faults a service's fault surface holds (HTTP errors and latency on its routes).", "short",
			query{Expr: `sum by (job) (estate_fault_active)`, Legend: "{{job}}"}).
			Span(12)).
		WithPanel(timeSeries("Requests a fault touched", "Requests per second a service's fault surface injected into, by action.", "reqps",
			query{Expr: `sum by (job, action) (rate(estate_fault_injected_requests_total[$__rate_interval]))`, Legend: "{{job}} {{action}}"}).
			Span(12)).
		WithPanel(timeSeries("Time from abort to faults removed", "99th percentile of the time from a run's abort (a breach, an abort condition, an operator, the kill switch) to its faults gone; NaN before any abort.", "s",
			query{Expr: `histogram_quantile(0.99, sum by (le) (rate(estate_chaos_time_to_abort_seconds_bucket[$__rate_interval])))`, Legend: "p99"}).
			Span(12)).
		WithRow(dashboard.NewRowBuilder("Incidents")).
		WithPanel(singleStat("Incidents opened by chaos, last 7 days", "Incidents opened by chaos experiments (a broken hypothesis), by service: counted apart from the others in every figure.", "short",
			query{Expr: `sum by (service, environment) (estate_dora_chaos_incidents{window="7d"})`, Legend: "{{service}} {{environment}}", Instant: true}).
			GraphMode(common.BigValueGraphModeNone).
			Span(24).Height(5))
	return eventAnnotations(b, ".*")
}
