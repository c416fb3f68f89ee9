package kubetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/estatehq/estate/internal/testenv"
)

const widgets = "testdata/widgets.yaml"

func widget(ns, name string, size int64) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kubetest.estate.dev/v1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": name, "namespace": ns},
		"spec":       map[string]any{"size": size},
	}}
	return u
}

// requireWidgetsServed proves the widgets CRD is installed and its schema
// enforced.
func requireWidgetsServed(t *testing.T, env *Env) {
	t.Helper()
	ns := env.Namespace(t)
	require.NoError(t, env.Client.Create(t.Context(), widget(ns, "ok", 3)))
	requireInvalidField(t, env.Client.Create(t.Context(), widget(ns, "empty", 0)), "spec.size")
}

func TestStartRunsAServerOfItsOwn(t *testing.T) {
	env := Start(t, Options{CRDs: []string{widgets}})
	requireWidgetsServed(t, env)

	sharedEnv := Shared(t, both)
	require.NotEqual(t, sharedEnv.Config.Host, env.Config.Host, "Start must not hand out the shared server")

	// The server of its own has only the CRDs it was asked for.
	var list unstructured.UnstructuredList
	list.SetAPIVersion("chaos-mesh.org/v1alpha1")
	list.SetKind("PodChaosList")
	require.Error(t, env.Client.List(t.Context(), &list))
}

func TestSharedInstallsCRDsOnDemand(t *testing.T) {
	first := Shared(t, both)
	env := Shared(t, Options{CRDs: []string{widgets}})
	require.Same(t, first, env, "a test binary has one shared server")
	requireWidgetsServed(t, env)

	again := Shared(t, Options{CRDs: []string{widgets, ChaosMesh}})
	require.Same(t, first, again)
}

func TestNamespaceIsFreshAndNamedAfterTheTest(t *testing.T) {
	env := Shared(t, both)
	a, b := env.Namespace(t), env.Namespace(t)
	require.NotEqual(t, a, b)
	require.Regexp(t, `^testnamespaceisfreshandnamedafterthetest-\d+$`, a)
	for _, name := range []string{"Test/with spaces_and_UNDERSCORES", "___", fmt.Sprintf("%0100d", 7)} {
		got := trimName(testenv.SanitizeName(name), 50)
		require.Regexp(t, `^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`, got, "from %q", name)
		require.LessOrEqual(t, len(got), 51)
	}
}

// recorder is a testenv.TB that records what a helper decided instead of
// acting on it.
type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Skipf(format string, a ...any)  { r.skipped = fmt.Sprintf(format, a...) }
func (r *recorder) Fatalf(format string, a ...any) { r.failed = fmt.Sprintf(format, a...) }

func TestMissingComponents(t *testing.T) {
	emptyDir := t.TempDir()
	assets := t.TempDir()
	for _, name := range []string{"kube-apiserver", "etcd"} {
		require.NoError(t, os.WriteFile(filepath.Join(assets, name), []byte("#!/bin/sh\n"), 0o755))
	}
	crdDir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(crdDir, ChaosMesh), 0o755))

	tests := []struct {
		name    string
		assets  string
		crdDir  string
		crds    []string
		strict  bool
		want    string // "", "skip" or "fail"
		mention string // what the message must name
	}{
		{name: "all there", assets: assets, crdDir: crdDir, crds: []string{ChaosMesh, widgets}, want: ""},
		{name: "assets unset, strict", crdDir: crdDir, strict: true, want: "fail", mention: EnvAssets},
		{name: "assets unset", crdDir: crdDir, want: "skip", mention: EnvAssets},
		{name: "no binaries in assets, strict", assets: emptyDir, crdDir: crdDir, strict: true, want: "fail", mention: "kube-apiserver"},
		{name: "CRD dir unset, strict", assets: assets, crds: []string{ChaosMesh}, strict: true, want: "fail", mention: EnvCRDDir},
		{name: "CRD set not generated", assets: assets, crdDir: crdDir, crds: []string{PrometheusOperator}, want: "skip", mention: PrometheusOperator},
		{name: "CRD set not generated, strict", assets: assets, crdDir: crdDir, crds: []string{PrometheusOperator}, strict: true, want: "fail", mention: "make test"},
		// A wrong path is the test's mistake, not a missing component.
		{name: "unknown CRD path", assets: assets, crdDir: crdDir, crds: []string{"chaos-mseh"}, want: "fail", mention: "chaos-mseh"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			strict := ""
			if tc.strict {
				strict = "1"
			}
			t.Setenv(testenv.EnvStrict, strict)
			t.Setenv(EnvAssets, tc.assets)
			t.Setenv(EnvCRDDir, tc.crdDir)
			var r recorder
			if assetsDir(&r) != "" {
				crdPaths(&r, tc.crds)
			}
			switch tc.want {
			case "":
				require.Empty(t, r.failed)
				require.Empty(t, r.skipped)
			case "skip":
				require.Empty(t, r.failed)
				require.Contains(t, r.skipped, tc.mention)
			case "fail":
				require.Empty(t, r.skipped)
				require.Contains(t, r.failed, tc.mention)
			}
		})
	}
}

// BenchmarkStart measures a start and stop of the API server, bare and with
// both CRD sets installed and established.
func BenchmarkStart(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts Options
	}{
		{"bare", Options{}},
		{"crds", both},
		{"chaos", Options{CRDs: []string{ChaosMesh}}},
		{"prom", Options{CRDs: []string{PrometheusOperator}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			assets := assetsDir(b)
			paths := crdPaths(b, bc.opts.CRDs)
			for b.Loop() {
				env, err := start(assets, paths)
				if err != nil {
					b.Fatal(err)
				}
				if err := env.Stop(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
