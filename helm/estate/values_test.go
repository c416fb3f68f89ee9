package estate_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestSchemaRefusesWrongValues checks that values.schema.json refuses
// wrong types, unknown keys at every level and values out of their range,
// and that helm's message names the value.
func TestSchemaRefusesWrongValues(t *testing.T) {
	valuesFile := func(content string) string {
		p := filepath.Join(t.TempDir(), "values.yaml")
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown top-level key", []string{"--set", "colector.enabled=false"}, []string{"at ''", "'colector' not allowed"}},
		{"unknown nested key", []string{"--set", "collector.queue.maxSiz=1Gi"}, []string{"at '/collector/queue'", "'maxSiz' not allowed"}},
		{"unknown key in a Kubernetes type", []string{"--set", "invoicing.affinity.nodeAffinity.required=x"}, []string{"at '/invoicing/affinity/nodeAffinity'", "'required' not allowed"}},
		{"unknown key in an env entry", []string{"--values", valuesFile("credit:\n  extraEnv:\n    - name: X\n      valu: y\n")}, []string{"at '/credit/extraEnv/0'", "'valu' not allowed"}},
		{"string for an integer", []string{"--set", "invoicing.replicas=two"}, []string{"at '/invoicing/replicas'", "want integer"}},
		{"string for a boolean", []string{"--set-string", "networkPolicy.enabled=yes"}, []string{"at '/networkPolicy/enabled'", "want boolean"}},
		{"list for a map", []string{"--set", "commonLabels[0]=a"}, []string{"at '/commonLabels'", "want object"}},
		{"map for a list", []string{"--set", "auth.audiences.x=a"}, []string{"at '/auth/audiences'", "want array"}},
		{"number for a string label", []string{"--set", "commonLabels.team=3"}, []string{"at '/commonLabels/team'", "want string"}},
		{"unknown enum value", []string{"--set", "collector.queue.durability=sometimes"}, []string{"at '/collector/queue/durability'", "'fsync', 'interval', 'none'"}},
		{"not a quantity", []string{"--set", "credit.resources.limits.memory=lots"}, []string{"at '/credit/resources/limits/memory'"}},
		{"no memory limit", []string{"--set", "credit.resources.limits.memory=null"}, []string{"at '/credit/resources/limits'", "missing property 'memory'"}},
		{"not a duration", []string{"--set", "collector.store.maxAge=a week"}, []string{"at '/collector/store/maxAge'", "does not match pattern"}},
		{"not a URL", []string{"--set", "auth.issuer=cognito"}, []string{"at '/auth/issuer'", "does not match pattern"}},
		{"not a namespace name", []string{"--set", "chaos.kubernetes.namespaces[0]=Team_A"}, []string{"at '/chaos/kubernetes/namespaces/0'"}},
		{"a Chaos Mesh resource the controller does not create", []string{"--set", "chaos.kubernetes.resources[0]=iochaos"}, []string{"at '/chaos/kubernetes/resources/0'"}},
		{"GOMEMLIMIT above the limit", []string{"--set", "goMemLimitPercent=120"}, []string{"at '/goMemLimitPercent'", "maximum"}},
		{"ingress to an unknown target", []string{"--values", valuesFile("ingress:\n  enabled: true\n  hosts:\n    - paths:\n        - {path: /, pathType: Prefix, target: grafana}\n")}, []string{"at '/ingress/hosts/0/paths/0/target'"}},
		{"a secret's value instead of its name", []string{"--set", "invoicing.postgres.dsn=postgres://user:pw@db/invoicing"}, []string{"at '/invoicing/postgres'", "'dsn' not allowed"}},
		{"a string for the analysis' dry run", []string{"--set-string", "collector.rollout.dryRun=yes"}, []string{"at '/collector/rollout/dryRun'", "want boolean"}},
		{"an analysis window not in whole seconds", []string{"--set", "collector.rollout.window=1500ms"}, []string{"at '/collector/rollout/window'", "does not match pattern"}},
		{"an analysis window of nothing", []string{"--set", "collector.rollout.interval=0s"}, []string{"at '/collector/rollout/interval'", "does not match pattern"}},
		{"a service's window not a duration", []string{"--set", "collector.rollout.windows.invoicing=soon"}, []string{"at '/collector/rollout/windows/invoicing'", "does not match pattern"}},
		{"a window of a service whose name would not parse", []string{"--set-json", `collector.rollout.windows={"invoicing,credit":"10m"}`}, []string{"at '/collector/rollout/windows'", "'invoicing,credit' not allowed"}},
		{"a list of environments in one string", []string{"--set-json", `collector.rollout.environments=["staging,production"]`}, []string{"at '/collector/rollout/environments/0'", "does not match pattern"}},
		{"a repository without its owner", []string{"--set", "collector.rollout.hooks.github.repo=deployments"}, []string{"at '/collector/rollout/hooks/github/repo'", "does not match pattern"}},
		{"not a namespace for Argo Rollouts", []string{"--set", "collector.rollout.hooks.argo.namespace=Team_A"}, []string{"at '/collector/rollout/hooks/argo/namespace'"}},
		{"a rollback hook the collector does not have", []string{"--set", "collector.rollout.hooks.slack.url=https://hooks.slack.com/x"}, []string{"at '/collector/rollout/hooks'", "'slack' not allowed"}},
		{"a hook's token instead of its Secret", []string{"--set", "collector.rollout.hooks.github.token=ghp_x"}, []string{"at '/collector/rollout/hooks/github'", "'token' not allowed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireFailsNaming(t, render{name: tc.name, args: tc.args}, append([]string{"values don't meet the specifications of the schema"}, tc.want...)...)
		})
	}
}

// TestChartRefusesValuesThatCannotWorkTogether checks the checks across
// values that the schema cannot express.
func TestChartRefusesValuesThatCannotWorkTogether(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "collector replicas with events in SQLite",
			args: []string{"--set", "collector.replicas=2", "--set", "collector.events.postgres.existingSecret=", "--set", "reportServer.enabled=false"},
			want: "collector.replicas is 2 but collector.events.postgres.existingSecret is empty",
		},
		{
			name: "a weekly CronJob without a token",
			args: []string{"--set", "reportServer.weeklyReport.enabled=true"},
			want: "reportServer.weeklyReport.token.existingSecret must name the Secret of an admin bearer token",
		},
		{
			name: "two report servers on one archive",
			args: []string{"--set", "reportServer.replicas=2"},
			want: "reportServer.replicas (2) must be 0 or 1: the report archive is one ReadWriteOnce volume",
		},
		{
			name: "a volume smaller than the stores",
			args: []string{"--set", "collector.persistence.size=4Gi"},
			want: "collector.persistence.size (4Gi) is smaller than collector.queue.maxSize + collector.store.maxSize + collector.tsdb.maxSize",
		},
		{
			name: "requests in flight above half the memory",
			args: []string{"--set", "collector.memory.maxInflight=768Mi"},
			want: "collector.memory.maxInflight (768Mi) must be at most half of collector.resources.limits.memory (1Gi)",
		},
		{
			name: "a memory limit in thousandths of a byte",
			args: []string{"--set", "collector.resources.limits.memory=1073741824000m"},
			want: `"1073741824000m" is not a quantity of bytes`,
		},
		{
			name: "a service without its database",
			args: []string{"--set", "credit.postgres.existingSecret="},
			want: "credit.postgres.existingSecret is empty",
		},
		{
			name: "the report server without the event store",
			args: []string{"--set", "collector.enabled=false"},
			want: "reportServer.enabled needs the collector's event store in PostgreSQL",
		},
		{
			name: "Chaos Mesh objects in two namespaces",
			args: []string{"--set", "chaos.enabled=true", "--set-json", `chaos.kubernetes.namespaces=["a","b"]`},
			want: "chaos.kubernetes.namespaces lists 2 namespaces",
		},
		{
			name: "fault surfaces without the chaos controller",
			args: []string{"--set", "chaos.faultSurfaces.enabled=true"},
			want: "chaos.faultSurfaces.enabled needs chaos.enabled",
		},
		{
			name: "autoscaling bounds upside down",
			args: []string{"--set", "invoicing.autoscaling.enabled=true", "--set", "invoicing.autoscaling.minReplicas=5", "--set", "invoicing.autoscaling.maxReplicas=3"},
			want: "invoicing.autoscaling.minReplicas (5) is above invoicing.autoscaling.maxReplicas (3)",
		},
		{
			name: "Elasticsearch credentials without their Secret",
			args: []string{"--set", "elasticsearch.url=https://es:9200", "--set", "elasticsearch.auth.type=apiKey"},
			want: "elasticsearch.auth.type is apiKey but elasticsearch.auth.existingSecret is empty",
		},
		{
			name: "remote_write user without its password",
			args: []string{"--set", "prometheus.remoteWrite.url=http://p:9090/api/v1/write", "--set", "prometheus.remoteWrite.username=estate"},
			want: "prometheus.remoteWrite.username is set but prometheus.remoteWrite.existingSecret is empty",
		},
		{
			name: "a rollback webhook without its signing secret",
			args: []string{"--set", "collector.rollout.hooks.webhook.url=https://rollback.example.com"},
			want: "collector.rollout.hooks.webhook.url is set but collector.rollout.hooks.webhook.existingSecret is empty: name the Secret holding its signing secret",
		},
		{
			name: "a GitHub rollback without its token",
			args: []string{"--set", "collector.rollout.hooks.github.repo=estatehq/deployments", "--set", "collector.rollout.hooks.github.workflow=rollback.yml"},
			want: "collector.rollout.hooks.github.repo is set but collector.rollout.hooks.github.existingSecret is empty: name the Secret holding its token",
		},
		{
			name: "a GitHub rollback without its workflow",
			args: []string{"--set", "collector.rollout.hooks.github.repo=estatehq/deployments", "--set", "collector.rollout.hooks.github.existingSecret=hooks"},
			want: "collector.rollout.hooks.github.repo is set but collector.rollout.hooks.github.workflow is empty",
		},
		{
			name: "a CircleCI token for a hook that is off",
			args: []string{"--set", "collector.rollout.hooks.circleci.existingSecret=hooks"},
			want: "collector.rollout.hooks.circleci.existingSecret is set but collector.rollout.hooks.circleci.projectSlug is empty, which turns the hook on",
		},
		{
			name: "an ingress with no host",
			args: []string{"--set", "ingress.enabled=true"},
			want: "ingress.enabled needs at least one entry in ingress.hosts",
		},
		{
			name: "an ingress to a target that is off",
			args: []string{"--set", "ingress.enabled=true", "--set-json", `ingress.hosts=[{"host":"e.example.com","paths":[{"path":"/","pathType":"Prefix","target":"credit"}]}]`, "--set", "credit.enabled=false"},
			want: "ingress.hosts: e.example.com/ routes to credit, which is not enabled",
		},
		{
			name: "dashboards on with none",
			args: []string{"--set", "grafanaDashboards.enabled=true"},
			want: "grafanaDashboards.enabled but there are no dashboards",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireFailsNaming(t, render{name: tc.name, args: tc.args}, tc.want)
		})
	}
}

// TestReadmeDocumentsEveryValue checks that README.md names every value of
// values.yaml: the value itself, a value above it of two keys or more
// (`collector.resources`), or a target's common value
// (`<target>.podAnnotations`).
func TestReadmeDocumentsEveryValue(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	values, err := os.ReadFile("values.yaml")
	require.NoError(t, err)
	var tree map[string]any
	require.NoError(t, yaml.Unmarshal(values, &tree))

	targets := []string{"collector", "invoicing", "credit", "chaos", "reportServer"}
	documented := func(path []string) bool {
		for n := len(path); n >= 1; n-- {
			if n == 1 && len(path) > 1 {
				break
			}
			key := strings.Join(path[:n], ".")
			if strings.Contains(string(readme), "`"+key+"`") {
				return true
			}
			if slices.Contains(targets, path[0]) && n >= 2 && strings.Contains(string(readme), "`<target>."+strings.Join(path[1:n], ".")+"`") {
				return true
			}
		}
		return false
	}
	var walk func(path []string, v any)
	var leaves int
	walk = func(path []string, v any) {
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, child := range m {
				walk(append(slices.Clone(path), k), child)
			}
			return
		}
		leaves++
		require.True(t, documented(path), "README.md does not document %s", strings.Join(path, "."))
	}
	walk(nil, tree)
	require.Greater(t, leaves, 100)
}
