package sloreport

import (
	"bytes"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/sloreport/examples"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got), "run go test -update to accept the change")
}

// parseRules reads rules as Prometheus's rules manager does.
func parseRules(t *testing.T, b []byte) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(b, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	require.Empty(t, errs)
	return groups
}

func TestGenerateExamples(t *testing.T) {
	slos, err := ParseFS(examples.FS)
	require.NoError(t, err)
	groups, err := Generate(slos, RuleOptions{MinEvents: DefaultMinEvents})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, WriteRules(&b, groups))
	golden(t, "examples.rules.yaml", b.Bytes())

	parsed := parseRules(t, b.Bytes())
	require.Equal(t, groups, *parsed, "the file reads back as the value")
	require.Len(t, parsed.Groups, 2*len(slos))
	for i, g := range parsed.Groups {
		if i%2 == 1 {
			// The counts group: the step's increase and the sum of each
			// counter, every step.
			s := slos[i/2]
			require.Equal(t, "slo-"+s.Name+":counts", g.Name)
			require.Equal(t, model.Duration(Step), g.Interval)
			require.Len(t, g.Rules, 4, g.Name)
			for j, r := range g.Rules {
				require.Equal(t, []string{StepIncreaseRecord, StepSumRecord}[j%2], r.Record, g.Name)
				require.Equal(t, []string{s.Indicator.Total, s.Indicator.Total, s.Indicator.Good + s.Indicator.Bad, s.Indicator.Good + s.Indicator.Bad}[j], r.Labels[SelectorLabel], g.Name)
				require.Equal(t, s.Name, r.Labels["slo"], g.Name)
			}
			continue
		}
		require.Equal(t, "slo-"+slos[i/2].Name, g.Name)
		require.Zero(t, g.Interval, "the evaluator's interval")
		// Per window a ratio and an event count, the four burn alerts and
		// the absent-data alert, the alerts after what they read.
		require.Len(t, g.Rules, 2*len(BurnWindows())+len(BurnAlerts())+1, g.Name)
		for i, r := range g.Rules {
			if i < 2*len(BurnWindows()) {
				require.NotEmpty(t, r.Record, g.Name)
				continue
			}
			require.NotEmpty(t, r.Alert, g.Name)
			for _, l := range []string{"slo", "service", "severity"} {
				require.NotEmpty(t, r.Labels[l], "%s %s: label %s", g.Name, r.Alert, l)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				require.NotEmpty(t, r.Annotations[a], "%s %s: annotation %s", g.Name, r.Alert, a)
			}
		}
	}
}

func TestGenerateOptions(t *testing.T) {
	slo := ratioSLO(rolling(7 * 24 * 3600e9))
	slo.Annotations = map[string]string{"runbook_url": "https://runbooks.example/inv"}
	slo.Labels = map[string]string{"environment": "staging"}
	groups, err := Generate([]SLO{slo}, RuleOptions{MinEvents: 25, AbsentFor: 3600e9})
	require.NoError(t, err)
	rules := groups.Groups[0].Rules
	fast := rules[2*len(BurnWindows())]
	require.Equal(t, "estate_slo:sli_error:ratio_rate1h{slo=\"inv-availability\", service=\"inv\"} / 0.001 > 14.4\n"+
		"and\nestate_slo:sli_error:ratio_rate5m{slo=\"inv-availability\", service=\"inv\"} / 0.001 > 14.4\n"+
		"and\nestate_slo:sli_events:increase1h{slo=\"inv-availability\", service=\"inv\"} >= 25\n"+
		"and\nestate_slo:sli_events:increase5m{slo=\"inv-availability\", service=\"inv\"} >= 25", fast.Expr)
	require.Equal(t, map[string]string{
		"slo": "inv-availability", "service": "inv", "environment": "staging",
		"severity": "page", "long_window": "1h", "short_window": "5m",
	}, fast.Labels)
	require.Equal(t, "https://runbooks.example/inv", fast.Annotations["runbook_url"])
	absent := rules[len(rules)-1]
	require.Equal(t, AbsentAlertName, absent.Alert)
	require.Equal(t, `absent(requests_total{service="inv"})`, absent.Expr)
	require.Equal(t, model.Duration(3600e9), absent.For)

	_, err = Generate([]SLO{slo}, RuleOptions{MinEvents: -1})
	require.Error(t, err)
}
