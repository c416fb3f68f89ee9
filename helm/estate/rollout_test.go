package estate_test

import (
	"flag"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/estatehq/estate/internal/config"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
)

// collectorPod is the collector's pod template among manifests.
func collectorPod(t *testing.T, manifests []manifest) corev1.PodTemplateSpec {
	t.Helper()
	sets := objectsOf[*appsv1.StatefulSet](manifests)
	require.Len(t, sets, 1)
	return sets[0].Spec.Template
}

// rolloutEnv is the analysis' variables of c, ESTATE_ROLLOUT_*, by name.
func rolloutEnv(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "ESTATE_ROLLOUT_") {
			require.Nil(t, e.ValueFrom, "%s: the hooks' credentials are files, not variables", e.Name)
			out[e.Name] = e.Value
		}
	}
	return out
}

// TestRolloutAnalysisRunsDryByDefault checks the analysis' options with
// the default values: on, over the chart's environment, recommending
// rollbacks without calling a hook, with no hook, no Secret mounted, no
// token and no Role; and off when switched off.
func TestRolloutAnalysisRunsDryByDefault(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]string
	}{
		{
			name: "defaults",
			want: map[string]string{
				"ESTATE_ROLLOUT_ENABLED":      "true",
				"ESTATE_ROLLOUT_WINDOW":       "15m",
				"ESTATE_ROLLOUT_ENVIRONMENTS": "production",
				"ESTATE_ROLLOUT_INTERVAL":     "1m",
				"ESTATE_ROLLOUT_DRY_RUN":      "true",
			},
		},
		{
			name: "the environment of the estate",
			args: []string{"--set", "environment=staging", "--set", "collector.rollout.windows.invoicing=10m", "--set", "collector.rollout.windows.credit=1h"},
			want: map[string]string{
				"ESTATE_ROLLOUT_ENABLED":      "true",
				"ESTATE_ROLLOUT_WINDOW":       "15m",
				"ESTATE_ROLLOUT_WINDOWS":      "credit=1h,invoicing=10m",
				"ESTATE_ROLLOUT_ENVIRONMENTS": "staging",
				"ESTATE_ROLLOUT_INTERVAL":     "1m",
				"ESTATE_ROLLOUT_DRY_RUN":      "true",
			},
		},
		{
			name: "off",
			args: []string{"--set", "collector.rollout.enabled=false", "--set", "collector.rollout.hooks.argo.namespace=team-a"},
			want: map[string]string{"ESTATE_ROLLOUT_ENABLED": "false"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			manifests := renderObjects(t, render{name: tc.name, args: tc.args}, "estate")
			pod := collectorPod(t, manifests)
			require.Equal(t, tc.want, rolloutEnv(t, pod.Spec.Containers[0]))
			require.False(t, slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "rollout-hooks" }))
			require.Equal(t, ptrFalse, pod.Spec.AutomountServiceAccountToken)
			require.Empty(t, objectsOf[*rbacv1.Role](manifests))
		})
	}
}

// TestRolloutHooksReadTheirSecretsFromFiles renders each rollback hook
// alone and all of them together (testdata/all-on.yaml): each hook's
// options, and only its own; its credential a file of a projected volume
// of its Secret's key, mounted without subPath so that the kubelet
// updates it when the Secret rotates; and, for Argo Rollouts, the token
// mounted and a Role to patch rollouts/status in the Rollouts' namespace.
func TestRolloutHooksReadTheirSecretsFromFiles(t *testing.T) {
	const dir = "/etc/estate/rollout-hooks"
	type secretKey struct{ secret, key string }
	tests := []struct {
		name  string
		r     render
		want  map[string]string    // the hooks' variables, ESTATE_ROLLOUT_HOOKS_*
		files map[string]secretKey // the credentials' files, by variable
		argo  string               // the Rollouts' namespace, where the Role is
	}{
		{
			name: "webhook",
			r: render{args: []string{"--set", "collector.rollout.hooks.webhook.url=https://rollback.example.com/estate",
				"--set", "collector.rollout.hooks.webhook.existingSecret=estate-hooks"}},
			want: map[string]string{
				"ESTATE_ROLLOUT_HOOKS_WEBHOOK_URL":         "https://rollback.example.com/estate",
				"ESTATE_ROLLOUT_HOOKS_WEBHOOK_SECRET_FILE": dir + "/webhook-secret",
			},
			files: map[string]secretKey{"ESTATE_ROLLOUT_HOOKS_WEBHOOK_SECRET_FILE": {"estate-hooks", "secret"}},
		},
		{
			name: "github",
			r: render{args: []string{"--set", "collector.rollout.hooks.github.repo=estatehq/deployments",
				"--set", "collector.rollout.hooks.github.workflow=rollback.yml", "--set", "collector.rollout.hooks.github.existingSecret=estate-github"}},
			want: map[string]string{
				"ESTATE_ROLLOUT_HOOKS_GITHUB_REPO":       "estatehq/deployments",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_WORKFLOW":   "rollback.yml",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_REF":        "main",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_API_URL":    "https://api.github.com",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_TOKEN_FILE": dir + "/github-token",
			},
			files: map[string]secretKey{"ESTATE_ROLLOUT_HOOKS_GITHUB_TOKEN_FILE": {"estate-github", "token"}},
		},
		{
			name: "circleci",
			r: render{args: []string{"--set", "collector.rollout.hooks.circleci.projectSlug=gh/estatehq/deployments",
				"--set", "collector.rollout.hooks.circleci.existingSecret=estate-circleci", "--set", "collector.rollout.hooks.circleci.key=circle-token"}},
			want: map[string]string{
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_PROJECT_SLUG": "gh/estatehq/deployments",
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_API_URL":      "https://circleci.com",
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_TOKEN_FILE":   dir + "/circleci-token",
			},
			files: map[string]secretKey{"ESTATE_ROLLOUT_HOOKS_CIRCLECI_TOKEN_FILE": {"estate-circleci", "circle-token"}},
		},
		{
			name: "argo",
			r:    render{args: []string{"--set", "collector.rollout.hooks.argo.namespace=team-b"}},
			want: map[string]string{
				"ESTATE_ROLLOUT_HOOKS_ARGO_NAMESPACE": "team-b",
				"ESTATE_ROLLOUT_HOOKS_ARGO_ROLLOUT":   "{{service}}",
			},
			argo: "team-b",
		},
		{
			name: "all-on",
			r:    allOn("team-a"),
			want: map[string]string{
				"ESTATE_ROLLOUT_HOOKS_WEBHOOK_URL":           "https://rollback.internal.example.com/hooks/estate",
				"ESTATE_ROLLOUT_HOOKS_WEBHOOK_SECRET_FILE":   dir + "/webhook-secret",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_REPO":           "estatehq/deployments",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_WORKFLOW":       "rollback.yml",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_REF":            "release",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_API_URL":        "https://github.example.com/api/v3",
				"ESTATE_ROLLOUT_HOOKS_GITHUB_TOKEN_FILE":     dir + "/github-token",
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_PROJECT_SLUG": "gh/estatehq/deployments",
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_BRANCH":       "main",
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_API_URL":      "https://circleci.com",
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_TOKEN_FILE":   dir + "/circleci-token",
				"ESTATE_ROLLOUT_HOOKS_ARGO_NAMESPACE":        "team-a",
				"ESTATE_ROLLOUT_HOOKS_ARGO_ROLLOUT":          "{{service}}-{{environment}}",
			},
			files: map[string]secretKey{
				"ESTATE_ROLLOUT_HOOKS_WEBHOOK_SECRET_FILE": {"estate-rollback-hooks", "webhook-secret"},
				"ESTATE_ROLLOUT_HOOKS_GITHUB_TOKEN_FILE":   {"estate-rollback-hooks", "github-token"},
				"ESTATE_ROLLOUT_HOOKS_CIRCLECI_TOKEN_FILE": {"estate-circleci", "token"},
			},
			argo: "team-a",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.name = tc.name
			manifests := renderObjects(t, tc.r, "estate")
			pod := collectorPod(t, manifests)
			c := pod.Spec.Containers[0]
			env := rolloutEnv(t, c)
			hooks := map[string]string{}
			for name, value := range env {
				if strings.HasPrefix(name, "ESTATE_ROLLOUT_HOOKS_") {
					hooks[name] = value
				}
			}
			require.Equal(t, tc.want, hooks)
			if tc.name != "all-on" {
				require.Equal(t, "true", env["ESTATE_ROLLOUT_DRY_RUN"], "a hook alone does not turn the dry run off")
			} else {
				require.Equal(t, "false", env["ESTATE_ROLLOUT_DRY_RUN"])
			}

			// Each credential's file is its Secret's key in the projected
			// volume, mounted whole (a subPath mount is never updated).
			i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "rollout-hooks" })
			if len(tc.files) == 0 {
				require.Negative(t, i, "no Secret to mount")
			} else {
				require.GreaterOrEqual(t, i, 0, "no rollout-hooks volume")
				projected := pod.Spec.Volumes[i].Projected
				require.NotNil(t, projected)
				j := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == "rollout-hooks" })
				require.GreaterOrEqual(t, j, 0, "the volume is not mounted")
				mount := c.VolumeMounts[j]
				require.Equal(t, corev1.VolumeMount{Name: "rollout-hooks", MountPath: dir, ReadOnly: true}, mount)

				got := map[string]secretKey{}
				for _, src := range projected.Sources {
					require.NotNil(t, src.Secret)
					for _, item := range src.Secret.Items {
						got[path.Join(mount.MountPath, item.Path)] = secretKey{src.Secret.Name, item.Key}
					}
				}
				want := map[string]secretKey{}
				for name, sk := range tc.files {
					want[env[name]] = sk
				}
				require.Equal(t, want, got)
				require.Equal(t, int32(0o440), *projected.DefaultMode)
			}

			// Argo Rollouts: the pod uses the API as its ServiceAccount,
			// which may patch the status of the Rollouts' namespace only.
			roles := objectsOf[*rbacv1.Role](manifests)
			roles = slices.DeleteFunc(roles, func(r *rbacv1.Role) bool { return r.Name != "estate-collector-rollback" })
			sas := objectsOf[*corev1.ServiceAccount](manifests)
			k := slices.IndexFunc(sas, func(sa *corev1.ServiceAccount) bool { return sa.Name == pod.Spec.ServiceAccountName })
			require.GreaterOrEqual(t, k, 0)
			if tc.argo == "" {
				require.Empty(t, roles)
				require.Equal(t, ptrFalse, pod.Spec.AutomountServiceAccountToken)
				require.Equal(t, ptrFalse, sas[k].AutomountServiceAccountToken)
				return
			}
			require.Equal(t, ptrTrue, pod.Spec.AutomountServiceAccountToken)
			require.Equal(t, ptrTrue, sas[k].AutomountServiceAccountToken)
			require.Len(t, roles, 1)
			require.Equal(t, tc.argo, roles[0].Namespace)
			require.Equal(t, []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"rollouts/status"}, Verbs: []string{"patch"}}}, roles[0].Rules)
			bindings := objectsOf[*rbacv1.RoleBinding](manifests)
			bindings = slices.DeleteFunc(bindings, func(b *rbacv1.RoleBinding) bool { return b.Name != "estate-collector-rollback" })
			require.Len(t, bindings, 1)
			require.Equal(t, tc.argo, bindings[0].Namespace)
			require.Equal(t, rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: roles[0].Name}, bindings[0].RoleRef)
			require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: sas[k].Name, Namespace: "estate"}}, bindings[0].Subjects)
		})
	}
}

// TestCollectorTakesTheRenderedAnalysis reads the analysis' and the hooks'
// variables of the rendered collector with the binary's own flags and
// loader (internal/config), and checks that the collector would accept
// them and run what the values say: the schema's patterns and the chart's
// rendering (windows as service=duration, the environments) meet the
// binary's parsing.
func TestCollectorTakesTheRenderedAnalysis(t *testing.T) {
	tests := []struct {
		r            render
		windows      map[string]time.Duration
		environments []string
		interval     time.Duration
		callHooks    bool
	}{
		{r: defaults, windows: map[string]time.Duration{}, environments: []string{"production"}, interval: time.Minute},
		{
			r:            allOn("team-a"),
			windows:      map[string]time.Duration{"invoicing": 5 * time.Minute, "credit": 90 * time.Minute},
			environments: []string{"staging", "production"},
			interval:     30 * time.Second,
			callHooks:    true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.r.name, func(t *testing.T) {
			env := rolloutEnv(t, collectorPod(t, renderObjects(t, tc.r, "estate")).Spec.Containers[0])
			var cfg struct {
				rollout.Settings `yaml:",inline"`
				Hooks            hooks.Config `yaml:"hooks"`
			}
			fs := flag.NewFlagSet("collector", flag.ContinueOnError)
			cfg.Settings.RegisterFlags(fs, "rollout.")
			cfg.Hooks.RegisterFlags(fs, "rollout.hooks.")
			seen := map[string]bool{}
			_, err := config.Load(fs, &cfg, nil, func(name string) string {
				seen[name] = true
				return env[name]
			})
			require.NoError(t, err)
			for name := range env {
				require.True(t, seen[name], "%s is no option of the analysis", name)
			}
			require.NoError(t, cfg.Settings.Validate())
			require.NoError(t, cfg.Hooks.Validate())

			o := cfg.Settings.Options()
			require.Equal(t, tc.windows, o.Windows)
			require.Equal(t, tc.environments, o.Environments)
			require.Equal(t, tc.interval, o.Interval)
			require.Equal(t, tc.callHooks, o.CallHooks)
		})
	}
}
