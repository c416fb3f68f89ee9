package local_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/local"
	"github.com/estatehq/estate/internal/auth/authtest"
	"github.com/estatehq/estate/services/kit/fault"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// service is a service's API behind the fault middleware, and its fault
// control surface with a client that holds the chaos scope.
type service struct {
	api    *httptest.Server
	faults *fault.Injector
	client *fault.Client
}

func newService(t *testing.T) service {
	t.Helper()
	inj := fault.New(fault.Options{})
	t.Cleanup(func() { require.NoError(t, inj.Close()) })
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(inj.Middleware)
		r.Get("/v1/businesses/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	})
	api := httptest.NewServer(r)
	t.Cleanup(api.Close)

	iss := authtest.New(t)
	surface := httptest.NewServer(fault.NewControlHandler(fault.ControlOptions{Injector: inj, Authenticator: iss.Authenticator}))
	t.Cleanup(surface.Close)
	c, err := fault.NewClient(fault.ClientOptions{URL: surface.URL, Token: func(context.Context) (string, error) {
		return iss.Token(t, "estate-chaos", fault.Scope), nil
	}})
	require.NoError(t, err)
	return service{api: api, faults: inj, client: c}
}

func (s service) status(t *testing.T) int {
	t.Helper()
	resp, err := s.api.Client().Get(s.api.URL + "/v1/businesses/b1")
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func request(runID string, f chaos.Fault, deadline time.Time) chaos.Request {
	return chaos.Request{ExperimentID: runID, RunID: runID, Name: "exp-" + runID, Target: chaos.Target{Service: "invoicing"}, Fault: f, Deadline: deadline}
}

var (
	errorFault   = chaos.Fault{HTTP: &chaos.HTTPFault{Action: chaos.HTTPError, Route: "/v1/businesses/{id}", Status: 503}}
	chaosPodKill = v1alpha1.PodChaosSpec{Action: v1alpha1.PodKillAction}
)

func TestHTTPFaultThroughTheSurface(t *testing.T) {
	svc := newService(t)
	ex := local.New(local.Options{Faults: map[string]*fault.Client{"invoicing": svc.client}})
	defer ex.Close()
	ctx := context.Background()
	req := request("r1", errorFault, time.Now().Add(time.Minute))

	plan, err := ex.Plan(ctx, req)
	require.NoError(t, err)
	require.Len(t, plan, 1)
	require.Equal(t, chaos.PlatformLocal, plan[0].Executor)
	require.Equal(t, "http-error", plan[0].Kind)
	require.Equal(t, svc.client.URL(), plan[0].Detail["surface"])
	require.Equal(t, "chaos-r1", plan[0].Detail["id"])
	require.Equal(t, "503", plan[0].Detail["status"])
	require.Equal(t, "100", plan[0].Detail["percentage"], "100% when the spec leaves it out")
	require.Empty(t, svc.faults.Active(), "a plan injects nothing")
	require.Equal(t, http.StatusOK, svc.status(t))

	injs, err := ex.Inject(ctx, req)
	require.NoError(t, err)
	require.Equal(t, plan, injs, "the plan is what is injected")
	require.Equal(t, http.StatusServiceUnavailable, svc.status(t))
	active := svc.faults.Active()
	require.Len(t, active, 1)
	require.True(t, active[0].ExpiresAt.Equal(req.Deadline), "the service holds the run's deadline")
	require.NoError(t, ex.Check(ctx, injs))

	require.NoError(t, ex.Remove(ctx, injs))
	require.Equal(t, http.StatusOK, svc.status(t))
	require.ErrorContains(t, ex.Check(ctx, injs), "no longer set")
	require.NoError(t, ex.Remove(ctx, injs), "removing what is gone")
}

func TestPlanNamesWhatCannotBePlaced(t *testing.T) {
	for name, tc := range map[string]struct {
		fault    chaos.Fault
		field    string
		services map[string]*fault.Client
		duration time.Duration
	}{
		"no fault surface": {fault: errorFault, field: "spec.target.service"},
		"an HTTP fault longer than a service holds one": {fault: errorFault, field: "spec.duration", duration: 2 * time.Hour,
			services: map[string]*fault.Client{"invoicing": newService(t).client}},
		"no processes":     {fault: chaos.Fault{Process: &chaos.ProcessFault{Action: chaos.ProcessKill}}, field: "spec.target.service"},
		"no proxy":         {fault: chaos.Fault{TCP: &chaos.TCPFault{Dependency: "postgres", Action: chaos.TCPReset}}, field: "spec.fault.tcp.dependency"},
		"a Kubernetes one": {fault: chaos.Fault{PodChaos: &chaosPodKill}, field: "spec.fault"},
	} {
		t.Run(name, func(t *testing.T) {
			ex := local.New(local.Options{Faults: tc.services})
			defer ex.Close()
			_, err := ex.Plan(context.Background(), request("r1", tc.fault, time.Now().Add(max(tc.duration, time.Minute))))
			require.Equal(t, chaos.EINVALID, chaos.ErrorCode(err), "%v", err)
			fields := chaos.ErrorFields(err)
			require.Len(t, fields, 1)
			require.Equal(t, tc.field, fields[0].Field)
		})
	}
}

func TestSweepRemovesWhatNoRunClaims(t *testing.T) {
	svc := newService(t)
	ex := local.New(local.Options{Faults: map[string]*fault.Client{"invoicing": svc.client}})
	defer ex.Close()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for _, run := range []string{"r1", "r2"} {
		_, err := ex.Inject(ctx, request(run, errorFault, deadline))
		require.NoError(t, err)
	}
	// A fault an operator set by hand is not the controller's.
	require.NoError(t, svc.faults.Set(fault.Fault{ID: "by-hand", Action: fault.ActionLatency, DelayMS: 1, Percentage: 100, ExpiresAt: deadline}))

	n, err := ex.Sweep(ctx, func(run string) bool { return run == "r2" })
	require.NoError(t, err)
	require.Equal(t, 1, n)
	var ids []string
	for _, f := range svc.faults.Active() {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	require.Equal(t, []string{"by-hand", "chaos-r2"}, ids)
}

// processes is the targets of a process as `estate up` runs them: each is
// running or stopped.
type processes struct {
	mu      sync.Mutex
	running map[string]bool
	calls   []string
	// startTakes is how long a start takes, as a service's does.
	startTakes time.Duration
}

func (p *processes) Targets() []string { return []string{"invoicing", "credit"} }

func (p *processes) Stop(_ context.Context, target string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[target] = false
	p.calls = append(p.calls, "stop "+target)
	return nil
}

func (p *processes) Start(_ context.Context, target string) error {
	time.Sleep(p.startTakes)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running[target] {
		p.calls = append(p.calls, "start "+target)
	}
	p.running[target] = true
	return nil
}

func (p *processes) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

func TestKillStartsTheTargetAgainAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := &processes{running: map[string]bool{"invoicing": true, "credit": true}}
		ex := local.New(local.Options{Processes: procs})
		defer ex.Close()
		ctx := context.Background()
		kill := chaos.Fault{Process: &chaos.ProcessFault{Action: chaos.ProcessKill}}

		_, err := ex.Inject(ctx, request("r1", kill, time.Now().Add(30*time.Second)))
		require.NoError(t, err)
		require.Equal(t, []string{"stop invoicing"}, procs.log())
		time.Sleep(29 * time.Second)
		require.Equal(t, []string{"stop invoicing"}, procs.log(), "stopped until the deadline")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Equal(t, []string{"stop invoicing", "start invoicing"}, procs.log(), "started again at the deadline, with no controller")

		// Removed before its deadline, a kill starts the target once.
		injs, err := ex.Inject(ctx, request("r2", kill, time.Now().Add(time.Minute)))
		require.NoError(t, err)
		require.NoError(t, ex.Remove(ctx, injs))
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		require.Equal(t, []string{"stop invoicing", "start invoicing", "stop invoicing", "start invoicing"}, procs.log())

		// A restart stops and starts at once; there is nothing to undo.
		injs, err = ex.Inject(ctx, request("r3", chaos.Fault{Process: &chaos.ProcessFault{Action: chaos.ProcessRestart}}, time.Now().Add(time.Minute)))
		require.NoError(t, err)
		require.Equal(t, []string{"stop invoicing", "start invoicing", "stop invoicing", "start invoicing", "stop invoicing", "start invoicing"}, procs.log())
		require.NoError(t, ex.Remove(ctx, injs))
	})
}

// TestRemoveWaitsForAStartUnderWay: a run's Remove that comes while its
// deadline's timer is starting the killed target returns once the target
// serves again, not before: the run's verdict says the target is back.
func TestRemoveWaitsForAStartUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := &processes{running: map[string]bool{"invoicing": true}, startTakes: time.Second}
		ex := local.New(local.Options{Processes: procs})
		defer ex.Close()
		injs, err := ex.Inject(context.Background(), request("r1", chaos.Fault{Process: &chaos.ProcessFault{Action: chaos.ProcessKill}}, time.Now().Add(time.Minute)))
		require.NoError(t, err)
		time.Sleep(time.Minute + 100*time.Millisecond) // the timer's start is under way
		require.NoError(t, ex.Remove(context.Background(), injs))
		procs.mu.Lock()
		running := procs.running["invoicing"]
		procs.mu.Unlock()
		require.True(t, running, "started again when Remove returns")
		require.Equal(t, []string{"stop invoicing", "start invoicing"}, procs.log(), "once")
	})
}

func TestSweepStartsWhatAnUnclaimedRunKilled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		procs := &processes{running: map[string]bool{"invoicing": true}}
		ex := local.New(local.Options{Processes: procs})
		defer ex.Close()
		_, err := ex.Inject(context.Background(), request("r1", chaos.Fault{Process: &chaos.ProcessFault{Action: chaos.ProcessKill}}, time.Now().Add(time.Hour)))
		require.NoError(t, err)
		n, err := ex.Sweep(context.Background(), func(string) bool { return false })
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.Equal(t, []string{"stop invoicing", "start invoicing"}, procs.log())
	})
}

// echo is a TCP server that writes back each line it reads.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				_, _ = io.Copy(conn, conn)
			})
		}
	})
	return ln.Addr().String()
}

// roundTrip sends a line through addr and returns how long the answer took.
func roundTrip(t *testing.T, addr string) (time.Duration, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	start := time.Now()
	if _, err := conn.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return 0, err
	}
	require.Equal(t, "ping\n", line)
	return time.Since(start), nil
}

func TestTCPFaultsThroughToxiproxy(t *testing.T) {
	upstream := echo(t)
	proxies := local.NewProxies()
	defer proxies.Close()
	addr, err := proxies.Add("credit", "invoicing", upstream)
	require.NoError(t, err)
	ex := local.New(local.Options{Proxies: proxies})
	defer ex.Close()
	ctx := context.Background()
	req := func(run string, tcp chaos.TCPFault, deadline time.Time) chaos.Request {
		r := request(run, chaos.Fault{TCP: &tcp}, deadline)
		r.Target.Service = "credit"
		return r
	}
	_, err = roundTrip(t, addr)
	require.NoError(t, err, "the proxy carries the connection")

	lat := req("r1", chaos.TCPFault{Dependency: "invoicing", Action: chaos.TCPLatency, Latency: "300ms"}, time.Now().Add(time.Minute))
	injs, err := ex.Inject(ctx, lat)
	require.NoError(t, err)
	require.Equal(t, "proxy credit/invoicing", injs[0].Target)
	require.Equal(t, "latency", injs[0].Detail["type"])
	took, err := roundTrip(t, addr)
	require.NoError(t, err)
	require.GreaterOrEqual(t, took, 300*time.Millisecond, "the latency toxic delays the answer")
	require.NoError(t, ex.Check(ctx, injs))
	require.NoError(t, ex.Remove(ctx, injs))
	require.ErrorContains(t, ex.Check(ctx, injs), "no longer on proxy")

	reset := req("r2", chaos.TCPFault{Dependency: "invoicing", Action: chaos.TCPReset}, time.Now().Add(time.Minute))
	injs, err = ex.Inject(ctx, reset)
	require.NoError(t, err)
	_, err = roundTrip(t, addr)
	require.Error(t, err, "the reset toxic resets the connection")
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "a reset, not a timeout: %v", err)
	require.NoError(t, ex.Remove(ctx, injs))
	_, err = roundTrip(t, addr)
	require.NoError(t, err, "connections pass again once the toxic is removed")

	// A toxic outlives no deadline, whoever forgets it.
	timeout := req("r3", chaos.TCPFault{Dependency: "invoicing", Action: chaos.TCPTimeout}, time.Now().Add(300*time.Millisecond))
	injs, err = ex.Inject(ctx, timeout)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return ex.Check(ctx, injs) != nil }, 10*time.Second, 20*time.Millisecond)
	_, err = roundTrip(t, addr)
	require.NoError(t, err)
}

func TestTCPToxicsAsPlanned(t *testing.T) {
	proxies := local.NewProxies()
	defer proxies.Close()
	_, err := proxies.Add("invoicing", "postgres", echo(t))
	require.NoError(t, err)
	ex := local.New(local.Options{Proxies: proxies})
	defer ex.Close()
	for name, tc := range map[string]struct {
		tcp  chaos.TCPFault
		want map[string]string
	}{
		"latency": {chaos.TCPFault{Action: chaos.TCPLatency, Latency: "200ms", Jitter: "50ms"},
			map[string]string{"type": "latency", "stream": "downstream", "toxicity": "1", "attributes": "map[jitter:50 latency:200]"}},
		"bandwidth upstream": {chaos.TCPFault{Action: chaos.TCPBandwidth, RateKBps: 64, Direction: "upstream"},
			map[string]string{"type": "bandwidth", "stream": "upstream", "toxicity": "1", "attributes": "map[rate:64]"}},
		"timeout of a quarter": {chaos.TCPFault{Action: chaos.TCPTimeout, Timeout: "2s", Percentage: 25},
			map[string]string{"type": "timeout", "stream": "downstream", "toxicity": "0.25", "attributes": "map[timeout:2000]"}},
		"reset": {chaos.TCPFault{Action: chaos.TCPReset},
			map[string]string{"type": "reset_peer", "stream": "downstream", "toxicity": "1", "attributes": "map[timeout:0]"}},
	} {
		t.Run(name, func(t *testing.T) {
			tc.tcp.Dependency = "postgres"
			injs, err := ex.Plan(context.Background(), request("r1", chaos.Fault{TCP: &tc.tcp}, time.Now().Add(time.Minute)))
			require.NoError(t, err)
			got := injs[0].Detail
			require.Equal(t, "invoicing/postgres", got["proxy"])
			require.Equal(t, "chaos-r1", got["toxic"])
			for k, v := range tc.want {
				require.Equal(t, v, got[k], k)
			}
		})
	}
}
