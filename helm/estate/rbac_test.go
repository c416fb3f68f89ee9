package estate_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/internal/kubetest"
	"github.com/estatehq/estate/internal/testenv"
)

// reviewer asks the API server whether a ServiceAccount may do something.
type reviewer struct {
	env *kubetest.Env
}

func (r reviewer) allowed(ctx context.Context, ns, serviceAccount string, attrs authorizationv1.ResourceAttributes) (bool, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               fmt.Sprintf("system:serviceaccount:%s:%s", ns, serviceAccount),
		Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &attrs,
	}}
	if err := r.env.Client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("reviewing access: %w", err)
	}
	return sar.Status.Allowed, nil
}

// waitAllowed waits until the API server's RBAC authorizer, which reads
// from an informer cache, allows what the applied bindings grant.
func (r reviewer) waitAllowed(t *testing.T, ns, serviceAccount string, attrs authorizationv1.ResourceAttributes) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := testenv.WaitFor(ctx, 50*time.Millisecond, func() error {
		ok, err := r.allowed(ctx, ns, serviceAccount, attrs)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("not allowed yet")
		}
		return nil
	})
	require.NoError(t, err, "%s must be allowed %+v once the chart's RBAC is applied", serviceAccount, attrs)
}

// TestRBACGrantsChaosMeshToTheChaosControllerOnly applies the chart's
// ServiceAccounts, Roles and RoleBindings (every optional part on) to a real
// API server and asks it, with SubjectAccessReviews, what each of the
// release's ServiceAccounts may do: only the chaos controller's may create,
// watch and delete Chaos Mesh resources, and only in the namespaces listed
// in chaos.kubernetes.namespaces; only the collector, whose Argo Rollouts
// hook aborts them, may patch the status of Rollouts, only in the hook's
// namespace, and nothing else of theirs.
func TestRBACGrantsChaosMeshToTheChaosControllerOnly(t *testing.T) {
	env := kubetest.Shared(t, bothCRDSets)
	ns, team, other := env.Namespace(t), env.Namespace(t), env.Namespace(t)
	manifests := renderObjects(t, allOn(team), ns)

	var serviceAccounts []string
	for _, m := range manifests {
		switch o := m.obj.(type) {
		case *corev1.ServiceAccount:
			serviceAccounts = append(serviceAccounts, o.Name)
		case *rbacv1.Role, *rbacv1.RoleBinding:
		default:
			continue
		}
		require.NoError(t, env.Client.Apply(t.Context(), applyConfiguration(t, m), fieldOwner, client.ForceOwnership), "%s", m)
	}
	slices.Sort(serviceAccounts)
	require.Equal(t, []string{"estate-chaos", "estate-collector", "estate-credit", "estate-invoicing", "estate-migrate", "estate-report-server"}, serviceAccounts)

	r := reviewer{env: env}
	chaosOn := func(ns, resource, verb string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Namespace: ns, Group: "chaos-mesh.org", Resource: resource, Verb: verb}
	}
	r.waitAllowed(t, ns, "estate-chaos", chaosOn(team, "podchaos", "create"))
	rollouts := authorizationv1.ResourceAttributes{Namespace: team, Group: "argoproj.io", Resource: "rollouts", Subresource: "status", Verb: "patch"}
	r.waitAllowed(t, ns, "estate-collector", rollouts)

	t.Run("Chaos Mesh", func(t *testing.T) {
		for _, sa := range serviceAccounts {
			for _, target := range []string{ns, team, other} {
				for _, resource := range []string{"podchaos", "networkchaos", "httpchaos", "stresschaos"} {
					for _, verb := range []string{"create", "get", "list", "watch", "delete"} {
						want := sa == "estate-chaos" && target == team
						got, err := r.allowed(t.Context(), ns, sa, chaosOn(target, resource, verb))
						require.NoError(t, err)
						require.Equal(t, want, got, "%s %s %s in %s", sa, verb, resource, target)
					}
				}
			}
		}
	})

	t.Run("the chaos controller's least privilege", func(t *testing.T) {
		tests := []struct {
			name  string
			attrs authorizationv1.ResourceAttributes
			want  bool
		}{
			{"read pods where it runs experiments", authorizationv1.ResourceAttributes{Namespace: team, Resource: "pods", Verb: "list"}, true},
			{"delete pods", authorizationv1.ResourceAttributes{Namespace: team, Resource: "pods", Verb: "delete"}, false},
			{"read pods elsewhere", authorizationv1.ResourceAttributes{Namespace: other, Resource: "pods", Verb: "list"}, false},
			{"read Secrets", authorizationv1.ResourceAttributes{Namespace: team, Resource: "secrets", Verb: "get"}, false},
			{"patch PodChaos", chaosOn(team, "podchaos", "patch"), false},
			{"delete every PodChaos at once", chaosOn(team, "podchaos", "deletecollection"), false},
			{"create an IOChaos, not in chaos.kubernetes.resources", chaosOn(team, "iochaos", "create"), false},
			{"create PodChaos cluster-wide", chaosOn("", "podchaos", "create"), false},
			{"abort Rollouts", rollouts, false},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := r.allowed(t.Context(), ns, "estate-chaos", tc.attrs)
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
			})
		}
	})

	t.Run("Argo Rollouts", func(t *testing.T) {
		for _, sa := range serviceAccounts {
			got, err := r.allowed(t.Context(), ns, sa, rollouts)
			require.NoError(t, err)
			require.Equal(t, sa == "estate-collector", got, "%s patch rollouts/status in the hook's namespace", sa)
			for _, attrs := range []authorizationv1.ResourceAttributes{
				{Namespace: ns, Group: "argoproj.io", Resource: "rollouts", Subresource: "status", Verb: "patch"},
				{Namespace: other, Group: "argoproj.io", Resource: "rollouts", Subresource: "status", Verb: "patch"},
				{Namespace: team, Group: "argoproj.io", Resource: "rollouts", Verb: "patch"},
				{Namespace: team, Group: "argoproj.io", Resource: "rollouts", Verb: "get"},
				{Namespace: team, Group: "argoproj.io", Resource: "rollouts", Verb: "delete"},
				{Namespace: team, Group: "argoproj.io", Resource: "rollouts", Subresource: "status", Verb: "update"},
			} {
				got, err := r.allowed(t.Context(), ns, sa, attrs)
				require.NoError(t, err)
				require.False(t, got, "%s may %s %s/%s in %s", sa, attrs.Verb, attrs.Resource, attrs.Subresource, attrs.Namespace)
			}
		}
	})
}
