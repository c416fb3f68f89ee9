package chaosmesh_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/chaosmesh"
	"github.com/estatehq/estate/chaos/sqlite"
	"github.com/estatehq/estate/internal/kubetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(kubetest.Main(m),
		// Started by klog's package initialisation, for the life of the process.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
	)
}

func server(t *testing.T) (*kubetest.Env, string) {
	t.Helper()
	env := kubetest.Shared(t, kubetest.Options{CRDs: []string{kubetest.ChaosMesh}})
	return env, env.Namespace(t)
}

func executor(t *testing.T, c client.Client, environment string) *chaosmesh.Executor {
	t.Helper()
	ex, err := chaosmesh.New(chaosmesh.Options{Client: c, Environment: environment, PollInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	return ex
}

// experiment is a Kubernetes experiment on one credit pod of ns.
func experiment(ns string, f chaos.Fault) chaos.Experiment {
	return chaos.Experiment{APIVersion: chaos.APIVersion, Kind: chaos.KindExperiment, Metadata: chaos.Metadata{Name: "credit-chaos"},
		Spec: chaos.Spec{
			Target: chaos.Target{Service: "credit", Kubernetes: &chaos.KubernetesTarget{
				Selector: v1alpha1.PodSelectorSpec{
					GenericSelectorSpec: v1alpha1.GenericSelectorSpec{Namespaces: []string{ns}, LabelSelectors: map[string]string{"app.kubernetes.io/name": "credit"}},
				},
				Mode: v1alpha1.FixedMode, Value: "1", BlastRadius: chaos.BlastRadius{MaxPods: 1},
			}},
			Fault:           f,
			Duration:        "10m",
			Hypothesis:      chaos.Hypothesis{Interval: "1s", Probes: []chaos.Probe{{Name: "alive", HTTP: &chaos.HTTPProbe{URL: "http://127.0.0.1:1/healthz"}}}},
			ExpectedOutcome: chaos.ExpectedOutcome{RecoverWithin: "10s"},
		}}
}

// faults are one valid fault of each Chaos Mesh kind.
var faults = map[string]chaos.Fault{
	v1alpha1.KindPodChaos: {PodChaos: &v1alpha1.PodChaosSpec{Action: v1alpha1.PodKillAction}},
	v1alpha1.KindNetworkChaos: {NetworkChaos: &v1alpha1.NetworkChaosSpec{Action: v1alpha1.DelayAction, Direction: v1alpha1.To,
		TcParameter: v1alpha1.TcParameter{Delay: &v1alpha1.DelaySpec{Latency: "100ms", Jitter: "10ms", Correlation: "25"}}}},
	v1alpha1.KindHTTPChaos: {HTTPChaos: &v1alpha1.HTTPChaosSpec{Target: v1alpha1.PodHttpRequest, Port: 8082,
		PodHttpChaosActions: v1alpha1.PodHttpChaosActions{Abort: ptr.To(true)}}},
	v1alpha1.KindStressChaos: {StressChaos: &v1alpha1.StressChaosSpec{Stressors: &v1alpha1.Stressors{
		CPUStressor: &v1alpha1.CPUStressor{Stressor: v1alpha1.Stressor{Workers: 1}, Load: ptr.To(50)}}}},
}

func request(e chaos.Experiment, runID string) chaos.Request {
	return chaos.Request{ExperimentID: runID, RunID: runID, ExperimentName: e.Metadata.Name, Name: e.Metadata.Name + "-" + runID,
		Target: e.Spec.Target, Fault: e.Spec.Fault, Spec: e.Spec, Deadline: time.Now().Add(10 * time.Minute)}
}

// objects lists the Chaos Mesh objects of every kind in ns, as kind/name.
func objects(t *testing.T, c client.Client, ns string) []string {
	t.Helper()
	var out []string
	for kind, l := range map[string]client.ObjectList{"podchaos": &v1alpha1.PodChaosList{}, "networkchaos": &v1alpha1.NetworkChaosList{},
		"httpchaos": &v1alpha1.HTTPChaosList{}, "stresschaos": &v1alpha1.StressChaosList{}} {
		require.NoError(t, c.List(context.Background(), l, client.InNamespace(ns)))
		items, err := meta.ExtractList(l)
		require.NoError(t, err)
		for _, it := range items {
			o, ok := it.(client.Object)
			require.True(t, ok)
			out = append(out, kind+"/"+o.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func TestInjectCreatesOwnedObjectsTheServerAccepts(t *testing.T) {
	env, ns := server(t)
	ex := executor(t, env.Client, "test")
	for kind, f := range faults {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			e := experiment(ns, f)
			require.NoError(t, e.Validate())
			req := request(e, "r-"+strings.ToLower(kind))

			plan, err := ex.Plan(ctx, req)
			require.NoError(t, err, "the server's dry run accepts the object")
			require.Empty(t, objects(t, env.Client, ns), "a plan creates nothing")

			injs, err := ex.Inject(ctx, req)
			require.NoError(t, err)
			require.Equal(t, plan, injs, "the plan is what is created")
			require.Len(t, injs, 1)
			require.Equal(t, chaos.PlatformKubernetes, injs[0].Executor)
			require.Equal(t, kind, injs[0].Kind)
			require.Equal(t, kind+" "+ns+"/"+req.Name, injs[0].Target)

			obj, ok := map[string]client.Object{v1alpha1.KindPodChaos: &v1alpha1.PodChaos{}, v1alpha1.KindNetworkChaos: &v1alpha1.NetworkChaos{},
				v1alpha1.KindHTTPChaos: &v1alpha1.HTTPChaos{}, v1alpha1.KindStressChaos: &v1alpha1.StressChaos{}}[kind]
			require.True(t, ok)
			require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: req.Name}, obj))
			require.Equal(t, map[string]string{
				chaos.LabelManagedBy: chaos.ManagedBy, chaos.LabelEnvironment: "test", chaos.LabelExperiment: req.RunID, chaos.LabelRun: req.RunID,
			}, obj.GetLabels())
			require.Equal(t, req.Deadline.UTC().Format(time.RFC3339), obj.GetAnnotations()[chaos.AnnotationDeadline])
			require.Equal(t, "credit-chaos", obj.GetAnnotations()[chaos.AnnotationExperimentName])
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			require.NoError(t, err)
			spec, _, err := unstructured.NestedMap(m, "spec")
			require.NoError(t, err)
			require.Equal(t, "10m", spec["duration"], "the run's duration is the object's")
			require.Equal(t, "fixed", spec["mode"], "the target's mode, within its blast radius")
			require.Equal(t, "1", spec["value"])
			require.Equal(t, map[string]any{"namespaces": []any{ns}, "labelSelectors": map[string]any{"app.kubernetes.io/name": "credit"}}, spec["selector"])
			require.NoError(t, ex.Check(ctx, injs))

			require.NoError(t, ex.Remove(ctx, injs))
			require.True(t, apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: req.Name}, obj)))
			require.ErrorContains(t, ex.Check(ctx, injs), "was deleted")
			require.NoError(t, ex.Remove(ctx, injs), "removing what is gone")
		})
	}
}

func TestCheckReadsTheStatus(t *testing.T) {
	env, ns := server(t)
	ex := executor(t, env.Client, "test")
	ctx := context.Background()
	e := experiment(ns, faults[v1alpha1.KindNetworkChaos])
	injs, err := ex.Inject(ctx, request(e, "r1"))
	require.NoError(t, err)
	var obj v1alpha1.NetworkChaos
	require.NoError(t, env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "credit-chaos-r1"}, &obj))
	// As Chaos Mesh writes it when the selector finds no pod.
	obj.Status.Conditions = []v1alpha1.ChaosCondition{{Type: v1alpha1.ConditionSelected, Status: corev1.ConditionFalse, Reason: "no pod is selected"}}
	require.NoError(t, env.Client.Update(ctx, &obj))
	require.ErrorContains(t, ex.Check(ctx, injs), "selects no pods")
	require.NoError(t, ex.Remove(ctx, injs))
}

// TestInvalidFaultNeverReachesTheServer: a fault that Chaos Mesh's own
// validation refuses is refused by the experiment's validation, with its
// field named, and the controller sends nothing to the API server.
func TestInvalidFaultNeverReachesTheServer(t *testing.T) {
	env, ns := server(t)
	var writes atomic.Int64
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	require.NoError(t, err)
	counted := interceptor.NewClient(wc, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			writes.Add(1)
			return c.Create(ctx, obj, opts...)
		},
	})
	ctl := controller(t, executor(t, counted, "test"))
	for name, tc := range map[string]struct {
		fault chaos.Fault
		field string
	}{
		"a latency that is no duration": {chaos.Fault{NetworkChaos: &v1alpha1.NetworkChaosSpec{Action: v1alpha1.DelayAction,
			TcParameter: v1alpha1.TcParameter{Delay: &v1alpha1.DelaySpec{Latency: "fast"}}}}, "spec.fault.networkChaos.delay.latency"},
		"an unknown action": {chaos.Fault{PodChaos: &v1alpha1.PodChaosSpec{Action: "pod-explode"}}, "spec.fault.podChaos.action"},
		"no stressor":       {chaos.Fault{StressChaos: &v1alpha1.StressChaosSpec{}}, "spec.fault.stressChaos.stressors"},
		"a port out of range": {chaos.Fault{HTTPChaos: &v1alpha1.HTTPChaosSpec{Target: v1alpha1.PodHttpRequest, Port: 70000,
			PodHttpChaosActions: v1alpha1.PodHttpChaosActions{Abort: ptr.To(true)}}}, "spec.fault.httpChaos.port"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ctl.Submit(context.Background(), experiment(ns, tc.fault))
			require.Equal(t, chaos.EINVALID, chaos.ErrorCode(err), "%v", err)
			var fields []string
			for _, f := range chaos.ErrorFields(err) {
				fields = append(fields, f.Field)
			}
			require.Contains(t, fields, tc.field)
		})
	}
	require.Zero(t, writes.Load(), "the API server saw nothing")
	require.Empty(t, objects(t, env.Client, ns))
}

// TestTheServersValidationNamesTheField: what only the CRD's schema
// checks (a negative grace period) is refused by the API server in the
// dry run, and the refusal names the document's field.
func TestTheServersValidationNamesTheField(t *testing.T) {
	env, ns := server(t)
	ex := executor(t, env.Client, "test")
	e := experiment(ns, chaos.Fault{PodChaos: &v1alpha1.PodChaosSpec{Action: v1alpha1.PodKillAction, GracePeriod: -1}})
	require.NoError(t, e.Validate(), "Chaos Mesh's webhook validation does not check it")
	_, err := ex.Plan(context.Background(), request(e, "r1"))
	require.Equal(t, chaos.EINVALID, chaos.ErrorCode(err), "%v", err)
	fields := chaos.ErrorFields(err)
	require.Len(t, fields, 1)
	require.Equal(t, "spec.fault.podChaos.gracePeriod", fields[0].Field)
	require.Contains(t, fields[0].Message, "greater than or equal to 0")

	// A namespace that does not exist names the target's.
	e = experiment("no-such-namespace", faults[v1alpha1.KindPodChaos])
	_, err = ex.Plan(context.Background(), request(e, "r1"))
	require.Equal(t, chaos.EINVALID, chaos.ErrorCode(err), "%v", err)
	require.Equal(t, "spec.target.kubernetes.selector.namespaces", chaos.ErrorFields(err)[0].Field)
	require.Empty(t, objects(t, env.Client, ns))
}

// controller runs a controller over a SQLite journal with the executor,
// whose hypothesis (an HTTP probe of a healthy endpoint) holds.
func controller(t *testing.T, ex chaos.Executor) *chaos.Controller {
	t.Helper()
	healthy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(healthy.Close)
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chaos.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	return start(t, store, ex, healthy.URL)
}

func start(t *testing.T, store chaos.Store, ex chaos.Executor, probeURL string) *chaos.Controller {
	t.Helper()
	ctl, err := chaos.New(chaos.Options{Store: store, Executors: []chaos.Executor{ex}, Prober: &chaos.Prober{HTTP: &http.Client{},
		Services: func(string) (string, bool) { return probeURL, true }}})
	require.NoError(t, err)
	require.NoError(t, ctl.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, ctl.Shutdown(context.Background())) })
	return ctl
}

// probed points an experiment's hypothesis at the controller's probe URL.
func probed(e chaos.Experiment) chaos.Experiment {
	e.Spec.Hypothesis.Probes = []chaos.Probe{{Name: "alive", HTTP: &chaos.HTTPProbe{Service: "credit", Path: "/"}}}
	return e
}

// created waits until the run's object exists.
func created(t *testing.T, ctl *chaos.Controller, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		r, err := ctl.Run(context.Background(), id)
		return err == nil && len(r.Injections) > 0
	}, 30*time.Second, 20*time.Millisecond)
}

func TestAbortAndHaltDeleteTheObjects(t *testing.T) {
	env, ns := server(t)
	ctl := controller(t, executor(t, env.Client, "test"))
	ctx := context.Background()
	var ids []string
	for _, kind := range []string{v1alpha1.KindPodChaos, v1alpha1.KindNetworkChaos, v1alpha1.KindStressChaos} {
		r, err := ctl.Submit(ctx, probed(experiment(ns, faults[kind])))
		require.NoError(t, err)
		created(t, ctl, r.ID)
		ids = append(ids, r.ID)
	}
	require.Len(t, objects(t, env.Client, ns), 3)

	require.NoError(t, ctl.Abort(ctx, ids[0], "enough"))
	require.Len(t, objects(t, env.Client, ns), 2, "abort deletes the run's object")
	r, err := ctl.Run(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, chaos.VerdictAborted, r.Verdict)

	n, err := ctl.Halt(ctx, "game over")
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Empty(t, objects(t, env.Client, ns), "halt deletes every object the controller made")
	for _, id := range ids[1:] {
		r, err := ctl.Run(ctx, id)
		require.NoError(t, err)
		require.Equal(t, chaos.VerdictAborted, r.Verdict)
	}
	_, err = ctl.Submit(ctx, probed(experiment(ns, faults[v1alpha1.KindHTTPChaos])))
	require.Equal(t, chaos.EHALTED, chaos.ErrorCode(err))
	require.Empty(t, objects(t, env.Client, ns))
}

func TestRunEndDeletesTheObject(t *testing.T) {
	env, ns := server(t)
	ctl := controller(t, executor(t, env.Client, "test"))
	e := probed(experiment(ns, faults[v1alpha1.KindHTTPChaos]))
	e.Spec.Duration = "2s"
	r, err := ctl.Submit(context.Background(), e)
	require.NoError(t, err)
	created(t, ctl, r.ID)
	require.Len(t, objects(t, env.Client, ns), 1)
	require.Eventually(t, func() bool {
		r, err = ctl.Run(context.Background(), r.ID)
		return err == nil && r.State == chaos.StateFinished
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, chaos.VerdictPassed, r.Verdict, r.Reason)
	require.Empty(t, objects(t, env.Client, ns))
}

// TestRestartRemovesWhatNoRunClaims: a controller that died during a run
// leaves its object behind (and maybe objects of runs it never recorded);
// the next controller of the environment deletes them on start and
// settles the run, and leaves another environment's objects alone.
func TestRestartRemovesWhatNoRunClaims(t *testing.T) {
	env, ns := server(t)
	ctx := context.Background()
	ex := executor(t, env.Client, "test")
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "chaos.db"), nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, store.Close()) }()

	e := probed(experiment(ns, faults[v1alpha1.KindNetworkChaos]))
	crashed := request(e, "crashed")
	injs, err := ex.Inject(ctx, crashed)
	require.NoError(t, err)
	now := time.Now().UTC()
	require.NoError(t, store.CreateRun(ctx, chaos.Run{ID: "crashed", Experiment: e, Fault: e.Spec.Fault, State: chaos.StateRunning,
		CreatedAt: now, StartedAt: &now, Injections: injs}))
	_, err = ex.Inject(ctx, request(e, "unrecorded"))
	require.NoError(t, err)
	_, err = executor(t, env.Client, "staging").Inject(ctx, request(e, "elsewhere"))
	require.NoError(t, err)
	require.Len(t, objects(t, env.Client, ns), 3)

	ctl := start(t, store, ex, "http://127.0.0.1:1")
	require.Equal(t, []string{"networkchaos/credit-chaos-elsewhere"}, objects(t, env.Client, ns))
	r, err := ctl.Run(ctx, "crashed")
	require.NoError(t, err)
	require.Equal(t, chaos.StateFinished, r.State)
	require.Equal(t, chaos.VerdictErrored, r.Verdict)
}

func TestSweepSparesClaimedRuns(t *testing.T) {
	env, ns := server(t)
	ctx := context.Background()
	ex := executor(t, env.Client, "test")
	e := experiment(ns, faults[v1alpha1.KindStressChaos])
	for _, run := range []string{"live", "gone"} {
		_, err := ex.Inject(ctx, request(e, run))
		require.NoError(t, err)
	}
	n, err := ex.Sweep(ctx, func(run string) bool { return run == "live" })
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, []string{"stresschaos/credit-chaos-live"}, objects(t, env.Client, ns))
}

func TestNewRefuses(t *testing.T) {
	env, _ := server(t)
	scheme := runtime.NewScheme()
	require.NoError(t, corev1.AddToScheme(scheme))
	bare, err := client.New(env.Config, client.Options{Scheme: scheme})
	require.NoError(t, err)
	for name, opts := range map[string]chaosmesh.Options{
		"no client":                   {Environment: "test"},
		"no environment":              {Client: env.Client},
		"a bad environment":           {Client: env.Client, Environment: "not a label"},
		"a scheme without Chaos Mesh": {Client: bare, Environment: "test"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := chaosmesh.New(opts)
			require.Error(t, err)
		})
	}
}
