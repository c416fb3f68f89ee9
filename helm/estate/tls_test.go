package estate_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// TestTLSSecretsServeTLS: a target given a TLS Secret mounts it, serves TLS
// from its files, is probed over HTTPS and called over https; a target
// without one serves plain text.
func TestTLSSecretsServeTLS(t *testing.T) {
	byName := map[string]corev1.PodTemplateSpec{}
	for _, w := range workloadsOf(renderObjects(t, allOn("team-a"), "estate")) {
		byName[w.name] = w.template
	}
	tests := []struct {
		workload, secret string
	}{
		{"Deployment/estate-invoicing", "estate-invoicing-tls"},
		{"Deployment/estate-credit", "estate-credit-tls"},
		{"StatefulSet/estate-collector", ""},
		{"Job/estate-invoicing-migrate", ""},
	}
	for _, tt := range tests {
		t.Run(tt.workload, func(t *testing.T) {
			pod, ok := byName[tt.workload]
			require.True(t, ok, "no %s", tt.workload)
			c := pod.Spec.Containers[0]
			cert, hasCert := envValue(c, "ESTATE_TLS_CERT_FILE")
			var secret string
			for _, v := range pod.Spec.Volumes {
				if v.Name == "tls" && v.Secret != nil {
					secret = v.Secret.SecretName
				}
			}
			require.Equal(t, tt.secret, secret)
			if tt.secret == "" {
				require.False(t, hasCert)
				if c.ReadinessProbe != nil {
					require.Equal(t, corev1.URISchemeHTTP, c.ReadinessProbe.HTTPGet.Scheme)
				}
				return
			}
			require.Equal(t, "/etc/estate/tls/tls.crt", cert.Value)
			key, _ := envValue(c, "ESTATE_TLS_KEY_FILE")
			require.Equal(t, "/etc/estate/tls/tls.key", key.Value)
			require.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "tls", MountPath: "/etc/estate/tls", ReadOnly: true})
			for _, p := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				require.Equal(t, corev1.URISchemeHTTPS, p.HTTPGet.Scheme)
			}
		})
	}
	invoicing := byName["Deployment/estate-invoicing"].Spec.Containers[0]
	subs, _ := envValue(invoicing, "ESTATE_INVOICING_OUTBOX_SUBSCRIBERS")
	require.Contains(t, subs.Value, "credit=https://estate-credit.estate.svc:8082/v1/credit/events", "the others call a TLS target over https")
}
