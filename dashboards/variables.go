package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// allValue is what a variable set to All stands for in a query: any value,
// for selectors that match it with =~.
const allValue = ".*"

// board builds a dashboard of the SDK's v1 schema, the JSON model Grafana
// has always stored. The SDK deprecates it for its v2 schema, which only
// Grafana 12 with its kubernetesDashboards feature provisions; Grafana's
// file provisioning and the dashboard sidecar of Grafana's Helm chart load
// v1 JSON in every version.
//
//lint:ignore SA1019 the v1 schema is the one every Grafana provisions (above)
type board = dashboard.DashboardBuilder //nolint:staticcheck // the v1 schema is the one every Grafana provisions (above)

// newDashboard is an estate dashboard: read-only (it is generated), with
// the datasource variable first and a menu of the other estate
// dashboards.
func newDashboard(uid, title, description string) *board {
	//lint:ignore SA1019 the v1 schema is the one every Grafana provisions (board)
	return dashboard.NewDashboardBuilder(title). //nolint:staticcheck // the v1 schema is the one every Grafana provisions (board)
							Uid(uid).
							Description(description).
							Tags([]string{"estate"}).
							Readonly().
							Refresh("30s").
							Time("now-6h", "now").
							Timezone(common.TimeZoneBrowser).
							Tooltip(dashboard.DashboardCursorSyncCrosshair).
							WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
								Label("Metrics").
								Description("The collector's embedded PromQL API, or a Prometheus scraping the estate.").
								Type("prometheus").
								Current(option("Estate", DatasourceEstate))).
							Link(dashboard.NewDashboardLinkBuilder("Estate").
								Type(dashboard.DashboardLinkTypeDashboards).
								Tags([]string{"estate"}).
								AsDropdown(true).
								KeepTime(true).
								IncludeVars(true))
}

func option(text, value string) dashboard.VariableOption {
	return dashboard.VariableOption{
		Selected: cog.ToPtr(true),
		Text:     dashboard.StringOrArrayOfString{String: cog.ToPtr(text)},
		Value:    dashboard.StringOrArrayOfString{String: cog.ToPtr(value)},
	}
}

// labelValues is a variable over the values of label on the series
// selector selects; all lets one pick several, or All (any value).
func labelValues(name, label, selector string, all bool) *dashboard.QueryVariableBuilder {
	q := fmt.Sprintf("label_values(%s, %s)", selector, label)
	b := dashboard.NewQueryVariableBuilder(name).
		Label(strings.ToUpper(name[:1]) + name[1:]).
		Datasource(promDatasource()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(q)}).
		Definition(q).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
	if all {
		b.Multi(true).
			IncludeAll(true).
			AllValue(allValue).
			Current(option("All", "$__all"))
	}
	return b
}

// choice is a variable over fixed values, the first chosen at first.
func choice(name, label string, values ...string) *dashboard.CustomVariableBuilder {
	options := make([]dashboard.VariableOption, 0, len(values))
	for i, v := range values {
		o := option(v, v)
		o.Selected = cog.ToPtr(i == 0)
		options = append(options, o)
	}
	return dashboard.NewCustomVariableBuilder(name).
		Label(label).
		Values(dashboard.StringOrMap{String: cog.ToPtr(strings.Join(values, ","))}).
		Options(options).
		Current(option(values[0], values[0]))
}

// collectorAPI is the variable of the collector's API URL, which the links
// to its log and trace API use: the URL a browser reaches it at.
func collectorAPI(defaultURL string) *dashboard.TextBoxVariableBuilder {
	return dashboard.NewTextBoxVariableBuilder("collector_api").
		Label("Collector API").
		Description("The collector's API as your browser reaches it, for the links to its log and trace API.").
		DefaultValue(dashboard.StringOrMap{String: cog.ToPtr(defaultURL)}).
		Current(option(defaultURL, defaultURL))
}
