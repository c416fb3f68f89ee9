package chaos_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/chaos"
)

const base = `apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata: {name: exp}
spec:
  target: {service: invoicing}
  fault: {http: {action: latency, delay: 300ms}}
  duration: 30s
  steadyStateHypothesis:
    probes:
      - name: p
        http: {service: invoicing, path: /healthz}
`

const k8s = `apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata: {name: exp}
spec:
  target:
    service: invoicing
    kubernetes:
      selector: {namespaces: [estate], labelSelectors: {app: invoicing}}
      mode: fixed
      value: "1"
      blastRadius: {maxPods: 2}
  fault: {podChaos: {action: pod-kill}}
  duration: 30s
  steadyStateHypothesis:
    probes:
      - name: p
        slo: {name: inv, window: 5m, maxBurnRate: 14.4}
`

// edit replaces old by new in doc, once, and fails if old is missing.
func edit(t *testing.T, doc, old, new string) string {
	t.Helper()
	require.Contains(t, doc, old)
	return strings.Replace(doc, old, new, 1)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  func(t *testing.T) string
		// fields are the fields named at fault, in order; none when valid.
		fields []string
	}{
		{"local is valid", func(*testing.T) string { return base }, nil},
		{"kubernetes is valid", func(*testing.T) string { return k8s }, nil},
		{"api version", func(t *testing.T) string { return edit(t, base, "chaos.estate.dev/v1", "v2") }, []string{"apiVersion"}},
		{"unknown key", func(t *testing.T) string { return edit(t, base, "duration: 30s", "duration: 30s\n  durration: 1m") }, []string{"spec.durration"}},
		{"unknown key deep", func(t *testing.T) string { return edit(t, base, "delay: 300ms", "delay: 300ms, dealy: 1s") }, []string{"spec.fault.http.dealy"}},
		{"duplicate key", func(t *testing.T) string { return edit(t, base, "duration: 30s", "duration: 30s\n  duration: 1m") }, []string{""}},
		{"wrong type", func(t *testing.T) string { return edit(t, base, "delay: 300ms", "delay: 300ms, percentage: lots") }, []string{"spec.fault.http.percentage"}},
		{"bad duration", func(t *testing.T) string { return edit(t, base, "duration: 30s", "duration: soon") }, []string{"spec.duration"}},
		{"no fault", func(t *testing.T) string {
			return edit(t, base, "fault: {http: {action: latency, delay: 300ms}}", "fault: {}")
		}, []string{"spec.fault"}},
		{"two faults", func(t *testing.T) string {
			return edit(t, base, "fault: {http: {action: latency, delay: 300ms}}", "fault: {http: {action: latency, delay: 300ms}, process: {action: kill}}")
		}, []string{"spec.fault"}},
		{"http action", func(t *testing.T) string { return edit(t, base, "action: latency, delay: 300ms", "action: slow") }, []string{"spec.fault.http.action"}},
		{"latency needs a delay", func(t *testing.T) string { return edit(t, base, ", delay: 300ms", "") }, []string{"spec.fault.http.delay"}},
		{"percentage", func(t *testing.T) string { return edit(t, base, "delay: 300ms", "delay: 300ms, percentage: 120") }, []string{"spec.fault.http.percentage"}},
		{"error status", func(t *testing.T) string {
			return edit(t, base, "action: latency, delay: 300ms", "action: error, status: 404")
		}, []string{"spec.fault.http.status"}},
		{"tcp", func(t *testing.T) string {
			return edit(t, base, "http: {action: latency, delay: 300ms}", "tcp: {dependency: postgres, action: bandwidth}")
		}, []string{"spec.fault.tcp.rateKBps"}},
		{"no probes", func(t *testing.T) string {
			return edit(t, base, "    probes:\n      - name: p\n        http: {service: invoicing, path: /healthz}\n", "    interval: 5s\n")
		}, []string{"spec.steadyStateHypothesis.probes"}},
		{"probe of two kinds", func(t *testing.T) string {
			return edit(t, base, "http: {service: invoicing, path: /healthz}", "http: {service: invoicing, path: /healthz}\n        slo: {name: a, window: 5m, maxBurnRate: 1}")
		}, []string{"spec.steadyStateHypothesis.probes[0]"}},
		{"promql needs a bound", func(t *testing.T) string {
			return edit(t, base, "http: {service: invoicing, path: /healthz}", "promql: {query: up}")
		}, []string{"spec.steadyStateHypothesis.probes[0].promql"}},
		{"expectation", func(t *testing.T) string {
			return edit(t, base, "duration: 30s", "duration: 30s\n  expectedOutcome: {hypothesis: maybe}")
		}, []string{"spec.expectedOutcome.hypothesis"}},
		{"cron", func(t *testing.T) string {
			return edit(t, base, "duration: 30s", "duration: 30s\n  schedule: {cron: \"every day\"}")
		}, []string{"spec.schedule.cron"}},
		{"local fault refuses a kubernetes target", func(t *testing.T) string {
			return edit(t, k8s, "podChaos: {action: pod-kill}", "http: {action: error}")
		}, []string{"spec.target.kubernetes"}},
		{"chaos mesh fault needs a kubernetes target", func(t *testing.T) string {
			return edit(t, base, "http: {action: latency, delay: 300ms}", "podChaos: {action: pod-kill}")
		}, []string{"spec.target.kubernetes"}},
		{"chaos mesh action", func(t *testing.T) string { return edit(t, k8s, "pod-kill", "pod-explode") }, []string{"spec.fault.podChaos.action"}},
		{"chaos mesh own selector", func(t *testing.T) string { return edit(t, k8s, "action: pod-kill", "action: pod-kill, mode: all") }, []string{"spec.fault.podChaos.selector"}},
		{"chaos mesh webhook", func(t *testing.T) string {
			return edit(t, k8s, "podChaos: {action: pod-kill}", "networkChaos: {action: delay, delay: {latency: 10ms, correlation: lots}}")
		}, []string{"spec.fault.networkChaos.delay.correlation"}},
		{"blast radius exceeded", func(t *testing.T) string { return edit(t, k8s, `value: "1"`, `value: "3"`) }, []string{"spec.target.kubernetes.value"}},
		{"mode all needs 100%", func(t *testing.T) string { return edit(t, k8s, "mode: fixed", "mode: all") }, []string{"spec.target.kubernetes.mode"}},
		{"selector reaches the cluster", func(t *testing.T) string { return edit(t, k8s, "namespaces: [estate], ", "") }, []string{"spec.target.kubernetes.selector.namespaces"}},
		{"no blast radius", func(t *testing.T) string { return edit(t, k8s, "blastRadius: {maxPods: 2}", "blastRadius: {}") }, []string{"spec.target.kubernetes.blastRadius", "spec.target.kubernetes.value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := chaos.Load([]byte(tc.doc(t)))
			if tc.fields == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.Equal(t, chaos.EINVALID, chaos.ErrorCode(err), err.Error())
			var got []string
			for _, f := range chaos.ErrorFields(err) {
				got = append(got, f.Field)
			}
			require.Empty(t, cmp.Diff(tc.fields, got), err.Error())
		})
	}
}

func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	platforms := map[chaos.Platform]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		e, err := chaos.Load(b)
		require.NoError(t, err, f)
		p := e.Spec.Fault.Platform()
		if e.Spec.GameDay != nil {
			p = e.Spec.GameDay.Faults[0].Platform()
		}
		platforms[p]++
	}
	require.Positive(t, platforms[chaos.PlatformLocal], "a local example")
	require.Positive(t, platforms[chaos.PlatformKubernetes], "a Kubernetes example")
}

func TestChaosMeshObjectIsOwnedAndBounded(t *testing.T) {
	e, err := chaos.Load([]byte(k8s))
	require.NoError(t, err)
	obj, err := e.Spec.ChaosMeshObject(e.Spec.Fault, "exp-r1", "estate")
	require.NoError(t, err)
	require.Equal(t, "exp-r1", obj.GetName())
	require.Equal(t, chaos.ManagedBy, obj.GetLabels()[chaos.LabelManagedBy])
	require.Equal(t, "PodChaos", obj.GetObjectKind().GroupVersionKind().Kind)
}

// TestChaosMeshDefaults: a fault is defaulted as Chaos Mesh's admission
// webhook defaults it before it is validated and created, so a delay
// without a correlation is valid and created with Chaos Mesh's default.
func TestChaosMeshDefaults(t *testing.T) {
	e, err := chaos.Load([]byte(edit(t, k8s, "fault: {podChaos: {action: pod-kill}}", "fault: {networkChaos: {action: delay, delay: {latency: 100ms}}}")))
	require.NoError(t, err)
	obj, err := e.Spec.ChaosMeshObject(e.Spec.Fault, "exp-r1", "estate")
	require.NoError(t, err)
	nc, ok := obj.(*v1alpha1.NetworkChaos)
	require.True(t, ok)
	require.Equal(t, v1alpha1.DefaultCorrelation, nc.Spec.Delay.Correlation)
	require.Empty(t, e.Spec.Fault.NetworkChaos.Delay.Correlation, "the document is left as it was")
}

func TestGameDayReplays(t *testing.T) {
	day := time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)
	g := chaos.GameDay{Seed: 7, Every: "30m", Probability: 0.5, Windows: []chaos.Window{{Start: day, End: day.Add(4 * time.Hour)}},
		Faults: []chaos.Fault{{HTTP: &chaos.HTTPFault{Action: chaos.HTTPError}}, {Process: &chaos.ProcessFault{Action: chaos.ProcessKill}}}}
	a, b := g.Plan(10*time.Minute), g.Plan(10*time.Minute)
	require.Equal(t, a, b, "the same seed draws the same day")
	require.NotEmpty(t, a)
	for _, s := range a {
		slot := s.At.Sub(day).Truncate(30 * time.Minute)
		require.LessOrEqual(t, s.At.Sub(day)-slot, 20*time.Minute, "the run fits in its slot")
	}
	g.Seed = 8
	require.NotEqual(t, a, g.Plan(10*time.Minute), "another seed draws another day")
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(k8s))
	f.Add([]byte(`{"apiVersion":"chaos.estate.dev/v1","kind":"Experiment","spec":{"duration":"1s"}}`))
	f.Add([]byte("- a\n- b"))
	f.Add([]byte("spec: {fault: {podChaos: {selector: {pods: {a: [b]}}}}}"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		e, err := chaos.Decode(doc)
		if err != nil {
			require.NotEmpty(t, chaos.ErrorFields(err), "a refusal names what is wrong")
			return
		}
		verr := e.Validate()
		// What decodes encodes and decodes again to the same experiment.
		b, err := chaos.Encode(e)
		require.NoError(t, err)
		e2, err := chaos.Decode(b)
		require.NoError(t, err)
		require.Equal(t, chaos.ErrorFields(verr), chaos.ErrorFields(e2.Validate()))
	})
}
