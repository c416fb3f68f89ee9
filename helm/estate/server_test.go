package estate_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/internal/kubetest"
)

// applyConfiguration is m as server-side apply sends it.
func applyConfiguration(t testing.TB, m manifest) runtime.ApplyConfiguration {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, u.UnmarshalJSON(mustJSON(t, m)), "%s", m)
	return client.ApplyConfigurationFromUnstructured(u)
}

// mustJSON is m's rendered YAML as JSON.
func mustJSON(t testing.TB, m manifest) []byte {
	t.Helper()
	j, err := k8syaml.ToJSON(m.yaml)
	require.NoError(t, err, "%s", m)
	return j
}

// The chart's objects name this PriorityClass in testdata/all-on.yaml; a
// Pod that names a missing one is refused.
func ensurePriorityClass(t testing.TB, env *kubetest.Env) {
	t.Helper()
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "estate-test"}, Value: 1000}
	require.True(t, isAlreadyExists(env.Client.Create(t.Context(), pc)))
}

// TestAPIServerAcceptsEveryObject applies every object that helm template
// renders, server-side with a dry run, to a real API server: its schema
// validation (built-in types and the CRDs' OpenAPI schemas), defaulting and
// admission accept each one.
func TestAPIServerAcceptsEveryObject(t *testing.T) {
	env := kubetest.Shared(t, bothCRDSets)
	for _, tc := range []struct {
		name   string
		render func(chaosNamespace string) render
	}{
		{"defaults", func(string) render { return defaults }},
		{"all-on", allOn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns, team := env.Namespace(t), env.Namespace(t)
			manifests := renderObjects(t, tc.render(team), ns)
			for _, m := range manifests {
				t.Run(m.String(), func(t *testing.T) {
					err := env.Client.Apply(t.Context(), applyConfiguration(t, m), fieldOwner, client.ForceOwnership, client.DryRunAll)
					require.NoError(t, err)
				})
			}
		})
	}
}

// podsOf returns a Pod for each workload's pod template among manifests,
// as its controller would create it.
func podsOf(manifests []manifest, ns string) map[string]*corev1.Pod {
	pods := map[string]*corev1.Pod{}
	add := func(kind, name string, tmpl corev1.PodTemplateSpec) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: tmpl.Labels, Annotations: tmpl.Annotations},
			Spec:       *tmpl.Spec.DeepCopy(),
		}
		pods[kind+"/"+name] = pod
	}
	for _, m := range manifests {
		switch o := m.obj.(type) {
		case *appsv1.Deployment:
			add("Deployment", o.Name, o.Spec.Template)
		case *appsv1.StatefulSet:
			tmpl := *o.Spec.Template.DeepCopy()
			// The StatefulSet controller adds a volume per claim template.
			for _, claim := range o.Spec.VolumeClaimTemplates {
				tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{
					Name: claim.Name,
					VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
						ClaimName: fmt.Sprintf("%s-%s-0", claim.Name, o.Name),
					}},
				})
			}
			add("StatefulSet", o.Name+"-0", tmpl)
		case *batchv1.Job:
			add("Job", o.Name, o.Spec.Template)
		case *batchv1.CronJob:
			add("CronJob", o.Name, o.Spec.JobTemplate.Spec.Template)
		}
	}
	return pods
}

// restrictedNamespace creates a namespace where the API server's
// PodSecurity admission enforces the restricted Pod Security Standard.
func restrictedNamespace(t *testing.T, env *kubetest.Env) string {
	t.Helper()
	ns := env.Namespace(t)
	obj := &corev1.Namespace{}
	require.NoError(t, env.Client.Get(t.Context(), client.ObjectKey{Name: ns}, obj))
	if obj.Labels == nil {
		obj.Labels = map[string]string{}
	}
	obj.Labels["pod-security.kubernetes.io/enforce"] = "restricted"
	obj.Labels["pod-security.kubernetes.io/enforce-version"] = "latest"
	require.NoError(t, env.Client.Update(t.Context(), obj))
	return ns
}

// TestPodsMeetTheRestrictedPodSecurityStandard creates (dry run) the Pod of
// every workload, Job and CronJob in a namespace that enforces the
// restricted Pod Security Standard: the API server's PodSecurity admission
// decides, not a list of fields of this test's own.
func TestPodsMeetTheRestrictedPodSecurityStandard(t *testing.T) {
	env := kubetest.Shared(t, bothCRDSets)
	ensurePriorityClass(t, env)
	for _, r := range []render{defaults, allOn("")} {
		t.Run(r.name, func(t *testing.T) {
			ns := restrictedNamespace(t, env)
			manifests := renderObjects(t, r, ns)
			// A Pod's ServiceAccount must exist: create the rendered ones.
			for _, sa := range objectsOf[*corev1.ServiceAccount](manifests) {
				require.NoError(t, env.Client.Create(t.Context(), sa.DeepCopy()))
			}
			pods := podsOf(manifests, ns)
			require.NotEmpty(t, pods)
			for name, pod := range pods {
				t.Run(name, func(t *testing.T) {
					require.NoError(t, env.Client.Create(t.Context(), pod.DeepCopy(), client.DryRunAll))
				})
			}

			// The namespace does refuse a pod that may escalate privileges.
			var escalating *corev1.Pod
			for _, pod := range pods {
				escalating = pod.DeepCopy()
				break
			}
			escalating.Spec.Containers[0].SecurityContext.AllowPrivilegeEscalation = ptr.To(true)
			err := env.Client.Create(t.Context(), escalating, client.DryRunAll)
			require.True(t, apierrors.IsForbidden(err), "want PodSecurity to refuse it, got %v", err)
			require.ErrorContains(t, err, "allowPrivilegeEscalation != false")
		})
	}
}
