package hooks_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/internal/kubetest"
	"github.com/estatehq/estate/rollout"
	"github.com/estatehq/estate/rollout/hooks"
)

// argoServer is the test binary's API server with the Rollout CRD of
// testdata (a stand-in for Argo Rollouts' own), and a namespace for t.
func argoServer(t *testing.T) (*kubetest.Env, string) {
	t.Helper()
	env := kubetest.Shared(t, kubetest.Options{CRDs: []string{"testdata/rollouts.argoproj.io.yaml"}})
	return env, env.Namespace(t)
}

// newRollout creates a Rollout named name in ns, progressing.
func newRollout(t *testing.T, c client.Client, ns, name string) *unstructured.Unstructured {
	t.Helper()
	ro := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Rollout",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{
			"replicas": int64(3),
			"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": name}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": name, "image": "ghcr.io/estatehq/estate:v1.8.0"}}},
			},
			"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": int64(20)}, map[string]any{"pause": map[string]any{}}}}},
		},
	}}
	ctx := context.Background()
	require.NoError(t, c.Create(ctx, ro))
	ro.Object["status"] = map[string]any{"phase": "Progressing", "currentStepIndex": int64(1)}
	require.NoError(t, c.Status().Update(ctx, ro))
	return ro
}

func argoHook(t *testing.T, kube *rest.Config, ns, tmpl string) rollout.Hook {
	t.Helper()
	cfg := defaults(t)
	cfg.Argo.Namespace = ns
	if tmpl != "" {
		cfg.Argo.Rollout = tmpl
	}
	return only(t, cfg, nil, hooks.Options{Kube: kube})
}

func TestArgo(t *testing.T) {
	env, ns := argoServer(t)
	for _, tc := range []struct {
		name, tmpl, rollout string
	}{
		{name: "the service's name", rollout: "invoicing"},
		{name: "a template", tmpl: "{{service}}-{{environment}}", rollout: "invoicing-production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := newRollout(t, env.Client, ns, tc.rollout)
			h := argoHook(t, env.Config, ns, tc.tmpl)
			require.Equal(t, "argo", h.Name())

			a, err := h.Call(context.Background(), recommendation())
			require.NoError(t, err)
			require.Equal(t, rollout.Answer{Status: http.StatusOK, Detail: "Progressing"}, a)

			after := &unstructured.Unstructured{}
			after.SetAPIVersion("argoproj.io/v1alpha1")
			after.SetKind("Rollout")
			require.NoError(t, env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: tc.rollout}, after))
			require.Equal(t, map[string]any{"abort": true, "phase": "Progressing", "currentStepIndex": int64(1)}, after.Object["status"])
			require.Empty(t, cmp.Diff(before.Object["spec"], after.Object["spec"]), "the spec is left alone")
			require.Equal(t, before.GetGeneration(), after.GetGeneration())

			// Asked again (a retry after a lost answer), it changes nothing.
			_, err = h.Call(context.Background(), recommendation())
			require.NoError(t, err)
		})
	}
}

func TestArgoMissingRollout(t *testing.T) {
	env, ns := argoServer(t)
	h := argoHook(t, env.Config, ns, "")
	r := recommendation()
	r.Service = "absent"
	a, err := h.Call(context.Background(), r)
	requireClass(t, err, permanent, 0)
	require.Equal(t, http.StatusNotFound, a.Status)
	require.ErrorContains(t, err, `aborting rollout `+ns+`/absent`)

	// A name the template makes that Kubernetes refuses is never sent.
	r.Service = "Not_A_Name"
	_, err = h.Call(context.Background(), r)
	requireClass(t, err, permanent, 0)
}

// The hook needs to patch rollouts/status and nothing else; without it,
// the API server's refusal is permanent.
func TestArgoPermissions(t *testing.T) {
	env, ns := argoServer(t)
	ctx := context.Background()
	newRollout(t, env.Client, ns, "invoicing")
	const user = "estate-rollout-hook"
	kube := rest.CopyConfig(env.Config)
	kube.Impersonate = rest.ImpersonationConfig{UserName: user}
	h := argoHook(t, kube, ns, "")

	a, err := h.Call(ctx, recommendation())
	requireClass(t, err, permanent, 0)
	require.Equal(t, http.StatusForbidden, a.Status)

	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "rollback-hook", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"argoproj.io"}, Resources: []string{"rollouts/status"}, Verbs: []string{"patch"}}},
	}
	require.NoError(t, env.Client.Create(ctx, role))
	require.NoError(t, env.Client.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "rollback-hook", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}))
	// The authorizer sees a new binding once its informer has: wait for
	// it, not for a time.
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		_, err := h.Call(ctx, recommendation())
		assert.NoError(c, err)
	}, 30*time.Second, 50*time.Millisecond)
}
