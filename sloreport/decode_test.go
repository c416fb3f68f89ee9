package sloreport

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/sloreport/examples"
)

// valid is a document every error case below changes one thing of.
const valid = `apiVersion: openslo/v1
kind: SLO
metadata:
  name: inv-availability
  displayName: Invoicing availability
  labels:
    environment: production
  annotations:
    runbook_url: https://runbooks.example/inv
spec:
  service: inv
  description: Requests answered without a server error.
  indicator:
    metadata:
      name: inv-errors
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: Prometheus
            spec:
              query: sum(requests_total{service="inv", code!~"5.."})
        total:
          metricSource:
            type: Prometheus
            spec:
              query: requests_total{service="inv"}
  timeWindow:
    - duration: 4w
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - displayName: three nines
      target: 0.999
`

func TestParseValid(t *testing.T) {
	slos, err := Parse("inv.yaml", []byte(valid))
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]SLO{{
		Name:        "inv-availability",
		DisplayName: "Invoicing availability",
		Service:     "inv",
		Description: "Requests answered without a server error.",
		Labels:      map[string]string{"environment": "production"},
		Annotations: map[string]string{"runbook_url": "https://runbooks.example/inv"},
		Indicator: Indicator{
			Good:  `requests_total{code!~"5..",service="inv"}`,
			Total: `requests_total{service="inv"}`,
		},
		Objective: 0.999,
		Window:    Window{Kind: Rolling, Length: 28 * 24 * time.Hour},
	}}, slos))
	require.Equal(t, 0.001, slos[0].Budget())
	require.Equal(t, "28d rolling", slos[0].Window.String())
}

func TestParseLatencyAndCalendar(t *testing.T) {
	head, rest, _ := strings.Cut(valid, "      ratioMetric:")
	_, tail, _ := strings.Cut(rest, "  timeWindow:")
	doc := head + `      thresholdMetric:
        metricSource:
          type: Prometheus
          spec:
            query: http_request_duration_seconds{service="inv"}
  timeWindow:` + tail
	doc = strings.NewReplacer(
		"    - duration: 4w\n      isRolling: true",
		"    - duration: 1M\n      calendar:\n        startTime: \"2026-01-15 06:00:00\"\n        timeZone: Europe/Paris",
		"      target: 0.999",
		"      op: lte\n      value: 1\n      targetPercent: 99",
	).Replace(doc)
	slos, err := Parse("", []byte(doc))
	require.NoError(t, err)
	s := slos[0]
	require.Equal(t, Indicator{
		Good:    `http_request_duration_seconds_bucket{le=~"1|1\\.0",service="inv"}`,
		Total:   `http_request_duration_seconds_count{service="inv"}`,
		Latency: &Latency{Histogram: `http_request_duration_seconds{service="inv"}`, Threshold: 1},
	}, s.Indicator)
	require.Equal(t, 0.99, s.Objective)
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	require.Equal(t, Window{Kind: Calendar, Unit: Month, Anchor: time.Date(2026, 1, 15, 6, 0, 0, 0, paris)}, s.Window)
	require.Equal(t, "calendar month", s.Window.String())
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // a change to valid
		want     []string
	}{
		{"target above 1", "target: 0.999", "target: 1.2",
			[]string{"x.yaml:35: spec.objectives[0].target: must be between 0 and 1, not 1.2"}},
		{"target not a number", "target: 0.999", "target: high",
			[]string{`x.yaml:35: spec.objectives[0].target: must be a number, not "high"`}},
		{"unknown key", "  service: inv\n", "  service: inv\n  servce: inv\n",
			[]string{"x.yaml:12: spec.servce: unknown field (spec has budgetingMethod, description, indicator, indicatorRef, objectives, service, timeWindow)"}},
		{"misspelt key, and the field it misses", "  service: inv\n", "  servce: inv\n",
			[]string{"x.yaml:10: spec.service: is required", "x.yaml:11: spec.servce: unknown field (spec has budgetingMethod, description, indicator, indicatorRef, objectives, service, timeWindow)"}},
		{"key twice", "  service: inv\n", "  service: inv\n  service: inv\n",
			[]string{"x.yaml:12: spec.service: is set twice"}},
		{"wrong version", "apiVersion: openslo/v1", "apiVersion: openslo/v1alpha",
			[]string{`x.yaml:1: apiVersion: must be openslo/v1, not "openslo/v1alpha"`}},
		{"wrong kind", "kind: SLO", "kind: SLI",
			[]string{`x.yaml:2: kind: must be SLO, not "SLI"`}},
		{"name not a DNS label", "name: inv-availability", "name: Inv_Availability",
			[]string{`x.yaml:4: metadata.name: must be at most 63 lowercase letters, digits and dashes, starting and ending with a letter or digit, not "Inv_Availability"`}},
		{"reserved label", "environment: production", "severity: low",
			[]string{"x.yaml:7: metadata.labels.severity: must be a Prometheus label name other than slo, service, severity, alertname, long_window, short_window and selector"}},
		{"labels not strings", "environment: production", "environment: [a, b]",
			[]string{"x.yaml:7: metadata.labels.environment: must be a string, not a list"}},
		{"timeslices", "budgetingMethod: Occurrences", "budgetingMethod: Timeslices",
			[]string{`x.yaml:32: spec.budgetingMethod: must be Occurrences, the only method supported, not "Timeslices"`}},
		{"rolling window in months", "duration: 4w", "duration: 1M",
			[]string{`x.yaml:30: spec.timeWindow[0].duration: must be in days or weeks (d, w) for a rolling window, not "1M"`}},
		{"rolling window too long", "duration: 4w", "duration: 91d",
			[]string{`x.yaml:30: spec.timeWindow[0].duration: must be from 1d to 90d, not "91d"`}},
		{"window not rolling nor calendar", "isRolling: true", "isRolling: false",
			[]string{"x.yaml:31: spec.timeWindow[0].isRolling: must be true, or calendar must be set"}},
		{"two windows", "  budgetingMethod:", "    - duration: 7d\n      isRolling: true\n  budgetingMethod:",
			[]string{"x.yaml:29: spec.timeWindow: must have exactly one window, not 2"}},
		{"not a counter", "counter: true", "counter: false",
			[]string{"x.yaml:18: spec.indicator.spec.ratioMetric.counter: must be true: only ratios of counters are supported"}},
		{"an expression", `query: requests_total{service="inv"}`, `query: rate(requests_total{service="inv"}[5m])`,
			[]string{`x.yaml:28: spec.indicator.spec.ratioMetric.total.metricSource.spec.query: must select counters, such as http_requests_total{code!~"5.."} or the sum of such a selector, not "rate(requests_total{service=\"inv\"}[5m])"`}},
		{"sum by", `query: sum(requests_total{service="inv", code!~"5.."})`, `query: sum by (code) (requests_total)`,
			[]string{`x.yaml:23: spec.indicator.spec.ratioMetric.good.metricSource.spec.query: must select counters, such as http_requests_total{code!~"5.."} or the sum of such a selector, not "sum by (code) (requests_total)"`}},
		{"not PromQL", `query: requests_total{service="inv"}`, `query: requests_total{service="inv"`,
			[]string{`x.yaml:28: spec.indicator.spec.ratioMetric.total.metricSource.spec.query: is not PromQL: 1:29: parse error: unexpected end of input inside braces`}},
		{"no metric name", `query: requests_total{service="inv"}`, `query: '{service="inv"}'`,
			[]string{`x.yaml:28: spec.indicator.spec.ratioMetric.total.metricSource.spec.query: must name its metric, such as http_requests_total{...}, not "{service=\"inv\"}"`}},
		{"not Prometheus", "            type: Prometheus\n            spec:\n              query: requests_total", "            type: Datadog\n            spec:\n              query: requests_total",
			[]string{`x.yaml:26: spec.indicator.spec.ratioMetric.total.metricSource.type: must be Prometheus, not "Datadog"`}},
		{"good and bad", "        total:", "        bad:\n          metricSource:\n            type: Prometheus\n            spec:\n              query: errors_total\n        total:",
			[]string{"x.yaml:17: spec.indicator.spec.ratioMetric: must have one of good and bad, not both"}},
		{"op on a ratio", "      target: 0.999", "      target: 0.999\n      op: lte",
			[]string{"x.yaml:36: spec.objectives[0].op: is only for a thresholdMetric indicator"}},
		{"two objectives", "      target: 0.999", "      target: 0.999\n    - target: 0.99",
			[]string{"x.yaml:33: spec.objectives: must have exactly one objective (write one SLO per objective), not 2"}},
		{"indicatorRef", "  indicator:\n", "  indicatorRef: inv-errors\n  indicator:\n",
			[]string{"x.yaml:13: spec.indicatorRef: is not supported: write the indicator inline under spec.indicator"}},
		{"spec a list", "spec:\n  service: inv\n", "spec: [1]\nx:\n  service: inv\n",
			[]string{"x.yaml:10: spec: must be a mapping, not a list", "x.yaml:11: x: unknown field (the document has apiVersion, kind, metadata, spec)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := strings.Replace(valid, tc.old, tc.new, 1)
			require.NotEqual(t, valid, doc, "the change applies")
			_, err := Parse("x.yaml", []byte(doc))
			require.Error(t, err)
			require.Equal(t, tc.want, lines(err))
		})
	}
}

func TestParseErrorsThreshold(t *testing.T) {
	doc := strings.NewReplacer(
		"      ratioMetric:\n        counter: true\n        good:\n", "      thresholdMetric:\n",
		`              query: sum(requests_total{service="inv", code!~"5.."})`, `              query: latency_seconds_bucket{le="0.5"}`,
	).Replace(valid)
	head, rest, _ := strings.Cut(doc, "        total:")
	_, tail, _ := strings.Cut(rest, "  timeWindow:")
	doc = head + "  timeWindow:" + tail
	doc = strings.Replace(doc, "          metricSource:", "        metricSource:", 1)
	_, err := Parse("x.yaml", []byte(doc))
	require.Equal(t, []string{
		"x.yaml:21: spec.indicator.spec.thresholdMetric.metricSource.spec.query: must name the histogram without its _bucket suffix, such as latency_seconds",
		`x.yaml:27: spec.objectives[0].op: must be lte (an event is good when it is at most value: a histogram bucket), not ""`,
		"x.yaml:27: spec.objectives[0].value: is required: the histogram bucket boundary, such as 0.25",
	}, lines(err))
}

func TestParseDocuments(t *testing.T) {
	second := strings.Replace(valid, "name: inv-availability", "name: inv-latency", 1)
	slos, err := Parse("x.yaml", []byte("---\n"+valid+"---\n"+second+"---\n"))
	require.NoError(t, err)
	require.Len(t, slos, 2)

	slos, err = Parse("x.yaml", []byte(valid+"---\n"+valid))
	require.Len(t, slos, 1)
	require.Equal(t, []string{`x.yaml:40: metadata.name: "inv-availability" names an earlier SLO of this file too`}, lines(err))

	_, err = Parse("x.yaml", []byte("apiVersion: openslo/v1\nkind: [SLO\n"))
	require.Equal(t, []string{"x.yaml:1: is not valid YAML: did not find expected ',' or ']'"}, lines(err))

	fsys := fstest.MapFS{"a.yaml": {Data: []byte(valid)}, "b.yml": {Data: []byte(valid)}, "c.txt": {Data: []byte("not yaml: [")}}
	slos, err = ParseFS(fsys)
	require.Len(t, slos, 1)
	require.Equal(t, []string{`b.yml: metadata.name: "inv-availability" names an SLO of a.yaml too`}, lines(err))

	_, err = ParseFiles("testdata/none.yaml")
	require.ErrorContains(t, err, "testdata/none.yaml: cannot be read: open testdata/none.yaml: no such file or directory")
}

func TestParseAliasBomb(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		b.WriteString(strings.Repeat(" ", 0))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	_, err := Parse("bomb.yaml", b.Bytes())
	require.Error(t, err)
}

func TestParseExamples(t *testing.T) {
	slos, err := ParseFS(examples.FS)
	require.NoError(t, err)
	var names []string
	for _, s := range slos {
		names = append(names, s.Name+" "+s.Service+" "+s.Window.String())
	}
	require.Equal(t, []string{
		"credit-availability credit calendar month",
		"credit-latency credit 7d rolling",
		"invoicing-availability invoicing 30d rolling",
		"invoicing-latency invoicing 30d rolling",
	}, names)
}

// lines are the messages of err, each a *FieldError.
func lines(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *FieldError
		if !errors.As(err, &fe) {
			out = append(out, "not a field error: "+err.Error())
			return
		}
		out = append(out, fe.Error())
	}
	if err != nil {
		walk(err)
	}
	return out
}

// FuzzParse: no input panics; every problem is a *FieldError; an accepted
// SLO has rules that Prometheus's rules manager loads.
func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	for _, name := range []string{"invoicing.yaml", "credit.yaml"} {
		b, err := examples.FS.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("---\n---\nkind: SLO\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		slos, err := Parse("f.yaml", data)
		for _, l := range lines(err) {
			if strings.HasPrefix(l, "not a field error") {
				t.Fatal(l)
			}
		}
		if len(slos) == 0 {
			return
		}
		groups, err := Generate(slos, RuleOptions{MinEvents: 1})
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, WriteRules(&b, groups))
		parseRules(t, b.Bytes())
	})
}
