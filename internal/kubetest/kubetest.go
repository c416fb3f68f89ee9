// Package kubetest runs a real Kubernetes API server for tests: the
// kube-apiserver and etcd that `make test` builds into bin/, started by
// controller-runtime's envtest, with the CustomResourceDefinitions of the
// APIs that Estate creates objects of (Chaos Mesh, the Prometheus
// Operator's monitoring API) installed.
//
// The server validates what it is sent as a cluster would: schema
// validation of custom resources, server-side apply and dry runs
// (client.DryRunAll), RBAC. No controller runs, so nothing acts on the
// objects: a Deployment gets no Pods, a deleted Namespace stays Terminating.
//
// A start costs seconds, so a test binary should share one server
// (Shared, with Main in TestMain) and give each test a namespace of its own
// (Env.Namespace); Start gives a test a server of its own.
package kubetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/estatehq/estate/internal/testenv"
)

// Environment variables that `make test` sets for the tests.
const (
	// EnvAssets is the folder that holds the kube-apiserver and etcd binaries.
	EnvAssets = "ESTATE_KUBE_ASSETS"
	// EnvCRDDir is the folder that holds one folder of CRD manifests per CRD
	// set (ChaosMesh, PrometheusOperator).
	EnvCRDDir = "ESTATE_CRD_DIR"
)

// CRD sets that `make test` generates into $ESTATE_CRD_DIR.
const (
	// ChaosMesh is every CRD of Chaos Mesh's chaos-mesh.org/v1alpha1 API
	// (PodChaos, NetworkChaos, HTTPChaos, StressChaos, Schedule, Workflow, ...).
	ChaosMesh = "chaos-mesh"
	// PrometheusOperator is every CRD of the Prometheus Operator's
	// monitoring.coreos.com API (ServiceMonitor, PodMonitor, PrometheusRule, ...).
	PrometheusOperator = "prometheus-operator"
)

// crdSets are the CRD set names that Options.CRDs accepts.
var crdSets = []string{ChaosMesh, PrometheusOperator}

const installHint = "run `make test` (or `make deps`), which builds them into bin/ and sets " + EnvAssets

// Timeouts of the control plane. A cold start takes about five seconds; the
// margin is for a machine busy with other builds and the race detector.
const (
	startTimeout = 2 * time.Minute
	stopTimeout  = 30 * time.Second
	crdTimeout   = time.Minute
)

// Options configure an API server.
type Options struct {
	// CRDs are the CustomResourceDefinitions to install before the server
	// is handed out. Each entry is either the name of a CRD set that `make
	// test` generates (ChaosMesh, PrometheusOperator) or the path of a
	// folder or file of CRD manifests (YAML or JSON).
	CRDs []string
}

// Env is a running API server with a client for it.
type Env struct {
	// Config reaches the server as a member of system:masters.
	Config *rest.Config
	// Scheme is the scheme of Client (see NewScheme).
	Scheme *runtime.Scheme
	// Client is a controller-runtime client for the server.
	Client client.Client

	env *envtest.Environment

	mu        sync.Mutex // guards what Shared adds to a running server
	installed []string   // CRD paths installed so far
	crds      []*apiextensionsv1.CustomResourceDefinition
}

// Start starts an API server of its own for t with the CRDs of opts
// installed and established, and stops it when t ends. A missing binary or
// CRD set fails t in strict mode and skips it otherwise.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	assets := assetsDir(t)
	paths := crdPaths(t, opts.CRDs)
	e, err := start(assets, paths)
	if err != nil {
		t.Fatalf("starting the Kubernetes API server: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Stop(); err != nil {
			t.Errorf("stopping the Kubernetes API server: %v", err)
		}
	})
	return e
}

func start(assets string, crds []string) (*Env, error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		Scheme:                   scheme,
		ControlPlaneStartTimeout: startTimeout,
		ControlPlaneStopTimeout:  stopTimeout,
		CRDInstallOptions: envtest.CRDInstallOptions{
			Paths:              crds,
			ErrorIfPathMissing: true,
			MaxTime:            crdTimeout,
		},
	}
	// Explicit paths, so that neither KUBEBUILDER_ASSETS nor a download
	// decides which binaries run.
	env.ControlPlane.GetAPIServer().Path = filepath.Join(assets, "kube-apiserver")
	env.ControlPlane.Etcd = &envtest.Etcd{Path: filepath.Join(assets, "etcd")}
	cfg, err := env.Start()
	if err != nil {
		// A half-started control plane still has processes to stop.
		return nil, errors.Join(fmt.Errorf("starting envtest: %w", err), env.Stop())
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("creating the client: %w", err), env.Stop())
	}
	return &Env{Config: cfg, Scheme: scheme, Client: c, env: env, installed: slices.Clone(crds), crds: env.CRDs}, nil
}

// install installs the CRDs under paths that are not installed yet and
// waits until the server serves them.
func (e *Env) install(paths []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var add []string
	for _, p := range paths {
		if !slices.Contains(e.installed, p) {
			add = append(add, p)
		}
	}
	if len(add) == 0 {
		return nil
	}
	crds, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{
		Paths:              add,
		ErrorIfPathMissing: true,
		MaxTime:            crdTimeout,
		Scheme:             e.Scheme,
	})
	if err != nil {
		return fmt.Errorf("installing CRDs from %v: %w", add, err)
	}
	e.installed = append(e.installed, add...)
	e.crds = append(e.crds, crds...)
	return nil
}

// CRDs returns the CustomResourceDefinitions installed so far.
func (e *Env) CRDs() []*apiextensionsv1.CustomResourceDefinition {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.crds)
}

// Stop stops the API server and etcd and removes their files.
func (e *Env) Stop() error {
	if err := e.env.Stop(); err != nil {
		return fmt.Errorf("stopping envtest: %w", err)
	}
	return nil
}

var namespaceSeq atomic.Int64

// Namespace creates a namespace for t, named after it, so that tests that
// share a server do not see each other's objects. The namespace is deleted
// when t ends (with no namespace controller, it stays Terminating).
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", trimName(testenv.SanitizeName(t.Name()), 50), namespaceSeq.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Client.Delete(ctx, ns); err != nil {
			t.Logf("deleting namespace %s: %v", name, err)
		}
	})
	return name
}

// trimName makes a sanitized test name a valid namespace name prefix: DNS
// labels take hyphens, not underscores, and must start and end with a letter
// or digit.
func trimName(s string, n int) string {
	b := []byte(s)
	for i, c := range b {
		if c == '_' {
			b[i] = '-'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	out := string(b)
	for len(out) > 0 && out[len(out)-1] == '-' {
		out = out[:len(out)-1]
	}
	if out == "" || out[0] == '-' {
		out = "t" + out
	}
	return out
}

// assetsDir returns the folder that holds kube-apiserver and etcd, or
// reports them missing.
func assetsDir(t testenv.TB) string {
	t.Helper()
	dir := os.Getenv(EnvAssets)
	if dir == "" {
		testenv.Missing(t, "the Kubernetes API server (kube-apiserver and etcd)", EnvAssets+" is not set; "+installHint)
		return ""
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			testenv.Missing(t, name, fmt.Sprintf("%s=%s holds no executable %s; %s", EnvAssets, dir, name, installHint))
			return ""
		}
	}
	return dir
}

// crdPaths resolves Options.CRDs to paths: a CRD set name to its folder
// under $ESTATE_CRD_DIR, anything else to itself. A CRD set that was not
// generated is reported missing; a path that does not exist is a mistake in
// the test and fails it.
func crdPaths(t testenv.TB, crds []string) []string {
	t.Helper()
	paths := make([]string, 0, len(crds))
	for _, c := range crds {
		if !slices.Contains(crdSets, c) {
			if _, err := os.Stat(c); err != nil {
				t.Fatalf("CRD path %q: %v (the CRD sets are %v)", c, err, crdSets)
				return nil
			}
			paths = append(paths, c)
			continue
		}
		hint := "run `make test` (or `make deps`), which generates them with controller-gen and sets " + EnvCRDDir
		dir := os.Getenv(EnvCRDDir)
		if dir == "" {
			testenv.Missing(t, "the "+c+" CRDs", EnvCRDDir+" is not set; "+hint)
			return nil
		}
		p := filepath.Join(dir, c)
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			testenv.Missing(t, "the "+c+" CRDs", fmt.Sprintf("%s=%s has no folder %s; %s", EnvCRDDir, dir, c, hint))
			return nil
		}
		paths = append(paths, p)
	}
	return paths
}
