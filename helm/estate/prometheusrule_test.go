package estate_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/estatehq/estate/internal/promquery/promquerytest"
)

// decodeRules decodes a Prometheus rules file strictly.
func decodeRules(t *testing.T, doc []byte) rulefmt.RuleGroups {
	t.Helper()
	var groups rulefmt.RuleGroups
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&groups))
	return groups
}

// TestPrometheusRuleHoldsExactlyTheRulesFile renders the PrometheusRule from
// a rules file and checks that its groups are the file's, rule for rule, and
// that promtool accepts them as a rules file.
func TestPrometheusRuleHoldsExactlyTheRulesFile(t *testing.T) {
	manifests := renderObjects(t, allOn(""), "estate")
	rules := objectsOf[*monitoringv1.PrometheusRule](manifests)
	require.Len(t, rules, 1)
	pr := rules[0]
	require.Equal(t, "kube-prometheus-stack", pr.Labels["release"], "the Prometheus's ruleSelector must match")

	// The spec's groups, as a rules file.
	spec, err := json.Marshal(pr.Spec)
	require.NoError(t, err)
	var generic map[string]any
	require.NoError(t, yaml.Unmarshal(spec, &generic))
	rendered, err := yaml.Marshal(generic)
	require.NoError(t, err)

	file, err := os.ReadFile("testdata/rules.yaml")
	require.NoError(t, err)
	want := decodeRules(t, file)
	if diff := cmp.Diff(want, decodeRules(t, rendered)); diff != "" {
		t.Fatalf("the PrometheusRule's groups differ from the rules file (-file +rendered):\n%s", diff)
	}

	path := filepath.Join(t.TempDir(), "rendered.rules.yaml")
	require.NoError(t, os.WriteFile(path, rendered, 0o600))
	out, err := exec.CommandContext(t.Context(), promquerytest.Promtool(t), "check", "rules", path).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
	var n int
	for _, g := range want.Groups {
		n += len(g.Rules)
	}
	require.Contains(t, string(out), fmt.Sprintf("SUCCESS: %d rules found", n))
}

// TestPrometheusRuleNeedsRules checks that a PrometheusRule is never
// rendered empty or from something that is not a rules file.
func TestPrometheusRuleNeedsRules(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "no rules",
			args: []string{"--set", "prometheusRule.enabled=true"},
			want: "prometheusRule.enabled but there are no rules",
		},
		{
			name: "not YAML",
			args: []string{"--set", "prometheusRule.enabled=true", "--set-file", "prometheusRule.rules=" + write("bad.yaml", "groups: [unclosed")},
			want: "prometheusRule.rules is not a YAML rules file",
		},
		{
			name: "a group twice",
			args: []string{"--set", "prometheusRule.enabled=true", "--set-file", "prometheusRule.rules=" + write("twice.yaml", "groups:\n  - {name: a, rules: [{record: x, expr: up}]}\n  - {name: a, rules: [{record: y, expr: up}]}\n")},
			want: `rule group "a" appears twice`,
		},
		{
			name: "no groups",
			args: []string{"--set", "prometheusRule.enabled=true", "--set-file", "prometheusRule.rules=" + write("empty.yaml", "rules: []\n")},
			want: "prometheusRule.rules has no rule groups",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireFailsNaming(t, render{name: tc.name, args: tc.args}, tc.want)
		})
	}
}

// TestPackagedRulesAndDashboards renders a copy of the chart that carries
// rules files and dashboards in files/, as a chart packaged with the
// generated ones does: the PrometheusRule holds the groups of every rules
// file in file name order, and each dashboard is a ConfigMap.
func TestPackagedRulesAndDashboards(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "estate")
	require.NoError(t, os.CopyFS(dir, os.DirFS(".")))
	rules, err := os.ReadFile("testdata/rules.yaml")
	require.NoError(t, err)
	dashboard, err := os.ReadFile("testdata/dashboard.json")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "files/rules/b-estate.yaml"), rules, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "files/rules/a-extra.yaml"), []byte("groups:\n  - name: extra\n    rules:\n      - record: estate:up:sum\n        expr: sum(up)\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "files/dashboards/estate-red.json"), dashboard, 0o600))

	out, err := runHelm(t, "template", release, dir, "--namespace", "estate", "--set", "prometheusRule.enabled=true", "--set", "grafanaDashboards.enabled=true")
	require.NoError(t, err)
	manifests, err := decodeManifests(out)
	require.NoError(t, err)

	prs := objectsOf[*monitoringv1.PrometheusRule](manifests)
	require.Len(t, prs, 1)
	var groups []string
	for _, g := range prs[0].Spec.Groups {
		groups = append(groups, g.Name)
	}
	require.Equal(t, []string{"extra", "estate-invoicing-availability", "estate-collector"}, groups)

	configMaps := objectsOf[*corev1.ConfigMap](manifests)
	require.Len(t, configMaps, 1)
	require.Equal(t, "estate-dashboard-estate-red", configMaps[0].Name)
	require.Equal(t, "1", configMaps[0].Labels["grafana_dashboard"])
	require.JSONEq(t, string(dashboard), configMaps[0].Data["estate-red.json"])
}
