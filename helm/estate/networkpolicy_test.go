package estate_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// admits reports whether the policies that select dst let a pod of the same
// namespace with srcLabels reach dst's port: as Kubernetes evaluates
// ingress policies, a pod no policy selects takes everything, and a
// selected pod takes what any of its policies' rules allow.
func admits(t *testing.T, policies []*networkingv1.NetworkPolicy, srcLabels, dstLabels map[string]string, dst corev1.Container, port string) bool {
	t.Helper()
	matches := func(sel *metav1.LabelSelector, l map[string]string) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		require.NoError(t, err)
		return s.Matches(labels.Set(l))
	}
	i := slices.IndexFunc(dst.Ports, func(p corev1.ContainerPort) bool { return p.Name == port })
	require.GreaterOrEqual(t, i, 0, "no port %s", port)
	number := dst.Ports[i].ContainerPort
	selected := false
	for _, p := range policies {
		if !matches(&p.Spec.PodSelector, dstLabels) {
			continue
		}
		selected = true
		for _, rule := range p.Spec.Ingress {
			portOK := len(rule.Ports) == 0 || slices.ContainsFunc(rule.Ports, func(pp networkingv1.NetworkPolicyPort) bool {
				return *pp.Port == intstr.FromString(port) || *pp.Port == intstr.FromInt32(number)
			})
			fromOK := len(rule.From) == 0 || slices.ContainsFunc(rule.From, func(peer networkingv1.NetworkPolicyPeer) bool {
				// Peers with a namespace selector or an IP block are other
				// namespaces' pods or outside addresses, not the release's.
				return peer.PodSelector != nil && peer.NamespaceSelector == nil && peer.IPBlock == nil && matches(peer.PodSelector, srcLabels)
			})
			if portOK && fromOK {
				return true
			}
		}
	}
	return !selected
}

// TestNetworkPoliciesAdmitOnlyWhoNeedsEachPort evaluates the rendered
// NetworkPolicies for every pair of the release's pods: the collector's
// OTLP ports take the services only, the services' fault control ports the
// chaos controller only, the chaos controller's API the release's pods only,
// and every API port the rest of the world.
func TestNetworkPoliciesAdmitOnlyWhoNeedsEachPort(t *testing.T) {
	manifests := renderObjects(t, allOn("team-a"), "estate")
	policies := objectsOf[*networkingv1.NetworkPolicy](manifests)
	pods := map[string]corev1.PodTemplateSpec{}
	for _, w := range workloadsOf(manifests) {
		if w.longRunning {
			pods[w.template.Labels["app.kubernetes.io/name"]] = w.template
		}
	}
	require.Len(t, pods, 5)
	outsider := map[string]string{"app.kubernetes.io/name": "something-else"}

	tests := []struct {
		dst, port string
		from      []string // the release's pods admitted
		outsiders bool     // other pods of the namespace admitted
	}{
		{"collector", "otlp-grpc", []string{"credit", "invoicing"}, false},
		{"collector", "otlp-http", []string{"credit", "invoicing"}, false},
		{"collector", "http", []string{"chaos", "collector", "credit", "invoicing", "report-server"}, true},
		{"invoicing", "http", []string{"chaos", "collector", "credit", "invoicing", "report-server"}, true},
		{"invoicing", "fault", []string{"chaos"}, false},
		{"credit", "fault", []string{"chaos"}, false},
		{"chaos", "http", []string{"chaos", "collector", "credit", "invoicing", "report-server"}, false},
		{"report-server", "http", []string{"chaos", "collector", "credit", "invoicing", "report-server"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.dst+"/"+tc.port, func(t *testing.T) {
			dst := pods[tc.dst]
			var from []string
			for name, src := range pods {
				if admits(t, policies, src.Labels, dst.Labels, dst.Spec.Containers[0], tc.port) {
					from = append(from, name)
				}
			}
			slices.Sort(from)
			require.Equal(t, tc.from, from)
			require.Equal(t, tc.outsiders, admits(t, policies, outsider, dst.Labels, dst.Spec.Containers[0], tc.port))
		})
	}
}

// TestChaosAPIIsFencedWithoutNetworkPolicies checks that the chaos
// controller's API, which has no authentication of its own, gets its
// NetworkPolicy even when networkPolicy.enabled is off.
func TestChaosAPIIsFencedWithoutNetworkPolicies(t *testing.T) {
	manifests := renderObjects(t, render{name: "chaos", args: []string{"--set", "chaos.enabled=true"}}, "estate")
	policies := objectsOf[*networkingv1.NetworkPolicy](manifests)
	require.Equal(t, []string{"estate-chaos"}, names(policies))
}
