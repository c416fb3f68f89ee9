package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/internal/promquery"
)

var update = flag.Bool("update", false, "rewrite the generated files (as `estate dashboards generate` does)")

// generatedDir is where the generated files are checked in.
const generatedDir = "generated"

func generate(t *testing.T) Files {
	t.Helper()
	o, err := Default()
	require.NoError(t, err)
	files, err := Generate(o)
	require.NoError(t, err)
	return files
}

// TestGeneratedFilesAreCurrent is the golden test of every generated
// file: the checked-in ones are exactly what the code generates, so CI
// fails when the code changed and they were not generated again.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	files := generate(t)
	if *update {
		require.NoError(t, os.RemoveAll(generatedDir))
		require.NoError(t, files.Write(generatedDir))
	}
	require.NoError(t, Stale(generatedDir, files),
		"the checked-in files are stale: run `go run ./cmd/estate dashboards generate` (or go test ./dashboards -update)")
}

func TestGenerateIsStable(t *testing.T) {
	require.True(t, maps.EqualFunc(generate(t), generate(t), bytes.Equal))
}

func TestStaleNamesEveryDifference(t *testing.T) {
	dir := t.TempDir()
	want := Files{"a.json": []byte("{}\n"), "rules/b.yaml": []byte("groups: []\n"), "c.yml": []byte("x\n")}
	require.NoError(t, want.Write(dir))
	require.NoError(t, Stale(dir, want))

	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), []byte("{\"x\": 1}\n"), 0o600))
	require.NoError(t, os.Remove(filepath.Join(dir, "rules", "b.yaml")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old.json"), []byte("{}\n"), 0o600))
	err := Stale(dir, want)
	require.ErrorIs(t, err, ErrStale)
	for _, s := range []string{"a.json differs", "rules/b.yaml is missing", "old.json is not generated"} {
		require.ErrorContains(t, err, s)
	}
	require.NotContains(t, err.Error(), "c.yml")
}

// strictErrors decodes a dashboard with the SDK's strict decoding, which
// refuses unknown fields and fields of the wrong type at every level.
// The SDK (v0.0.22) returns its empty error list as a non-nil error, and
// so drops every panel it decoded without fault from the dashboard it
// fills: only the errors of the strict decoding are used, the value is
// decoded leniently (decode).
func strictErrors(b []byte) error {
	plugins.RegisterDefaultPlugins()
	var d boardModel
	err := d.UnmarshalJSONStrict(b)
	var be cog.BuildErrors
	if errors.As(err, &be) && len(be) == 0 {
		return nil
	}
	return err
}

func decode(t *testing.T, b []byte) boardModel {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	var d boardModel
	require.NoError(t, json.Unmarshal(b, &d))
	return d
}

// TestDashboardsDecodeStrictly: each dashboard decodes into the SDK's
// types, strictly (no unknown field, no field of the wrong type), every
// query as a Prometheus query, and encodes back to the same JSON.
func TestDashboardsDecodeStrictly(t *testing.T) {
	files := generate(t)
	var uids []string
	for _, p := range files.Paths() {
		if !strings.HasSuffix(p, ".json") {
			continue
		}
		t.Run(p, func(t *testing.T) {
			require.NoError(t, strictErrors(files[p]))
			d := decode(t, files[p])
			require.NotNil(t, d.Uid)
			require.Equal(t, *d.Uid+".json", p)
			uids = append(uids, *d.Uid)
			require.NotEmpty(t, d.Templating.List)
			ds := d.Templating.List[0]
			require.Equal(t, dashboard.VariableType("datasource"), ds.Type)
			require.Equal(t, "prometheus", *ds.Query.String)

			var queries int
			for _, pr := range d.Panels {
				panels := []dashboard.Panel{}
				if pr.Panel != nil {
					panels = append(panels, *pr.Panel)
				}
				if pr.RowPanel != nil {
					panels = append(panels, pr.RowPanel.Panels...)
				}
				for _, panel := range panels {
					require.NotEmpty(t, panel.Targets, "panel %s has no query", *panel.Title)
					for _, q := range panel.Targets {
						pq, ok := q.(*prometheus.Dataquery)
						require.True(t, ok, "panel %s: a query decoded as %T, not a Prometheus query", *panel.Title, q)
						require.Equal(t, "${datasource}", *pq.Datasource.Uid)
						queries++
					}
				}
			}
			require.Positive(t, queries)

			again, err := encodeJSON(d)
			require.NoError(t, err)
			require.Equal(t, string(files[p]), string(again), "the SDK's types hold the whole dashboard")
		})
	}
	require.ElementsMatch(t, []string{UIDOverview, UIDService, UIDReliability, UIDSLOs, UIDCollector, UIDChaos}, uids)
}

func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	b := generate(t)[UIDOverview+".json"]
	for name, in := range map[string]string{
		"dashboard": strings.Replace(string(b), `"editable"`, `"editabel": true, "editable"`, 1),
		"panel":     strings.Replace(string(b), `"gridPos"`, `"gridPoss": {}, "gridPos"`, 1),
		"query":     strings.Replace(string(b), `"legendFormat"`, `"legendFromat": "x", "legendFormat"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			require.NotEqual(t, string(b), in)
			require.ErrorContains(t, strictErrors([]byte(in)), "unexpected field")
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		in := strings.Replace(string(b), `"title": "Alerts firing"`, `"title": 5`, 1)
		require.NotEqual(t, string(b), in)
		require.ErrorContains(t, strictErrors([]byte(in)), "title")
	})
}

// TestEveryExpressionParses: every PromQL expression of every panel,
// variable, annotation and rule parses with its variables substituted.
func TestEveryExpressionParses(t *testing.T) {
	exprs, err := Expressions(generate(t))
	require.NoError(t, err)
	kinds := map[Kind]int{}
	files := map[string]bool{}
	for _, e := range exprs {
		kinds[e.Kind]++
		files[e.File] = true
	}
	for _, k := range []Kind{KindPanel, KindVariable, KindAnnotation, KindRecord, KindAlert} {
		require.Positive(t, kinds[k], "no %s expression found", k)
	}
	require.Len(t, files, 8, "six dashboards and two rules files")
}

func TestExpressionsNameWhatDoesNotParse(t *testing.T) {
	files := Files{
		"x.json": []byte(`{"templating": {"list": [{"type": "query", "name": "svc", "query": "label_values(up, job)"}]},
  "panels": [{"id": 7, "title": "Broken", "targets": [{"refId": "B", "expr": "sum(rate(up[$__rate_interval])"}]},
             {"id": 8, "title": "Unknown variable", "targets": [{"refId": "A", "expr": "rate(up{job=\"$svc\"}[$window])"}]},
             {"id": 9, "title": "Fine", "targets": [{"refId": "A", "expr": "rate(up{job=\"$svc\"}[$__rate_interval])"}]}]}`),
		"rules/x.rules.yaml": []byte("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up ==\n"),
	}
	_, err := Expressions(files)
	require.ErrorContains(t, err, `x.json: panel 7 "Broken" query B`)
	require.ErrorContains(t, err, `x.json: panel 8 "Unknown variable" query A`)
	require.NotContains(t, err.Error(), "panel 9")
	require.ErrorContains(t, err, "rules/x.rules.yaml")
}

func TestSubstitute(t *testing.T) {
	values := map[string]string{"service": "invoicing", "route": ".*", "service_name": "other"}
	for _, tc := range []struct{ name, in, want string }{
		{"plain", `x{service="$service"}`, `x{service="invoicing"}`},
		{"braces and format", `x{service="${service}", r=~"${route:regex}"}`, `x{service="invoicing", r=~".*"}`},
		{"longer name", `x{a="$service_name"}`, `x{a="other"}`},
		{"builtins", `rate(x[$__rate_interval]) offset $__interval + increase(x[$__range])`, `rate(x[1m]) offset 1m + increase(x[1h])`},
		{"unknown stays", `x{a="$nope"}`, `x{a="$nope"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Substitute(tc.in, values))
		})
	}
}

func TestAlertParts(t *testing.T) {
	for _, tc := range []struct {
		name, expr string
		want       []string
	}{
		{"comparison", `max by (job) (age) > 900`, []string{`max by (job) (age)`, `age`}},
		{"guarded ratio", `sum(rate(e[5m])) / sum(rate(r[5m])) > 0.05 and sum(increase(r[5m])) >= 100`,
			[]string{`sum(rate(e[5m])) / sum(rate(r[5m]))`, `e`, `r`, `r`}},
		{"bool comparison stays", `up > bool 0`, []string{`up > bool 0`, `up`}},
		{"vector comparison stays", `a > b`, []string{`a > b`, `a`, `b`}},
		{"absent", `absent(x{service="a"})`, []string{`x{service="a"}`}},
		{"parentheses", `(label_replace(up{job=~"a|b"}, "s", "$1", "job", "(.*)")) == 0`,
			[]string{`label_replace(up{job=~"a|b"}, "s", "$1", "job", "(.*)")`, `up{job=~"a|b"}`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := alertParts(tc.expr)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestEveryAlertHasARunbookSection: the runbook_url of every generated
// alert is a section of docs/runbooks.md.
func TestEveryAlertHasARunbookSection(t *testing.T) {
	doc, err := os.ReadFile("../docs/runbooks.md")
	require.NoError(t, err)
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(string(doc), -1) {
		anchors[githubAnchor(m[1])] = true
	}
	files := generate(t)
	urls := regexp.MustCompile(`runbook_url: (\S+)`).FindAllStringSubmatch(string(files[EstateRulesFile])+string(files[SLORulesFile]), -1)
	require.NotEmpty(t, urls)
	for _, u := range urls {
		base, anchor, ok := strings.Cut(u[1], "#")
		require.True(t, ok, u[1])
		require.Equal(t, DefaultRunbooks, base)
		require.True(t, anchors[anchor], "docs/runbooks.md has no section #%s", anchor)
	}
	for _, a := range append(collectorAlerts(), serviceAlerts()...) {
		require.True(t, anchors[a.anchor()], "docs/runbooks.md has no section for %s", a.Name)
	}
}

// githubAnchor is the fragment GitHub gives a heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestOptionsValidate(t *testing.T) {
	o, err := Default()
	require.NoError(t, err)
	require.NoError(t, o.Validate())
	o.MinEvents = -1
	o.Endpoints.Collector = "collector:8088"
	o.Runbooks = ""
	err = o.Validate()
	for _, s := range []string{"min_events must not be negative", "endpoints.collector must be an absolute URL", "runbooks must be an absolute URL"} {
		require.ErrorContains(t, err, s)
	}
	_, err = Generate(o)
	require.ErrorContains(t, err, "endpoints.collector")
}

func TestAlertsAreDistinct(t *testing.T) {
	var names []string
	for _, a := range append(collectorAlerts(), serviceAlerts()...) {
		require.NotContains(t, names, a.Name)
		names = append(names, a.Name)
		require.NotEmpty(t, a.Test.Above, a.Name)
		require.NotEmpty(t, a.Test.Below, a.Name)
		require.Contains(t, []string{"page", "ticket"}, string(a.Severity), a.Name)
	}
}

// fakeQuerier answers the instant queries it knows with a vector of the
// label sets given, and range queries with one sample each; anything
// else with nothing.
type fakeQuerier struct {
	series map[string][]model.LabelSet
	asked  []string
}

func (f *fakeQuerier) Query(_ context.Context, expr string, at time.Time) (model.Value, error) {
	f.asked = append(f.asked, expr)
	var vec model.Vector
	for _, ls := range f.series[expr] {
		vec = append(vec, &model.Sample{Metric: model.Metric(ls), Value: 1, Timestamp: model.TimeFromUnixNano(at.UnixNano())})
	}
	return vec, nil
}

func (f *fakeQuerier) QueryRange(_ context.Context, expr string, r promquery.Range) (model.Matrix, error) {
	f.asked = append(f.asked, "range "+expr)
	var m model.Matrix
	for _, ls := range f.series[expr] {
		m = append(m, &model.SampleStream{Metric: model.Metric(ls), Values: []model.SamplePair{{Timestamp: model.TimeFromUnixNano(r.End.UnixNano()), Value: 1}}})
	}
	return m, nil
}

func TestVerify(t *testing.T) {
	files := Files{
		"d.json": []byte(`{"templating": {"list": [
    {"type": "datasource", "name": "datasource", "query": "prometheus"},
    {"type": "query", "name": "service", "query": "label_values(x, service)"},
    {"type": "query", "name": "route", "query": "label_values(x{service=\"$service\"}, route)", "includeAll": true, "allValue": ".*"},
    {"type": "custom", "name": "window", "query": "7d,30d"}]},
  "panels": [
    {"id": 1, "title": "Rate", "targets": [{"refId": "A", "expr": "rate(x{service=\"$service\", route=~\"$route\"}[$__rate_interval])"}]},
    {"id": 2, "title": "Now", "targets": [{"refId": "A", "expr": "y{window=\"$window\"}", "instant": true}]},
    {"id": 3, "title": "Misspelt", "targets": [{"refId": "A", "expr": "z"}]}],
  "annotations": {"list": [{"name": "Deploys", "expr": "d > bool 0"}]}}`),
		"rules/r.rules.yaml": []byte("groups:\n- name: g\n  rules:\n  - alert: High\n    expr: sum(rate(x[5m])) > 5 and sum(y) > 0\n  - alert: Gone\n    expr: absent(nope)\n"),
	}
	exprs, err := Expressions(files)
	require.NoError(t, err)
	q := &fakeQuerier{series: map[string][]model.LabelSet{
		`x`:                                     {{"service": "b"}, {"service": "a"}},
		`x{service="a"}`:                        {{"service": "a", "route": "/r"}},
		`rate(x{service="a", route=~".*"}[1m])`: {{}},
		`y{window="7d"}`:                        {{}},
		`d > bool 0`:                            {{}},
		`sum(rate(x[5m]))`:                      {{}},
		`y`:                                     {{}},
	}}
	var got []string
	for _, p := range Verify(t.Context(), q, exprs, time.Unix(1e9, 0)) {
		got = append(got, p.Error())
	}
	require.Equal(t, []string{
		`d.json: panel 3 "Misspelt" query A: z returns no data`,
		`rules/r.rules.yaml: group g alert Gone {}: nope returns no data`,
	}, got)
	require.Contains(t, q.asked, `range rate(x{service="a", route=~".*"}[1m])`, "a range query for a panel over the time range, with the first service and All routes")
	require.Contains(t, q.asked, `y{window="7d"}`, "an instant query for an instant panel, with the first window")
	require.NotContains(t, q.asked, `absent(nope)`, "absent() has a value only while it fires")
}
