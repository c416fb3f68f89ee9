package estate_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestReportArchiveOnAClaim: the report server keeps its archive on a
// PersistentVolumeClaim that outlives the release (or on one the operator
// names), mounted on its data directory, one pod at a time.
func TestReportArchiveOnAClaim(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantClaim string
		// wantPVC is the chart's own claim; nil when it renders none.
		wantPVC *corev1.PersistentVolumeClaimSpec
	}{
		{
			name: "the chart's claim", wantClaim: "estate-report-server-archive",
			wantPVC: &corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		},
		{
			name: "its size and class", args: []string{"--set", "reportServer.persistence.size=5Gi", "--set", "reportServer.persistence.storageClassName=gp3"},
			wantClaim: "estate-report-server-archive",
			wantPVC: &corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: new("gp3"),
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}},
			},
		},
		{
			name: "an existing claim", args: []string{"--set", "reportServer.persistence.existingClaim=reports"},
			wantClaim: "reports",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			manifests := renderObjects(t, render{name: tc.name, args: tc.args}, "estate")
			pvcs := objectsOf[*corev1.PersistentVolumeClaim](manifests)
			if tc.wantPVC == nil {
				require.Empty(t, pvcs)
			} else {
				require.Len(t, pvcs, 1)
				require.Equal(t, tc.wantClaim, pvcs[0].Name)
				require.Equal(t, "keep", pvcs[0].Annotations["helm.sh/resource-policy"], "uninstalling keeps the archive")
				require.Equal(t, *tc.wantPVC, pvcs[0].Spec)
			}

			var server *appsv1.Deployment
			for _, d := range objectsOf[*appsv1.Deployment](manifests) {
				if d.Name == "estate-report-server" {
					server = d
				}
			}
			require.NotNil(t, server)
			require.Equal(t, appsv1.RecreateDeploymentStrategyType, server.Spec.Strategy.Type, "the old pod lets go of the volume first")
			require.Equal(t, int32(1), *server.Spec.Replicas)
			pod := server.Spec.Template.Spec
			var data *corev1.Volume
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == "data" {
					data = &pod.Volumes[i]
				}
			}
			require.NotNil(t, data)
			require.Equal(t, &corev1.PersistentVolumeClaimVolumeSource{ClaimName: tc.wantClaim}, data.PersistentVolumeClaim)
			require.Nil(t, data.EmptyDir)
			require.Contains(t, pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/var/lib/estate"})
		})
	}
}

// TestWeeklyCronJobPublishes: with the weekly CronJob on, it runs
// `estate report-server publish` against the report server's Service with
// the token of its Secret (and nothing of the server's own options), and
// the server's own schedule is off, so a week is published once.
func TestWeeklyCronJobPublishes(t *testing.T) {
	manifests := renderObjects(t, render{name: "weekly", args: []string{"--set", "reportServer.weeklyReport.enabled=true",
		"--set", "reportServer.weeklyReport.token.existingSecret=publisher", "--set", "reportServer.extraArgs={--report.include-chaos}"}}, "estate")
	jobs := objectsOf[*batchv1.CronJob](manifests)
	require.Len(t, jobs, 1)
	c := jobs[0].Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"report-server", "publish", "--report-server-url=http://estate-report-server.estate.svc:8090"}, c.Args)
	var token *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "ESTATE_TOKEN" {
			token = &c.Env[i]
		}
	}
	require.NotNil(t, token)
	require.Equal(t, &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "publisher"}, Key: "token"}, token.ValueFrom.SecretKeyRef)

	for _, d := range objectsOf[*appsv1.Deployment](manifests) {
		if d.Name == "estate-report-server" {
			require.Contains(t, d.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "ESTATE_REPORT_SCHEDULE", Value: "off"})
			return
		}
	}
	t.Fatal("no report server")
}
