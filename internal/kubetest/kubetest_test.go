package kubetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	chaosv1alpha1 "github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	"github.com/estatehq/estate/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(Main(m),
		// Started by klog's package initialisation, for the life of the process.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}

// both is every CRD set, as most tests here use them.
var both = Options{CRDs: []string{ChaosMesh, PrometheusOperator}}

const fieldOwner = client.FieldOwner("estate-kubetest")

func TestCRDSetsAreEstablished(t *testing.T) {
	env := Shared(t, both)
	want := []string{
		"podchaos.chaos-mesh.org",
		"networkchaos.chaos-mesh.org",
		"httpchaos.chaos-mesh.org",
		"stresschaos.chaos-mesh.org",
		"servicemonitors.monitoring.coreos.com",
		"podmonitors.monitoring.coreos.com",
		"prometheusrules.monitoring.coreos.com",
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			var crd apiextensionsv1.CustomResourceDefinition
			require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Name: name}, &crd))
			require.True(t, established(&crd), "CRD %s is not established: %+v", name, crd.Status.Conditions)
		})
	}
	var installed []string
	for _, crd := range env.CRDs() {
		installed = append(installed, crd.Name)
	}
	require.Subset(t, installed, want)
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

func podSelector(mode chaosv1alpha1.SelectorMode, ns string) chaosv1alpha1.PodSelector {
	return chaosv1alpha1.PodSelector{
		Mode: mode,
		Selector: chaosv1alpha1.PodSelectorSpec{GenericSelectorSpec: chaosv1alpha1.GenericSelectorSpec{
			Namespaces:     []string{ns},
			LabelSelectors: map[string]string{"app.kubernetes.io/name": "invoicing"},
		}},
	}
}

func podChaos(ns, name string, action chaosv1alpha1.PodChaosAction, gracePeriod int64) *chaosv1alpha1.PodChaos {
	return &chaosv1alpha1.PodChaos{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: chaosv1alpha1.PodChaosSpec{
			Action:            action,
			GracePeriod:       gracePeriod,
			ContainerSelector: chaosv1alpha1.ContainerSelector{PodSelector: podSelector(chaosv1alpha1.OneMode, ns)},
		},
	}
}

func networkDelay(ns, name string, mode chaosv1alpha1.SelectorMode) *chaosv1alpha1.NetworkChaos {
	return &chaosv1alpha1.NetworkChaos{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: chaosv1alpha1.NetworkChaosSpec{
			Action:      chaosv1alpha1.DelayAction,
			PodSelector: podSelector(mode, ns),
			Duration:    ptr.To("30s"),
			TcParameter: chaosv1alpha1.TcParameter{Delay: &chaosv1alpha1.DelaySpec{Latency: "100ms", Jitter: "10ms"}},
		},
	}
}

func TestChaosMeshAcceptsValidChaos(t *testing.T) {
	env := Shared(t, both)
	ns := env.Namespace(t)
	tests := []struct {
		name string
		obj  client.Object
		spec func(client.Object) any // what must read back unchanged
	}{
		{
			name: "PodChaos pod-kill one pod by label",
			obj:  podChaos(ns, "kill-one", chaosv1alpha1.PodKillAction, 0),
			spec: func(o client.Object) any { return o.(*chaosv1alpha1.PodChaos).Spec },
		},
		{
			name: "NetworkChaos delay",
			obj:  networkDelay(ns, "delay", chaosv1alpha1.AllMode),
			spec: func(o client.Object) any { return o.(*chaosv1alpha1.NetworkChaos).Spec },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			require.NoError(t, env.Client.Create(ctx, tc.obj))

			got, ok := tc.obj.DeepCopyObject().(client.Object)
			require.True(t, ok)
			require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(tc.obj), got))
			require.NotEmpty(t, got.GetUID())
			if diff := cmp.Diff(tc.spec(tc.obj), tc.spec(got)); diff != "" {
				t.Errorf("spec read back differs (-created +read):\n%s", diff)
			}
		})
	}
}

func TestChaosMeshRejectsInvalidChaos(t *testing.T) {
	env := Shared(t, both)
	ns := env.Namespace(t)
	tests := []struct {
		name  string
		obj   client.Object
		field string // the field the server names
	}{
		{
			name:  "PodChaos with an unknown action",
			obj:   podChaos(ns, "unknown-action", "pod-explode", 0),
			field: "spec.action",
		},
		{
			name:  "NetworkChaos with a bad mode",
			obj:   networkDelay(ns, "bad-mode", "most"),
			field: "spec.mode",
		},
		{
			name:  "PodChaos with a negative grace period",
			obj:   podChaos(ns, "negative-grace", chaosv1alpha1.PodKillAction, -1),
			field: "spec.gracePeriod",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := env.Client.Create(t.Context(), tc.obj)
			requireInvalidField(t, err, tc.field)

			got, ok := tc.obj.DeepCopyObject().(client.Object)
			require.True(t, ok)
			err = env.Client.Get(t.Context(), client.ObjectKeyFromObject(tc.obj), got)
			require.True(t, apierrors.IsNotFound(err), "a rejected object must not be stored, got %v", err)
		})
	}
}

// requireInvalidField asserts that err is the server's 422 Invalid answer
// and that one of its causes is field.
func requireInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	require.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
	var status apierrors.APIStatus
	require.ErrorAs(t, err, &status)
	var fields []string
	if d := status.Status().Details; d != nil {
		for _, c := range d.Causes {
			fields = append(fields, c.Field)
		}
	}
	require.Contains(t, fields, field, "error: %v", err)
	require.ErrorContains(t, err, field)
}

// unstructuredApply turns a typed object into an apply configuration, as a
// rendered manifest would be: apiVersion and kind set, no status.
func unstructuredApply(t *testing.T, scheme *runtime.Scheme, obj client.Object) runtime.ApplyConfiguration {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, scheme)
	require.NoError(t, err)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	require.NoError(t, err)
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return client.ApplyConfigurationFromUnstructured(u)
}

func serviceMonitor(ns string, scheme monitoringv1.Scheme) *monitoringv1.ServiceMonitor {
	return &monitoringv1.ServiceMonitor{
		ObjectMeta: metav1.ObjectMeta{Name: "invoicing", Namespace: ns},
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector: metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "invoicing"}},
			Endpoints: []monitoringv1.Endpoint{{
				Port:     "metrics",
				Path:     "/metrics",
				Interval: "15s",
				Scheme:   ptr.To(scheme),
			}},
		},
	}
}

func TestServerSideApplyDryRun(t *testing.T) {
	env := Shared(t, both)
	ns := env.Namespace(t)

	deployment := func(name string, replicas int32) runtime.ApplyConfiguration {
		labels := map[string]string{"app.kubernetes.io/name": name}
		return appsv1ac.Deployment(name, ns).
			WithLabels(labels).
			WithSpec(appsv1ac.DeploymentSpec().
				WithReplicas(replicas).
				WithSelector(metav1ac.LabelSelector().WithMatchLabels(labels)).
				WithTemplate(corev1ac.PodTemplateSpec().
					WithLabels(labels).
					WithSpec(corev1ac.PodSpec().WithContainers(corev1ac.Container().
						WithName("estate").
						WithImage("estate:test").
						WithArgs("invoicing")))))
	}

	tests := []struct {
		name     string
		apply    runtime.ApplyConfiguration
		stored   client.Object // the kind and name it would be stored as
		badField string        // empty when the server must accept it
	}{
		{
			name:   "ServiceMonitor",
			apply:  unstructuredApply(t, env.Scheme, serviceMonitor(ns, "http")),
			stored: &monitoringv1.ServiceMonitor{ObjectMeta: metav1.ObjectMeta{Name: "invoicing", Namespace: ns}},
		},
		{
			name:     "ServiceMonitor with an unknown scheme",
			apply:    unstructuredApply(t, env.Scheme, serviceMonitor(ns, "ftp")),
			badField: "spec.endpoints[0].scheme",
		},
		{
			name:   "Deployment",
			apply:  deployment("invoicing", 2),
			stored: &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "invoicing", Namespace: ns}},
		},
		{
			name:     "Deployment with negative replicas",
			apply:    deployment("credit", -1),
			badField: "spec.replicas",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			err := env.Client.Apply(ctx, tc.apply, fieldOwner, client.ForceOwnership, client.DryRunAll)
			if tc.badField != "" {
				requireInvalidField(t, err, tc.badField)
				return
			}
			require.NoError(t, err)
			err = env.Client.Get(ctx, client.ObjectKeyFromObject(tc.stored), tc.stored)
			require.True(t, apierrors.IsNotFound(err), "a dry run must store nothing, got %v", err)
		})
	}
}

func TestSubjectAccessReviewFollowsRBAC(t *testing.T) {
	env := Shared(t, both)
	ns, other := env.Namespace(t), env.Namespace(t)
	ctx := t.Context()

	role := rbacv1ac.Role("chaos-runner", ns).WithRules(
		rbacv1ac.PolicyRule().
			WithAPIGroups("chaos-mesh.org").
			WithResources("podchaos", "networkchaos").
			WithVerbs("get", "list", "create", "delete"),
		rbacv1ac.PolicyRule().
			WithAPIGroups("").
			WithResources("pods").
			WithVerbs("get", "list"),
	)
	binding := rbacv1ac.RoleBinding("chaos-runner", ns).
		WithRoleRef(rbacv1ac.RoleRef().WithAPIGroup("rbac.authorization.k8s.io").WithKind("Role").WithName("chaos-runner")).
		WithSubjects(rbacv1ac.Subject().WithKind("ServiceAccount").WithName("estate-chaos").WithNamespace(ns))
	require.NoError(t, env.Client.Apply(ctx, role, fieldOwner))
	require.NoError(t, env.Client.Apply(ctx, binding, fieldOwner))

	user := fmt.Sprintf("system:serviceaccount:%s:estate-chaos", ns)
	review := func(attrs authorizationv1.ResourceAttributes) (bool, error) {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               user,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + ns},
			ResourceAttributes: &attrs,
		}}
		if err := env.Client.Create(ctx, sar); err != nil {
			return false, err
		}
		return sar.Status.Allowed, nil
	}

	// The RBAC authorizer reads roles from an informer cache: wait until the
	// binding has reached it before asking what it denies.
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := testenv.WaitFor(waitCtx, 50*time.Millisecond, func() error {
		allowed, err := review(authorizationv1.ResourceAttributes{Namespace: ns, Group: "chaos-mesh.org", Resource: "podchaos", Verb: "create"})
		if err != nil {
			return err
		}
		if !allowed {
			return errors.New("not allowed yet")
		}
		return nil
	})
	require.NoError(t, err, "the role binding must allow creating PodChaos")

	tests := []struct {
		name  string
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		{"create PodChaos in its namespace", authorizationv1.ResourceAttributes{Namespace: ns, Group: "chaos-mesh.org", Resource: "podchaos", Verb: "create"}, true},
		{"delete NetworkChaos in its namespace", authorizationv1.ResourceAttributes{Namespace: ns, Group: "chaos-mesh.org", Resource: "networkchaos", Verb: "delete"}, true},
		{"list pods in its namespace", authorizationv1.ResourceAttributes{Namespace: ns, Resource: "pods", Verb: "list"}, true},
		{"delete pods", authorizationv1.ResourceAttributes{Namespace: ns, Resource: "pods", Verb: "delete"}, false},
		{"create StressChaos, not in the role", authorizationv1.ResourceAttributes{Namespace: ns, Group: "chaos-mesh.org", Resource: "stresschaos", Verb: "create"}, false},
		{"create PodChaos in another namespace", authorizationv1.ResourceAttributes{Namespace: other, Group: "chaos-mesh.org", Resource: "podchaos", Verb: "create"}, false},
		{"list pods cluster-wide", authorizationv1.ResourceAttributes{Resource: "pods", Verb: "list"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			allowed, err := review(tc.attrs)
			require.NoError(t, err)
			require.Equal(t, tc.want, allowed)
		})
	}
}
