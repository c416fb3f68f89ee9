package estate_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// A workload is a pod template and what runs it.
type workload struct {
	name        string // kind/name
	longRunning bool   // a Deployment or StatefulSet, not a Job
	template    corev1.PodTemplateSpec
}

func workloadsOf(manifests []manifest) []workload {
	var out []workload
	for _, m := range manifests {
		switch o := m.obj.(type) {
		case *appsv1.Deployment:
			out = append(out, workload{"Deployment/" + o.Name, true, o.Spec.Template})
		case *appsv1.StatefulSet:
			out = append(out, workload{"StatefulSet/" + o.Name, true, o.Spec.Template})
		case *batchv1.Job:
			out = append(out, workload{"Job/" + o.Name, false, o.Spec.Template})
		case *batchv1.CronJob:
			out = append(out, workload{"CronJob/" + o.Name, false, o.Spec.JobTemplate.Spec.Template})
		}
	}
	return out
}

// bothRenders renders the default values and every optional part on.
func bothRenders(t *testing.T) map[string][]manifest {
	t.Helper()
	return map[string][]manifest{
		"defaults": renderObjects(t, defaults, "estate"),
		"all-on":   renderObjects(t, allOn("team-a"), "estate"),
	}
}

func envValue(c corev1.Container, name string) (corev1.EnvVar, bool) {
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
	if i < 0 {
		return corev1.EnvVar{}, false
	}
	return c.Env[i], true
}

// requireHTTPProbe requires p to GET path on one of c's ports.
func requireHTTPProbe(t *testing.T, c corev1.Container, p *corev1.Probe, path string) {
	t.Helper()
	require.NotNil(t, p)
	require.NotNil(t, p.HTTPGet)
	require.Equal(t, path, p.HTTPGet.Path)
	require.True(t, slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool {
		return p.HTTPGet.Port == intstr.FromString(cp.Name) || p.HTTPGet.Port == intstr.FromInt32(cp.ContainerPort)
	}), "the probe's port %s is not a port of the container", p.HTTPGet.Port.String())
}

// TestEveryContainerIsBoundedProbedAndLockedDown checks, over both renders,
// what every container must have: limits and requests, GOMEMLIMIT under the
// memory limit, a non-root user, a read-only root filesystem with /tmp on an
// emptyDir, no privilege escalation, no capabilities, the runtime's seccomp
// profile, an immutable image reference, and, for the targets that serve,
// liveness on /healthz and readiness on /readyz.
func TestEveryContainerIsBoundedProbedAndLockedDown(t *testing.T) {
	for render, manifests := range bothRenders(t) {
		workloads := workloadsOf(manifests)
		require.NotEmpty(t, workloads)
		for _, w := range workloads {
			t.Run(render+"/"+w.name, func(t *testing.T) {
				spec := w.template.Spec
				require.NotNil(t, spec.SecurityContext)
				require.Equal(t, ptrTrue, spec.SecurityContext.RunAsNonRoot)
				require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, spec.SecurityContext.SeccompProfile.Type)
				require.NotNil(t, spec.AutomountServiceAccountToken, "the token's mount must be decided, not defaulted")
				require.NotEmpty(t, spec.ServiceAccountName)
				require.Empty(t, spec.InitContainers)
				require.False(t, spec.HostNetwork || spec.HostPID || spec.HostIPC)

				emptyDirs := map[string]bool{}
				for _, v := range spec.Volumes {
					emptyDirs[v.Name] = v.EmptyDir != nil
					require.Nil(t, v.HostPath, "volume %s", v.Name)
				}
				require.Len(t, spec.Containers, 1)
				for _, c := range spec.Containers {
					limits, requests := c.Resources.Limits, c.Resources.Requests
					for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
						require.Contains(t, limits, r)
						require.Contains(t, requests, r)
						require.LessOrEqual(t, requests.Name(r, resource.DecimalSI).Cmp(limits[r]), 0, "the %s request is above its limit", r)
					}

					// GOMEMLIMIT is 90% of the memory limit: the runtime
					// collects before the kernel kills.
					gomemlimit, ok := envValue(c, "GOMEMLIMIT")
					require.True(t, ok, "GOMEMLIMIT is not set")
					got, err := strconv.ParseInt(gomemlimit.Value, 10, 64)
					require.NoError(t, err)
					require.Equal(t, limits.Memory().Value()*90/100, got)

					sc := c.SecurityContext
					require.NotNil(t, sc)
					require.Equal(t, ptrTrue, sc.RunAsNonRoot)
					require.NotNil(t, sc.RunAsUser)
					require.NotZero(t, *sc.RunAsUser)
					require.Equal(t, ptrTrue, sc.ReadOnlyRootFilesystem)
					require.Equal(t, ptrFalse, sc.AllowPrivilegeEscalation)
					require.Equal(t, ptrFalse, sc.Privileged)
					require.NotNil(t, sc.Capabilities)
					require.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
					require.Empty(t, sc.Capabilities.Add)
					require.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)

					// The root filesystem is read-only: /tmp is an emptyDir.
					i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/tmp" })
					require.GreaterOrEqual(t, i, 0, "/tmp is not mounted")
					require.True(t, emptyDirs[c.VolumeMounts[i].Name], "/tmp is not an emptyDir")

					require.False(t, strings.HasSuffix(c.Image, ":latest"), "image %s", c.Image)
					require.True(t, strings.Contains(c.Image, "@sha256:") || strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":"), "image %s has no tag or digest", c.Image)

					if !w.longRunning {
						require.Nil(t, c.LivenessProbe, "a Job's container serves nothing to probe")
						continue
					}
					requireHTTPProbe(t, c, c.LivenessProbe, "/healthz")
					requireHTTPProbe(t, c, c.ReadinessProbe, "/readyz")
					requireHTTPProbe(t, c, c.StartupProbe, "/healthz")
				}
			})
		}
	}
}

var (
	ptrTrue  = ptr.To(true)
	ptrFalse = ptr.To(false)
)

// TestServicesRunTheirImage checks that invoicing, credit and their
// migrations run the services' image when one is set, and every other
// workload the estate image, with the tag of the release.
func TestServicesRunTheirImage(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	// The image each render runs, by whether the workload is a service's;
	// defaults carry the chart's appVersion as their tag.
	images := map[string]map[bool]string{
		"defaults": {false: "ghcr.io/estatehq/estate:", true: "ghcr.io/estatehq/estate:"},
		"all-on":   {false: "registry.example.com/estate@" + digest, true: "registry.example.com/estate-services:1.2.3"},
	}
	for render, manifests := range bothRenders(t) {
		services := 0
		for _, w := range workloadsOf(manifests) {
			c := w.template.Spec.Containers[0]
			service := c.Args[0] == "invoicing" || c.Args[0] == "credit"
			if service {
				services++
			}
			want := images[render][service]
			require.True(t, strings.HasPrefix(c.Image, want), "%s %s runs %s, want %s", render, w.name, c.Image, want)
		}
		require.Equal(t, 4, services, "%s: two Deployments and two migration Jobs", render)
	}
}

// TestShutdownIsGivenTimeToDrain checks that a stopping pod is given its
// target's shutdown timeout (ESTATE_SHUTDOWN_TIMEOUT) after the preStop
// pause that takes it out of its Services' endpoints.
func TestShutdownIsGivenTimeToDrain(t *testing.T) {
	for render, manifests := range bothRenders(t) {
		for _, w := range workloadsOf(manifests) {
			if !w.longRunning {
				continue
			}
			t.Run(render+"/"+w.name, func(t *testing.T) {
				c := w.template.Spec.Containers[0]
				timeout, ok := envValue(c, "ESTATE_SHUTDOWN_TIMEOUT")
				require.True(t, ok)
				shutdown, err := time.ParseDuration(timeout.Value)
				require.NoError(t, err)
				require.NotNil(t, c.Lifecycle)
				require.NotNil(t, c.Lifecycle.PreStop)
				require.NotNil(t, c.Lifecycle.PreStop.Sleep, "the image has no shell: the pause is the kubelet's sleep")
				preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
				require.Positive(t, preStop)
				grace := time.Duration(*w.template.Spec.TerminationGracePeriodSeconds) * time.Second
				require.Greater(t, grace, preStop+shutdown)
			})
		}
	}
}

// TestCollectorKeepsItsQueueOnAVolume checks the collector's StatefulSet:
// its data folder on a PersistentVolumeClaim, its governing headless
// Service, a PodDisruptionBudget, and a grace period long enough to drain.
func TestCollectorKeepsItsQueueOnAVolume(t *testing.T) {
	manifests := renderObjects(t, defaults, "estate")
	sets := objectsOf[*appsv1.StatefulSet](manifests)
	require.Len(t, sets, 1)
	sts := sets[0]
	require.Equal(t, "estate-collector", sts.Name)
	require.Equal(t, []string{"collector"}, sts.Spec.Template.Spec.Containers[0].Args)

	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	claim := sts.Spec.VolumeClaimTemplates[0]
	require.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, claim.Spec.AccessModes)
	require.Equal(t, resource.MustParse("20Gi"), claim.Spec.Resources.Requests[corev1.ResourceStorage])
	require.Equal(t, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted)

	c := sts.Spec.Template.Spec.Containers[0]
	dataDir, ok := envValue(c, "ESTATE_DATA_DIR")
	require.True(t, ok)
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dataDir.Value })
	require.GreaterOrEqual(t, i, 0, "the data folder is not mounted")
	require.Equal(t, claim.Name, c.VolumeMounts[i].Name, "the data folder is not the claim's volume")
	require.False(t, slices.ContainsFunc(sts.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == claim.Name }),
		"a pod volume named like the claim would hide it")

	services := objectsOf[*corev1.Service](manifests)
	i = slices.IndexFunc(services, func(s *corev1.Service) bool { return s.Name == sts.Spec.ServiceName })
	require.GreaterOrEqual(t, i, 0, "no governing Service %s", sts.Spec.ServiceName)
	require.Equal(t, corev1.ClusterIPNone, services[i].Spec.ClusterIP)
	require.True(t, selects(services[i].Spec.Selector, sts.Spec.Template.Labels))

	budgets := objectsOf[*policyv1.PodDisruptionBudget](manifests)
	i = slices.IndexFunc(budgets, func(b *policyv1.PodDisruptionBudget) bool { return b.Name == sts.Name })
	require.GreaterOrEqual(t, i, 0, "no PodDisruptionBudget for the collector")
	sel, err := metav1.LabelSelectorAsSelector(budgets[i].Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set(sts.Spec.Template.Labels)))

	timeout, _ := envValue(c, "ESTATE_SHUTDOWN_TIMEOUT")
	require.Equal(t, "60s", timeout.Value, "the collector flushes its queue before it stops")
}

// selects reports whether a Service selector picks pods with podLabels.
func selects(selector, podLabels map[string]string) bool {
	return len(selector) > 0 && labels.SelectorFromSet(selector).Matches(labels.Set(podLabels))
}

// TestSecretsComeOnlyFromSecrets checks that the chart renders no Secret and
// that every option holding a credential is read from a Secret's key.
func TestSecretsComeOnlyFromSecrets(t *testing.T) {
	secretish := []string{"_DSN", "_SECRET", "_PASSWORD", "_API_KEY", "_TOKEN"}
	for render, manifests := range bothRenders(t) {
		t.Run(render, func(t *testing.T) {
			require.Empty(t, objectsOf[*corev1.Secret](manifests))
			var fromSecrets int
			for _, w := range workloadsOf(manifests) {
				for _, c := range w.template.Spec.Containers {
					for _, e := range c.Env {
						if !slices.ContainsFunc(secretish, func(s string) bool { return strings.HasSuffix(e.Name, s) }) {
							continue
						}
						require.Empty(t, e.Value, "%s: %s has a literal value", w.name, e.Name)
						require.NotNil(t, e.ValueFrom, "%s: %s", w.name, e.Name)
						require.NotNil(t, e.ValueFrom.SecretKeyRef, "%s: %s is not read from a Secret", w.name, e.Name)
						fromSecrets++
					}
				}
			}
			require.Positive(t, fromSecrets)
		})
	}
}

// TestMigrationsRunBeforeTheRelease checks the migration Jobs: Helm hooks
// that run `estate SERVICE migrate` with the service's database before an
// install or upgrade, replaced at the next attempt and deleted once they
// succeed.
func TestMigrationsRunBeforeTheRelease(t *testing.T) {
	manifests := renderObjects(t, defaults, "estate")
	jobs := objectsOf[*batchv1.Job](manifests)
	require.Equal(t, []string{"estate-credit-migrate", "estate-invoicing-migrate"}, names(jobs))
	deployments := objectsOf[*appsv1.Deployment](manifests)
	for _, job := range jobs {
		t.Run(job.Name, func(t *testing.T) {
			require.Equal(t, "pre-install,pre-upgrade", job.Annotations["helm.sh/hook"])
			require.Equal(t, "before-hook-creation,hook-succeeded", job.Annotations["helm.sh/hook-delete-policy"])
			service := strings.TrimSuffix(strings.TrimPrefix(job.Name, release+"-"), "-migrate")
			c := job.Spec.Template.Spec.Containers[0]
			require.Equal(t, []string{service, "migrate"}, c.Args)
			require.Equal(t, corev1.RestartPolicyNever, job.Spec.Template.Spec.RestartPolicy)

			// The same database as the service's pods.
			dsnVar := fmt.Sprintf("ESTATE_%s_POSTGRES_DSN", strings.ToUpper(service))
			dsn, ok := envValue(c, dsnVar)
			require.True(t, ok)
			i := slices.IndexFunc(deployments, func(d *appsv1.Deployment) bool { return d.Name == release+"-"+service })
			require.GreaterOrEqual(t, i, 0)
			serviceDSN, ok := envValue(deployments[i].Spec.Template.Spec.Containers[0], dsnVar)
			require.True(t, ok)
			require.Equal(t, serviceDSN.ValueFrom, dsn.ValueFrom)

			// Its ServiceAccount is a hook too, created before it.
			sas := objectsOf[*corev1.ServiceAccount](manifests)
			i = slices.IndexFunc(sas, func(sa *corev1.ServiceAccount) bool { return sa.Name == job.Spec.Template.Spec.ServiceAccountName })
			require.GreaterOrEqual(t, i, 0)
			require.Equal(t, "pre-install,pre-upgrade", sas[i].Annotations["helm.sh/hook"])
			saWeight, err := strconv.Atoi(sas[i].Annotations["helm.sh/hook-weight"])
			require.NoError(t, err)
			jobWeight, err := strconv.Atoi(job.Annotations["helm.sh/hook-weight"])
			require.NoError(t, err)
			require.Less(t, saWeight, jobWeight)
		})
	}
}

// TestServicesAndMonitorsSelectTheirPods checks that each Service selects
// the pods of exactly one workload through a port the pods have, that each
// ServiceMonitor selects exactly one Service by a port it has, and that each
// HorizontalPodAutoscaler scales a Deployment that leaves its replicas to it.
func TestServicesAndMonitorsSelectTheirPods(t *testing.T) {
	manifests := renderObjects(t, allOn("team-a"), "estate")
	workloads := workloadsOf(manifests)
	services := objectsOf[*corev1.Service](manifests)
	for _, svc := range services {
		t.Run("Service/"+svc.Name, func(t *testing.T) {
			var selected []workload
			for _, w := range workloads {
				if w.longRunning && selects(svc.Spec.Selector, w.template.Labels) {
					selected = append(selected, w)
				}
			}
			require.Len(t, selected, 1)
			ports := selected[0].template.Spec.Containers[0].Ports
			for _, p := range svc.Spec.Ports {
				require.True(t, slices.ContainsFunc(ports, func(cp corev1.ContainerPort) bool { return p.TargetPort == intstr.FromString(cp.Name) }),
					"port %s targets no port of %s", p.Name, selected[0].name)
			}
		})
	}
	monitors := objectsOf[*monitoringv1.ServiceMonitor](manifests)
	require.Len(t, monitors, 5)
	for _, sm := range monitors {
		t.Run("ServiceMonitor/"+sm.Name, func(t *testing.T) {
			sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
			require.NoError(t, err)
			var selected []*corev1.Service
			for _, svc := range services {
				if sel.Matches(labels.Set(svc.Labels)) {
					selected = append(selected, svc)
				}
			}
			require.Len(t, selected, 1, "one Service, so that each pod is scraped once")
			require.Len(t, sm.Spec.Endpoints, 1)
			require.Equal(t, "/metrics", sm.Spec.Endpoints[0].Path)
			require.True(t, slices.ContainsFunc(selected[0].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sm.Spec.Endpoints[0].Port }))
		})
	}
	for _, hpa := range objectsOf[*autoscalingv2.HorizontalPodAutoscaler](manifests) {
		t.Run("HorizontalPodAutoscaler/"+hpa.Name, func(t *testing.T) {
			i := slices.IndexFunc(objectsOf[*appsv1.Deployment](manifests), func(d *appsv1.Deployment) bool {
				return hpa.Spec.ScaleTargetRef.Kind == "Deployment" && d.Name == hpa.Spec.ScaleTargetRef.Name
			})
			require.GreaterOrEqual(t, i, 0)
			require.Nil(t, objectsOf[*appsv1.Deployment](manifests)[i].Spec.Replicas, "the autoscaler owns the replicas")
		})
	}
}

// TestOnlyTheChaosControllerIsGrantedChaosMesh checks the rendered RBAC:
// nothing cluster-wide, Chaos Mesh only to the chaos controller's
// ServiceAccount and only in the listed namespaces, and no Role at all with
// the default values.
func TestOnlyTheChaosControllerIsGrantedChaosMesh(t *testing.T) {
	renders := bothRenders(t)
	require.Empty(t, objectsOf[*rbacv1.Role](renders["defaults"]))
	require.Empty(t, objectsOf[*rbacv1.RoleBinding](renders["defaults"]))
	for name, manifests := range renders {
		require.Empty(t, objectsOf[*rbacv1.ClusterRole](manifests), name)
		require.Empty(t, objectsOf[*rbacv1.ClusterRoleBinding](manifests), name)
	}

	manifests := renders["all-on"]
	roles := map[string]*rbacv1.Role{}
	for _, r := range objectsOf[*rbacv1.Role](manifests) {
		roles[r.Namespace+"/"+r.Name] = r
	}
	var chaosNamespaces []string
	for _, b := range objectsOf[*rbacv1.RoleBinding](manifests) {
		role := roles[b.Namespace+"/"+b.RoleRef.Name]
		require.NotNil(t, role, "RoleBinding %s/%s binds a Role not rendered", b.Namespace, b.Name)
		grantsChaos := slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool { return slices.Contains(r.APIGroups, "chaos-mesh.org") })
		if !grantsChaos {
			continue
		}
		require.Equal(t, []rbacv1.Subject{{Kind: "ServiceAccount", Name: "estate-chaos", Namespace: "estate"}}, b.Subjects)
		chaosNamespaces = append(chaosNamespaces, b.Namespace)
	}
	slices.Sort(chaosNamespaces)
	require.Equal(t, []string{"team-a"}, chaosNamespaces)

	// The controller keeps its Chaos Mesh objects where it may.
	deployments := objectsOf[*appsv1.Deployment](manifests)
	i := slices.IndexFunc(deployments, func(d *appsv1.Deployment) bool { return d.Name == "estate-chaos" })
	require.GreaterOrEqual(t, i, 0)
	c := deployments[i].Spec.Template.Spec.Containers[0]
	on, _ := envValue(c, "ESTATE_CHAOS_KUBERNETES")
	require.Equal(t, "true", on.Value)
	objects, _ := envValue(c, "ESTATE_CHAOS_KUBERNETES_NAMESPACE")
	require.Equal(t, "team-a", objects.Value)
	require.Equal(t, ptrTrue, deployments[i].Spec.Template.Spec.AutomountServiceAccountToken, "the controller uses the API")
}
