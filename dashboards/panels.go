package dashboards

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// promDatasource is where every PromQL query of a dashboard goes: the data
// source its datasource variable names, the embedded API or a Prometheus.
func promDatasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// query is one PromQL query of a panel.
type query struct {
	// Expr may use the dashboard's variables and Grafana's
	// $__rate_interval, $__interval and $__range.
	Expr string
	// Legend is the series' name, with {{label}} placeholders.
	Legend string
	// Instant asks for the value now rather than over the time range.
	Instant bool
	// Format is time_series (the default), table or heatmap.
	Format prometheus.PromQueryFormat
}

// targets are the panel's queries, lettered A, B, ... and each sent to the
// datasource variable's data source.
func targets(qs []query) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], 0, len(qs))
	for i, q := range qs {
		b := prometheus.NewDataqueryBuilder().
			RefId(string(rune('A' + i))).
			Datasource(promDatasource()).
			Expr(q.Expr)
		if q.Legend != "" {
			b.LegendFormat(q.Legend)
		}
		if q.Instant {
			b.Instant()
		} else {
			b.Range()
		}
		if q.Format != "" {
			b.Format(q.Format)
		}
		out = append(out, b)
	}
	return out
}

// panelBuilder is what every panel builder of the SDK has.
type panelBuilder[B any] interface {
	Title(string) B
	Description(string) B
	Datasource(common.DataSourceRef) B
	Targets([]cog.Builder[variants.Dataquery]) B
}

// withQueries titles and describes a panel and gives it its queries.
func withQueries[B panelBuilder[B]](b B, title, description string, qs []query) B {
	b.Title(title)
	b.Description(description)
	b.Datasource(promDatasource())
	return b.Targets(targets(qs))
}

// timeSeries is a graph of qs over the time range.
func timeSeries(title, description, unit string, qs ...query) *timeseries.PanelBuilder {
	return withQueries(timeseries.NewPanelBuilder(), title, description, qs).
		Unit(unit).
		Min(0).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Legend(legend()).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
}

// legend lists the series below a graph.
func legend() *common.VizLegendOptionsBuilder {
	return common.NewVizLegendOptionsBuilder().
		DisplayMode(common.LegendDisplayModeList).
		Placement(common.LegendPlacementBottom).
		ShowLegend(true)
}

// bars is a graph of counts per interval, stacked.
func bars(title, description, unit string, qs ...query) *timeseries.PanelBuilder {
	return timeSeries(title, description, unit, qs...).
		DrawStyle(common.GraphDrawStyleBars).
		FillOpacity(80).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
}

// stacked is a graph of the shares of a whole, in percent.
func stacked(title, description string, qs ...query) *timeseries.PanelBuilder {
	return timeSeries(title, description, "percentunit", qs...).
		FillOpacity(60).
		Max(1).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModePercent))
}

// singleStat is one figure per series, with its recent trend.
func singleStat(title, description, unit string, qs ...query) *stat.PanelBuilder {
	return withQueries(stat.NewPanelBuilder(), title, description, qs).
		Unit(unit).
		Orientation(common.VizOrientationAuto).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		TextMode(common.BigValueTextModeValueAndName).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
}

// gauges are one horizontal bar per series, for comparing series.
func gauges(title, description, unit string, qs ...query) *bargauge.PanelBuilder {
	return withQueries(bargauge.NewPanelBuilder(), title, description, qs).
		Unit(unit).
		Min(0).
		Orientation(common.VizOrientationHorizontal).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
}

// timeline is a state timeline: one row per series, coloured by value.
func timeline(title, description string, qs ...query) *statetimeline.PanelBuilder {
	return withQueries(statetimeline.NewPanelBuilder(), title, description, qs).
		ShowValue(common.VisibilityModeNever).
		MergeValues(true).
		Legend(legend()).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeSingle).
			Sort(common.SortOrderNone))
}

// heatmapOf is a heatmap of a classic histogram's buckets: q sums the
// rate of its _bucket series by le.
func heatmapOf(title, description, unit string, q query) *heatmap.PanelBuilder {
	q.Format = prometheus.PromQueryFormatHeatmap
	return withQueries(heatmap.NewPanelBuilder(), title, description, []query{q}).
		Calculate(false).
		YAxis(heatmap.NewYAxisConfigBuilder().Unit(unit)).
		Color(heatmap.NewHeatmapColorOptionsBuilder().
			Mode(heatmap.HeatmapColorModeScheme).
			Scheme("Spectral").
			Fill("dark-orange").
			Scale(heatmap.HeatmapColorScaleExponential).
			Exponent(0.5).
			Steps(64)).
		CellGap(1).
		ShowLegend().
		Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(true))
}

// step is a threshold: from its value up, values take its colour.
type step struct {
	color string
	from  float64
}

// thresholds colours values: base below the first step, then each step's
// colour from its value up.
func thresholds(base string, steps ...step) *dashboard.ThresholdsConfigBuilder {
	out := []dashboard.Threshold{{Color: base}}
	for _, s := range steps {
		out = append(out, dashboard.Threshold{Color: s.color, Value: cog.ToPtr(s.from)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(out)
}

// valueText maps numbers to words and colours: the states of an encoded
// series.
func valueText(texts map[int][2]string) []dashboard.ValueMapping {
	options := map[string]dashboard.ValueMappingResult{}
	for v, tc := range texts {
		options[strconv.Itoa(v)] = dashboard.ValueMappingResult{Text: cog.ToPtr(tc[0]), Color: cog.ToPtr(tc[1]), Index: cog.ToPtr(int32(v))}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: options}}}
}

// link opens url in a new tab; url may use the dashboard's variables.
func link(title, url string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url(url).
		TargetBlank(true)
}

// dashboardLink opens another estate dashboard with the same time range
// and variables.
func dashboardLink(title, uid string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url("/d/" + uid).
		KeepTime(true).
		IncludeVars(true)
}

// explore is the URL of Grafana's Explore on data source uid with one
// query, over the dashboard's time range. Grafana interpolates the
// variables of a link before following it, so they stay readable in the
// encoded panes.
func explore(uid, typ string, q map[string]any) string {
	q["refId"] = "A"
	q["datasource"] = map[string]string{"type": typ, "uid": uid}
	panes := map[string]any{"estate": map[string]any{
		"datasource": uid,
		"queries":    []any{q},
		"range":      map[string]string{"from": "${__from}", "to": "${__to}"},
	}}
	b, _ := json.Marshal(panes) // maps and slices of strings always encode
	u := "/explore?schemaVersion=1&orgId=1&panes=" + url.QueryEscape(string(b))
	for _, v := range []string{"${__from}", "${__to}", "${service:percentencode}"} {
		u = strings.ReplaceAll(u, url.QueryEscape(v), v)
	}
	return u
}

// serviceLinks are the links from a panel of the service detail
// dashboard to the service's logs and traces: in Grafana's Explore on the
// Elasticsearch and Jaeger data sources, and on the collector's own API.
func serviceLinks(traceFilter string) []cog.Builder[dashboard.DashboardLink] {
	const svc = "${service:percentencode}"
	apiWindow := "&from=${__from:date:iso}&to=${__to:date:iso}"
	return []cog.Builder[dashboard.DashboardLink]{
		link("Logs of ${service} (Elasticsearch)", explore(DatasourceElasticsearch, "elasticsearch", map[string]any{
			"query":      `service.name:"` + svc + `"`,
			"metrics":    []any{map[string]string{"id": "1", "type": "logs"}},
			"bucketAggs": []any{},
			"timeField":  "@timestamp",
		})),
		link("Traces of ${service} (Jaeger)", explore(DatasourceJaeger, "jaeger", map[string]any{
			"queryType": "search",
			"service":   svc,
		})),
		link("Error logs of ${service} (collector API)", "${collector_api}/v1/logs?service="+svc+"&level=error"+apiWindow),
		link("Traces of ${service} (collector API)", "${collector_api}/v1/traces?service="+svc+traceFilter+apiWindow),
	}
}
