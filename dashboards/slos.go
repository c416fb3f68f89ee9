package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/estatehq/estate/sloreport"
)

// slos is, per SLO, its attainment, budget, burn rates and alerts. The
// figures are the collector's (estate_slo_*, counted exactly from the
// counters' samples, see docs/slo.md); the alerts are the generated
// rules', wherever they are evaluated.
func (o Options) slos() *board {
	b := newDashboard(UIDSLOs, "SLOs",
		"Per SLO: attainment, error budget remaining, burn rates by window and the state of its alerts (see docs/slo.md).").
		WithVariable(labelValues("slo", "slo", "estate_slo_objective_ratio", true)).
		// The row and the panels after it repeat for each SLO chosen.
		WithRow(dashboard.NewRowBuilder("$slo").Repeat("slo")).
		WithPanel(singleStat("Attainment", "Good events / all events over the SLO's window; the objective beside it.", "percentunit",
			query{Expr: `estate_slo_attainment_ratio{slo=~"$slo"}`, Legend: "attainment", Instant: true},
			query{Expr: `estate_slo_objective_ratio{slo=~"$slo"}`, Legend: "objective", Instant: true}).
			Decimals(3).
			GraphMode(common.BigValueGraphModeNone).
			Span(4).Height(6)).
		WithPanel(singleStat("Budget remaining", "The share of the error budget left: 100% untouched, 0 spent, negative overspent.", "percentunit",
			query{Expr: `estate_slo_error_budget_remaining_ratio{slo=~"$slo"}`, Legend: "remaining", Instant: true}).
			Thresholds(thresholds("red", step{"orange", 0.0}, step{"green", 0.25})).
			ColorMode(common.BigValueColorModeBackground).
			Span(4).Height(6)).
		WithPanel(sloState("State", "The SLO's policy state.").
			Span(4).Height(6)).
		WithPanel(singleStat("Time left", "How long the rest of the budget lasts if the last hour's burn goes on; empty while not burning.", "s",
			query{Expr: `estate_slo_error_budget_time_left_seconds{slo=~"$slo"}`, Legend: "time left", Instant: true}).
			NoValue("not burning").
			GraphMode(common.BigValueGraphModeNone).
			Span(4).Height(6)).
		WithPanel(singleStat("Events in the window", "All and bad events counted over the SLO's window.", "short",
			query{Expr: `estate_slo_window_events{slo=~"$slo"}`, Legend: "all", Instant: true},
			query{Expr: `estate_slo_window_bad_events{slo=~"$slo"}`, Legend: "bad", Instant: true}).
			GraphMode(common.BigValueGraphModeNone).
			Span(8).Height(6)).
		WithPanel(timeSeries("Budget remaining over time", "The share of the error budget left at each point.", "percentunit",
			query{Expr: `estate_slo_error_budget_remaining_ratio{slo=~"$slo"}`, Legend: "{{slo}}"}).
			Thresholds(thresholds("red", step{"orange", 0.0}, step{"green", 0.25})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLineAndArea)).
			Min(-1).Max(1).
			Span(12)).
		WithPanel(timeSeries("Burn rate by window", "The budget's burn rate over each window (1: it lasts exactly the SLO's window); a window holding fewer events than the low-traffic guard has none. The alerts page at 14.4 over 1h and 5m, and at 6 over 6h and 30m.", "short",
			query{Expr: `estate_slo_burn_rate{slo=~"$slo"}`, Legend: "{{window}}"}).
			Thresholds(thresholds("green", step{"orange", 1.0}, step{"red", 6.0})).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed)).
			Span(12)).
		WithPanel(timeline("Alerts", "The SLO's burn alerts by severity and windows, and its absent-data alert: firing, pending, or quiet.",
			query{Expr: `max by (alertname, severity, long_window, short_window) (ALERTS{alertname=~"` + sloreport.BurnAlertName + `|` + sloreport.AbsentAlertName + `", slo=~"$slo", alertstate="firing"}) * 2
  or max by (alertname, severity, long_window, short_window) (ALERTS{alertname=~"` + sloreport.BurnAlertName + `|` + sloreport.AbsentAlertName + `", slo=~"$slo", alertstate="pending"})
  or on() (0 * max(estate_slo_objective_ratio{slo=~"$slo"}))`, Legend: "{{alertname}} {{severity}} {{long_window}} {{short_window}}"}).
			Mappings(valueText(map[int][2]string{0: {"quiet", "green"}, 1: {"pending", "orange"}, 2: {"firing", "red"}})).
			Span(12)).
		WithPanel(timeSeries("Error ratio by window", "The recorded error ratio of each burn window, as the generated rules see it.", "percentunit",
			query{Expr: `{__name__=~"` + sloreport.ErrorRatioRecord + `.+", slo=~"$slo"}`, Legend: "{{__name__}}"}).
			Span(12))
	return eventAnnotations(b, ".*")
}
