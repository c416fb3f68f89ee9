//go:build !servicesonly

package main

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/estatehq/estate/chaos"
	chaoshttp "github.com/estatehq/estate/chaos/http"
	"github.com/estatehq/estate/internal/auth"
	"github.com/estatehq/estate/internal/kubetest"
	"github.com/estatehq/estate/internal/pgtest"
	"github.com/estatehq/estate/services/kit/fault"
)

// histogram is the cumulative buckets and count of one histogram series.
type histogram struct {
	buckets map[float64]float64
	count   float64
}

// redHistogram reads, from the collector's /metrics, the span-derived
// duration histogram of one service's route.
func redHistogram(t *testing.T, e *estate, service, route string) histogram {
	t.Helper()
	code, body := e.do(t, http.MethodGet, e.urls["collector"]+"/metrics", "", nil, nil)
	require.Equal(t, http.StatusOK, code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)
	h := histogram{buckets: map[float64]float64{}}
	mf, ok := mfs["estate_red_request_duration_seconds"]
	if !ok {
		return h
	}
	for _, m := range mf.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["service"] != service || labels["route"] != route {
			continue
		}
		h.count += float64(m.GetHistogram().GetSampleCount())
		for _, b := range m.GetHistogram().GetBucket() {
			h.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	return h
}

// quantile of the observations between two readings, as
// histogram_quantile interpolates within a bucket.
func quantile(q float64, before, after histogram) float64 {
	var bounds []float64
	for b := range after.buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	total := after.count - before.count
	if total == 0 {
		return math.NaN()
	}
	rank, lower, prev := q*total, 0.0, 0.0
	for _, b := range bounds {
		c := after.buckets[b] - before.buckets[b]
		if c >= rank {
			return lower + (b-lower)*(rank-prev)/(c-prev)
		}
		lower, prev = b, c
	}
	return lower
}

// waitCount waits until the collector has seen n spans of the route.
func waitCount(t *testing.T, e *estate, route string, n float64) histogram {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		h := redHistogram(t, e, "invoicing", route)
		if h.count >= n {
			return h
		}
		require.True(t, time.Now().Before(deadline), "the collector saw %v of %v spans of %s", h.count, n, route)
		time.Sleep(250 * time.Millisecond)
	}
}

// TestUpChaosLatencyRaisesP99 runs the latency example under `estate up`
// with `estate chaos run`: the route's p99 in the collector's RED series
// rises past the fault's delay, the run completes with a verdict, and the
// journal shows the injection and the events sent.
func TestUpChaosLatencyRaisesP99(t *testing.T) {
	e := startUp(t)
	tok := e.token(t, "--sub", "user-1")
	const route = "GET /v1/businesses/{id}"
	lookup := func(n int) {
		for i := range n {
			code, body := e.do(t, http.MethodGet, e.urls["invoicing"]+"/v1/businesses/b-"+strconv.Itoa(i), tok, nil, nil)
			require.Less(t, code, 500, string(body))
		}
	}
	lookup(20)
	before := waitCount(t, e, route, 20)
	require.Less(t, quantile(0.99, histogram{buckets: map[float64]float64{}}, before), 0.25, "p99 before the fault")

	type result struct {
		out, errOut string
		err         error
	}
	done := make(chan result, 1)
	sre := e.roleToken(t, auth.RoleChaosOperate)
	go func() {
		out, errOut, err := runCmd(t, "chaos", "run", "--url", e.urls["chaos"], "--token", sre, "--poll", "200ms", "../../chaos/examples/invoicing-latency.yaml")
		done <- result{out, errOut, err}
	}()
	// Wait for the fault, then look up under it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		start := time.Now()
		e.do(t, http.MethodGet, e.urls["invoicing"]+"/v1/businesses/warm", tok, nil, nil)
		if time.Since(start) >= 300*time.Millisecond {
			break
		}
		require.True(t, time.Now().Before(deadline), "the latency fault never showed")
		time.Sleep(100 * time.Millisecond)
	}
	lookup(20)
	var res result
	select {
	case res = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("estate chaos run did not finish")
	}
	require.NoError(t, res.err, "stdout: %s\nstderr: %s", res.out, res.errOut)
	require.Contains(t, res.out, "verdict: passed")
	require.Contains(t, res.out, "http-latency injected into invoicing")
	require.Contains(t, res.out, "dev.estate.chaos.started sent")
	require.Contains(t, res.out, "dev.estate.chaos.finished sent")
	// Its progress, against the fault's 20 s, goes to stderr.
	require.Regexp(t, `(?m)^run \S+: \d+ s of 20 s \(\d+%\), `, res.errOut)
	require.Regexp(t, `(?m)^run \S+: done, \d+ s in `, res.errOut)
	require.NotContains(t, res.out, "% ")

	after := waitCount(t, e, route, before.count+21)
	p99 := quantile(0.99, before, after)
	require.GreaterOrEqual(t, p99, 0.25, "p99 under a 300 ms fault")

	// The fault is gone: a lookup is fast again.
	start := time.Now()
	e.do(t, http.MethodGet, e.urls["invoicing"]+"/v1/businesses/after", tok, nil, nil)
	require.Less(t, time.Since(start), 250*time.Millisecond)
}

// sloAPI serves GET /v1/slos/{name} as the SLO API does, computing the
// availability SLO of invoicing (objective 99%) from the service's own RED
// series over the last two seconds of samples.
type sloAPI struct {
	metricsURL string
	client     *http.Client

	mu      sync.Mutex
	samples []sloSample
}

type sloSample struct {
	at            time.Time
	total, errors float64
}

func (s *sloAPI) sample() (sloSample, error) {
	resp, err := s.client.Get(s.metricsURL)
	if err != nil {
		return sloSample{}, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return sloSample{}, err
	}
	out := sloSample{at: time.Now()}
	for _, m := range mfs["http_server_requests_total"].GetMetric() {
		v := m.GetCounter().GetValue()
		out.total += v
		for _, l := range m.GetLabel() {
			if l.GetName() == "status" && strings.HasPrefix(l.GetValue(), "5") {
				out.errors += v
			}
		}
	}
	return out, nil
}

func (s *sloAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/slos/invoicing-availability" {
		http.NotFound(w, r)
		return
	}
	now, err := s.sample()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	s.samples = append(s.samples, now)
	from := s.samples[0]
	for _, x := range s.samples {
		if now.at.Sub(x.at) <= 2*time.Second {
			from = x
			break
		}
	}
	s.mu.Unlock()
	ratio := 0.0
	if d := now.total - from.total; d > 0 {
		ratio = (now.errors - from.errors) / d
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name": "invoicing-availability", "status": "ok", "attainment": 1 - ratio,
		"budget": map[string]any{"remaining": 1}, "burn_rates": map[string]float64{"5m": ratio / 0.01},
	})
}

// TestUpChaosErrorRateAbortsAndOpensIncident breaks the availability SLO
// of invoicing with an error fault under `estate up`: the run aborts within
// two probe intervals, the fault is gone, and the incident it opened is
// resolved once the SLO recovers.
func TestUpChaosErrorRateAbortsAndOpensIncident(t *testing.T) {
	api := &sloAPI{client: &http.Client{Timeout: 5 * time.Second}}
	slo := httptest.NewServer(api)
	defer slo.Close()
	e := startUp(t, "--chaos.slo-url="+slo.URL)
	api.metricsURL = e.urls["invoicing"] + "/metrics"
	tok := e.token(t, "--sub", "user-1")

	// Steady traffic, bounded in time and count.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < 3000; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.urls["invoicing"]+"/v1/businesses/b-"+strconv.Itoa(i), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := e.client.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
	defer func() { stop(); wg.Wait() }()

	doc := `apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata: {name: invoicing-errors}
spec:
  target: {service: invoicing}
  fault: {http: {action: error, route: "/v1/businesses/{id}", percentage: 100, status: 503}}
  duration: 60s
  steadyStateHypothesis:
    interval: 1s
    probes:
      - name: availability-burn
        slo: {name: invoicing-availability, window: 5m, maxBurnRate: 14.4}
  expectedOutcome: {hypothesis: holds, recoverWithin: 20s}
`
	c := chaoshttp.NewClient(e.urls["chaos"], e.as(t, auth.RoleChaosOperate))
	run, err := c.Submit(context.Background(), []byte(doc))
	require.NoError(t, err)
	d := waitVerdict(t, c, run.ID, nil)
	require.Equal(t, chaos.VerdictFailed, d.Verdict, d.Reason)
	require.Contains(t, d.Reason, "the hypothesis broke under the fault")

	first := map[chaos.EntryKind]chaos.Entry{}
	var journal []string
	for _, en := range d.Journal {
		if _, ok := first[en.Kind]; !ok {
			first[en.Kind] = en
		}
		journal = append(journal, string(en.Kind)+": "+en.Message)
	}
	require.Contains(t, first, chaos.EntryAbort, "%s", strings.Join(journal, "\n"))
	require.LessOrEqual(t, first[chaos.EntryAbort].Time.Sub(first[chaos.EntryInject].Time), 2*time.Second+500*time.Millisecond,
		"aborted within two probe intervals:\n%s", strings.Join(journal, "\n"))
	joined := strings.Join(journal, "\n")
	require.Contains(t, joined, "incident chaos-"+run.ID+" opened")
	require.Contains(t, joined, "incident chaos-"+run.ID+" resolved")
	require.Contains(t, joined, "dev.estate.incident.opened sent")
	require.Contains(t, joined, "dev.estate.incident.resolved sent")

	// The fault is gone: lookups answer the service's own answer again.
	code, body := e.do(t, http.MethodGet, e.urls["invoicing"]+"/v1/businesses/after", tok, nil, nil)
	require.Less(t, code, 500, string(body))

	// The collector counts the incident as a chaos one.
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	to := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	code, body = e.do(t, http.MethodGet, e.urls["collector"]+"/v1/dora?from="+from+"&to="+to+"&service=invoicing&environment=production", e.reader(t), nil, nil)
	require.Equal(t, http.StatusOK, code, string(body))
	var report struct {
		Services []struct {
			ChaosIncidents int `json:"chaos_incidents"`
		} `json:"services"`
	}
	require.NoError(t, json.Unmarshal(body, &report))
	require.Len(t, report.Services, 1, string(body))
	require.Equal(t, 1, report.Services[0].ChaosIncidents)
}

// TestUpFaultSurfaceIsApartAndScoped: a fault cannot be set through the
// service's customer port, nor on the fault surface without the chaos
// scope.
func TestUpFaultSurfaceIsApartAndScoped(t *testing.T) {
	e := startUp(t)
	chaosTok := e.token(t, "--sub", "ops", "--scope", fault.Scope)
	userTok := e.token(t, "--sub", "user-1")
	f := fault.Fault{Action: fault.ActionError, Percentage: 100, ExpiresAt: time.Now().Add(time.Minute)}

	for _, tok := range []string{chaosTok, userTok} {
		code, _ := e.do(t, http.MethodPut, e.urls["invoicing"]+"/v1/faults/x", tok, nil, f)
		require.Contains(t, []int{http.StatusNotFound, http.StatusMethodNotAllowed}, code, "no fault route on the customer port")
	}

	// Where the surface is, the controller's dry run says.
	plan, err := chaoshttp.NewClient(e.urls["chaos"], e.as(t, auth.RoleChaosOperate)).DryRun(context.Background(), []byte(`apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata: {name: where}
spec:
  target: {service: invoicing}
  fault: {http: {action: error}}
  duration: 10s
  steadyStateHypothesis: {probes: [{name: p, http: {service: invoicing, path: /healthz}}]}
`))
	require.NoError(t, err)
	require.Len(t, plan.Injections, 1)
	surface := plan.Injections[0].Detail["surface"]
	require.NotEmpty(t, surface)
	require.NotEqual(t, e.urls["invoicing"], surface)

	code, _ := e.do(t, http.MethodPut, surface+"/v1/faults/x", userTok, nil, f)
	require.Equal(t, http.StatusForbidden, code, "a token without the chaos scope")
	code, _ = e.do(t, http.MethodPut, surface+"/v1/faults/x", "", nil, f)
	require.Equal(t, http.StatusUnauthorized, code)
	code, body := e.do(t, http.MethodGet, surface+"/v1/faults", chaosTok, nil, nil)
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `[]`, string(body), "no fault was set")

	// With the scope, a fault set by a controller that then disappears
	// lasts until its own deadline only.
	f.ExpiresAt = time.Now().Add(time.Second)
	code, body = e.do(t, http.MethodPut, surface+"/v1/faults/orphan", chaosTok, nil, f)
	require.Equal(t, http.StatusOK, code, string(body))
	code, _ = e.do(t, http.MethodGet, e.urls["invoicing"]+"/v1/businesses/x", userTok, nil, nil)
	require.Equal(t, http.StatusInternalServerError, code, "the fault is in effect")
	require.Eventually(t, func() bool {
		code, _ := e.do(t, http.MethodGet, e.urls["invoicing"]+"/v1/businesses/x", userTok, nil, nil)
		return code < 500
	}, 10*time.Second, 100*time.Millisecond, "the fault expires at its deadline")
}

// waitVerdict polls a run until it is finished, calling during, if set,
// once its fault is injected.
func waitVerdict(t *testing.T, c *chaoshttp.Client, id string, during func()) chaoshttp.RunDetail {
	t.Helper()
	var d chaoshttp.RunDetail
	var err error
	deadline := time.Now().Add(60 * time.Second)
	for d.State != chaos.StateFinished {
		require.True(t, time.Now().Before(deadline), "the run did not finish: %+v", d.Run)
		time.Sleep(100 * time.Millisecond)
		d, err = c.Run(context.Background(), id)
		require.NoError(t, err)
		if during != nil && len(d.Injections) > 0 && d.State == chaos.StateRunning {
			during()
			during = nil
		}
	}
	require.Nil(t, during, "the run finished before its fault was seen: %s", d.Reason)
	return d
}

// experiment is a document of a local fault on a target for a duration,
// whose hypothesis is that invoicing answers /healthz.
func experiment(name, target, fault, duration string) []byte {
	return []byte(`apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata: {name: ` + name + `}
spec:
  target: {service: ` + target + `}
  fault: ` + fault + `
  duration: ` + duration + `
  steadyStateHypothesis:
    interval: 1s
    probes: [{name: invoicing-alive, http: {service: invoicing, path: /healthz}}]
  expectedOutcome: {recoverWithin: 20s}
`)
}

// TestUpChaosKillAndTCPFaults injects the faults of one machine that are
// not the services' own under `estate up`: TCP latency on invoicing's
// PostgreSQL connections and on credit's connections to invoicing
// (Toxiproxy's proxies the process routes them through), and a kill of
// credit, which is started again on its address at the end.
func TestUpChaosKillAndTCPFaults(t *testing.T) {
	e := startUp(t, "--invoicing.postgres-dsn="+pgtest.NewDatabase(t))
	c := chaoshttp.NewClient(e.urls["chaos"], e.as(t, auth.RoleChaosOperate))
	ctx := context.Background()
	tok := e.token(t, "--sub", "owner")
	code, body := e.do(t, http.MethodPost, e.urls["invoicing"]+"/v1/businesses", tok, nil, map[string]any{
		"legal_name": "Owner", "country": "FR", "registration_number": "RCS 1", "billing_email": "owner@example.com"})
	require.Equal(t, http.StatusCreated, code, string(body))
	var biz struct{ ID string }
	require.NoError(t, json.Unmarshal(body, &biz))
	bizTok := e.token(t, "--sub", "owner", "--business", biz.ID)
	timed := func(method, url string, body any) time.Duration {
		start := time.Now()
		code, b := e.do(t, method, url, bizTok, nil, body)
		require.Less(t, code, 500, string(b))
		return time.Since(start)
	}
	lookup := func() time.Duration { return timed(http.MethodGet, e.urls["invoicing"]+"/v1/businesses/"+biz.ID, nil) }
	apply := func() time.Duration {
		return timed(http.MethodPost, e.urls["credit"]+"/v1/credit/applications", map[string]any{"requested_limit": 1000, "currency": "eur"})
	}

	for _, tc := range []struct {
		name, target, dependency string
		call                     func() time.Duration
	}{
		{"postgres latency", "invoicing", "postgres", lookup},
		{"latency between services", "credit", "invoicing", apply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, err := c.Submit(ctx, experiment(tc.target+"-"+tc.dependency, tc.target, "{tcp: {dependency: "+tc.dependency+", action: latency, latency: 400ms}}", "5s"))
			require.NoError(t, err)
			d := waitVerdict(t, c, run.ID, func() {
				require.GreaterOrEqual(t, tc.call(), 400*time.Millisecond, "a call waits for its dependency")
			})
			require.Equal(t, chaos.VerdictPassed, d.Verdict, d.Reason)
			require.Equal(t, "proxy "+tc.target+"/"+tc.dependency, d.Injections[0].Target)
			require.Less(t, tc.call(), 400*time.Millisecond, "the toxic is gone")
		})
	}

	t.Run("kill", func(t *testing.T) {
		run, err := c.Submit(ctx, experiment("credit-kill", "credit", "{process: {action: kill}}", "3s"))
		require.NoError(t, err)
		d := waitVerdict(t, c, run.ID, func() {
			resp, err := e.client.Get(e.urls["credit"] + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			require.Error(t, err, "credit is down")
		})
		require.Equal(t, chaos.VerdictPassed, d.Verdict, d.Reason)
		resp, err := e.client.Get(e.urls["credit"] + "/healthz")
		require.NoError(t, err, "credit is back on its address; the estate logged:\n%s", e.stderr())
		resp.Body.Close()
		code, _ := e.do(t, http.MethodGet, e.urls["credit"]+"/healthz", "", nil, nil)
		require.Equal(t, http.StatusOK, code, "credit serves again")
		apply()
	})
}

// writeKubeconfig writes a kubeconfig that reaches the API server of cfg.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

// TestUpChaosOnKubernetes runs the controller of `estate up` with a
// Kubernetes API server (Chaos Mesh's CRDs installed, no Chaos Mesh
// running): the Kubernetes example's dry run is the PodChaos the server
// accepts, and a run's NetworkChaos exists while the run lasts and is gone
// at its end.
func TestUpChaosOnKubernetes(t *testing.T) {
	kube := kubetest.Start(t, kubetest.Options{CRDs: []string{kubetest.ChaosMesh}})
	ctx := context.Background()
	require.NoError(t, kube.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "estate"}}))
	e := startUp(t, "--chaos.kubernetes", "--chaos.kubeconfig="+writeKubeconfig(t, kube.Config))

	out, errOut, err := runCmd(t, "chaos", "run", "--url", e.urls["chaos"], "--token", e.roleToken(t, auth.RoleChaosOperate), "--dry-run", "../../chaos/examples/kubernetes-pod-kill.yaml")
	require.NoError(t, err, errOut)
	var plan chaos.Plan
	require.NoError(t, json.Unmarshal([]byte(out), &plan), out)
	require.Equal(t, chaos.PlatformKubernetes, plan.Platform)
	require.Len(t, plan.Injections, 1)
	require.Equal(t, "PodChaos estate/invoicing-pod-kill-dry-run", plan.Injections[0].Target)
	require.Len(t, plan.Next, 5, "the schedule's next slots")
	var pods v1alpha1.PodChaosList
	require.NoError(t, kube.Client.List(ctx, &pods, client.InNamespace("estate")))
	require.Empty(t, pods.Items, "a dry run creates nothing")

	c := chaoshttp.NewClient(e.urls["chaos"], e.as(t, auth.RoleChaosOperate))
	run, err := c.Submit(ctx, []byte(`apiVersion: chaos.estate.dev/v1
kind: Experiment
metadata: {name: credit-delay}
spec:
  target:
    service: credit
    kubernetes:
      selector: {namespaces: [estate], labelSelectors: {app.kubernetes.io/name: credit}}
      mode: one
      blastRadius: {maxPods: 1}
  fault: {networkChaos: {action: delay, delay: {latency: 100ms}, direction: to}}
  duration: 3s
  steadyStateHypothesis:
    interval: 1s
    probes: [{name: invoicing-alive, http: {service: invoicing, path: /healthz}}]
  expectedOutcome: {recoverWithin: 20s}
`))
	require.NoError(t, err)
	networkChaos := func() []v1alpha1.NetworkChaos {
		var l v1alpha1.NetworkChaosList
		require.NoError(t, kube.Client.List(ctx, &l, client.InNamespace("estate"), client.MatchingLabels{chaos.LabelRun: run.ID}))
		return l.Items
	}
	d := waitVerdict(t, c, run.ID, func() {
		require.Len(t, networkChaos(), 1, "the run's NetworkChaos exists while it runs")
	})
	require.Equal(t, chaos.VerdictPassed, d.Verdict, d.Reason)
	require.Equal(t, "NetworkChaos estate/credit-delay-"+run.ID, d.Injections[0].Target)
	require.Empty(t, networkChaos(), "and is deleted at its end")
}
