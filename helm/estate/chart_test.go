// Package estate_test tests the estate Helm chart: helm lint, helm
// template with the default values and with every optional part on, each
// rendered object decoded strictly into its Go type and applied (dry run)
// to a real Kubernetes API server with the Chaos Mesh and Prometheus
// Operator CRDs, the policies every workload must meet, the RBAC the
// chart grants as the API server decides it, the PrometheusRule's rules
// through promtool, and the values schema.
//
// The chart is rendered by the helm binary that `make test` builds
// (ESTATE_HELM_BIN), which reports Kubernetes 1.34 to the templates.
package estate_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/internal/kubetest"
	"github.com/estatehq/estate/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(kubetest.Main(m),
		// Started by klog's package initialisation, for the life of the process.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}

// release is the release name of every render: object names are
// release-target (estate-collector, estate-invoicing, ...).
const release = "estate"

const fieldOwner = client.FieldOwner("estate-test")

// bothCRDSets are the CRDs of the objects the chart renders.
var bothCRDSets = kubetest.Options{CRDs: []string{kubetest.ChaosMesh, kubetest.PrometheusOperator}}

// helmBin is the helm binary `make test` builds, with the Kubernetes
// version it reports set to the API server's.
func helmBin(t testing.TB) string {
	t.Helper()
	return testenv.Binary(t, "helm", "ESTATE_HELM_BIN", "run `make test` (or `make tools`), which builds helm into bin/ and sets ESTATE_HELM_BIN")
}

// runHelm runs helm with args in the chart's folder and returns its
// standard output, or an error carrying its standard error.
func runHelm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), helmBin(t), args...)
	// Helm's own files (repositories, registry logins, caches) stay in the test's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home+"/config", "HELM_CACHE_HOME="+home+"/cache", "HELM_DATA_HOME="+home+"/data")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// A render is the chart's values: the arguments of helm template after the
// release and chart.
type render struct {
	name string
	args []string
}

// defaults is the chart with its default values.
var defaults = render{name: "defaults"}

// allOn is the chart with every optional part on: testdata/all-on.yaml,
// the test rules file and dashboard, and the team's namespace, where the
// chaos controller may break things and the collector may abort Argo
// Rollouts (neither when empty).
func allOn(teamNamespace string) render {
	ns := "[]"
	if teamNamespace != "" {
		ns = `["` + teamNamespace + `"]`
	}
	return render{name: "all-on", args: []string{
		"--values", "testdata/all-on.yaml",
		"--set-file", "prometheusRule.rules=testdata/rules.yaml",
		"--set-file", "grafanaDashboards.dashboards.estate-test=testdata/dashboard.json",
		"--set-json", "chaos.kubernetes.namespaces=" + ns,
		"--set", "collector.rollout.hooks.argo.namespace=" + teamNamespace,
	}}
}

// template runs helm template for r in namespace ns.
func template(t testing.TB, r render, ns string) (string, error) {
	t.Helper()
	return runHelm(t, append([]string{"template", release, ".", "--namespace", ns}, r.args...)...)
}

// A manifest is one rendered object.
type manifest struct {
	source string // the template that rendered it
	yaml   []byte
	obj    runtime.Object // strictly decoded into its Go type
}

func (m manifest) String() string {
	o := m.obj.(client.Object)
	return fmt.Sprintf("%s %s/%s (%s)", m.obj.GetObjectKind().GroupVersionKind().Kind, o.GetNamespace(), o.GetName(), m.source)
}

// strictDecoder decodes a manifest into its client-go or CRD Go type and
// fails on unknown and duplicate fields.
var strictDecoder = sync.OnceValues(func() (runtime.Decoder, error) {
	scheme, err := kubetest.NewScheme()
	if err != nil {
		return nil, err
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer(), nil
})

// decodeManifests splits helm template's output into its objects and
// decodes each strictly.
func decodeManifests(out string) ([]manifest, error) {
	dec, err := strictDecoder()
	if err != nil {
		return nil, err
	}
	reader := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	var manifests []manifest
	var errs []error
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("splitting the rendered manifests: %w", err)
		}
		source := ""
		var content bool
		for line := range strings.Lines(string(doc)) {
			line = strings.TrimSpace(line)
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = s
			}
			if line != "" && !strings.HasPrefix(line, "#") && line != "---" {
				content = true
			}
		}
		if !content {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			continue
		}
		manifests = append(manifests, manifest{source: source, yaml: doc, obj: obj})
	}
	return manifests, errors.Join(errs...)
}

// renderObjects renders r in ns and decodes every object strictly; either
// failing fails t.
func renderObjects(t testing.TB, r render, ns string) []manifest {
	t.Helper()
	out, err := template(t, r, ns)
	require.NoError(t, err)
	manifests, err := decodeManifests(out)
	require.NoError(t, err, "every rendered object must decode strictly into its Go type")
	require.NotEmpty(t, manifests)
	return manifests
}

// objectsOf returns the objects of type T among manifests.
func objectsOf[T runtime.Object](manifests []manifest) []T {
	var out []T
	for _, m := range manifests {
		if o, ok := m.obj.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// kinds counts the rendered objects by kind.
func kinds(manifests []manifest) map[string]int {
	out := map[string]int{}
	for _, m := range manifests {
		out[m.obj.GetObjectKind().GroupVersionKind().Kind]++
	}
	return out
}

func TestLint(t *testing.T) {
	for _, r := range []render{defaults, allOn("team-a")} {
		t.Run(r.name, func(t *testing.T) {
			out, err := runHelm(t, append([]string{"lint", ".", "--strict"}, r.args...)...)
			require.NoError(t, err)
			require.Contains(t, out, "1 chart(s) linted, 0 chart(s) failed")
		})
	}
}

func TestTemplateRendersEveryPart(t *testing.T) {
	tests := []struct {
		render render
		want   map[string]int
	}{
		{
			render: defaults,
			want: map[string]int{
				// invoicing, credit, report server
				"Deployment":  3,
				"StatefulSet": 1,
				// collector, its headless Service; invoicing, credit, report server
				"Service":             5,
				"ServiceAccount":      5, // four targets and the migration Jobs'
				"PodDisruptionBudget": 3,
				"Job":                 2, // invoicing and credit migrations
				// the report archive
				"PersistentVolumeClaim": 1,
			},
		},
		{
			render: allOn("team-a"),
			want: map[string]int{
				"Deployment":  4,
				"StatefulSet": 1,
				// and the chaos controller's, and invoicing's and credit's fault ports
				"Service":                 8,
				"ServiceAccount":          6,
				"PodDisruptionBudget":     3,
				"HorizontalPodAutoscaler": 2,
				"Job":                     2,
				"CronJob":                 1,
				"PersistentVolumeClaim":   1,
				// the chaos controller's and the collector's Argo hook's, in team-a
				"Role":           2,
				"RoleBinding":    2,
				"NetworkPolicy":  5,
				"ServiceMonitor": 5,
				"PrometheusRule": 1,
				"ConfigMap":      1,
				"Ingress":        1,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.render.name, func(t *testing.T) {
			manifests := renderObjects(t, tc.render, "estate")
			require.Equal(t, tc.want, kinds(manifests))
		})
	}
}

// requireFailsNaming requires helm template with args to fail with every
// one of wants in its message.
func requireFailsNaming(t *testing.T, r render, wants ...string) {
	t.Helper()
	_, err := template(t, r, "estate")
	require.Error(t, err, "helm template must refuse these values")
	for _, w := range wants {
		require.Contains(t, err.Error(), w)
	}
}

// isAlreadyExists is apierrors.IsAlreadyExists, for creating what other
// tests on the shared server may have created.
func isAlreadyExists(err error) bool { return err == nil || apierrors.IsAlreadyExists(err) }

// names returns the names of objects.
func names[T client.Object](objs []T) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	slices.Sort(out)
	return out
}

// TestDecodingIsStrict checks the decoder the tests read renders with: an
// unknown or duplicated field fails, in built-in and CRD types alike.
func TestDecodingIsStrict(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{
			name: "unknown field",
			doc:  "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replica: 2\n",
			want: `unknown field "spec.replica"`,
		},
		{
			name: "duplicate field",
			doc:  "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nautomountServiceAccountToken: false\nautomountServiceAccountToken: true\n",
			want: `"automountServiceAccountToken" already set`,
		},
		{
			name: "unknown field of a CRD type",
			doc:  "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: x}\nspec:\n  selector: {}\n  endpoints: [{port: http, intervall: 30s}]\n",
			want: `unknown field "spec.endpoints[0].intervall"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeManifests("---\n# Source: estate/templates/x.yaml\n" + tc.doc)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
