package chaos_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is what the controller acts on in these tests: an executor whose
// faults make the SLO burn, as a service under an error fault would, and
// the events it reports. The executor is this package's contract played
// straight: what Inject places, Remove takes away.
type world struct {
	mu     sync.Mutex
	faults map[string]chaos.Request
	events []chaos.Event
	// breaks makes an active fault burn the SLO.
	breaks bool
}

func (w *world) Platform() chaos.Platform { return chaos.PlatformLocal }
func (w *world) Plan(_ context.Context, req chaos.Request) ([]chaos.Injection, error) {
	return []chaos.Injection{{Executor: chaos.PlatformLocal, Kind: req.Fault.Kind(), Target: req.Target.Service, Ref: req.RunID, Deadline: req.Deadline}}, nil
}
func (w *world) Inject(ctx context.Context, req chaos.Request) ([]chaos.Injection, error) {
	w.mu.Lock()
	w.faults[req.RunID] = req
	w.mu.Unlock()
	return w.Plan(ctx, req)
}
func (w *world) Check(context.Context, []chaos.Injection) error { return nil }
func (w *world) Remove(_ context.Context, injs []chaos.Injection) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, in := range injs {
		delete(w.faults, in.Ref)
	}
	return nil
}
func (w *world) Sweep(_ context.Context, claimed func(string) bool) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for id := range w.faults {
		if !claimed(id) {
			delete(w.faults, id)
			n++
		}
	}
	return n, nil
}
func (w *world) active() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.faults)
}
func (w *world) SLO(context.Context, string) (chaos.SLOStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rate := 0.5
	if w.breaks && len(w.faults) > 0 {
		rate = 40
	}
	return chaos.SLOStatus{BurnRates: map[string]float64{"5m": rate}}, nil
}
func (w *world) Send(_ context.Context, e chaos.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events = append(w.events, e)
	return nil
}
func (w *world) types() []chaos.EventType {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []chaos.EventType
	for _, e := range w.events {
		out = append(out, e.Type)
	}
	return out
}

func experiment(duration string) chaos.Experiment {
	return chaos.Experiment{APIVersion: chaos.APIVersion, Kind: chaos.KindExperiment, Metadata: chaos.Metadata{Name: "exp"},
		Spec: chaos.Spec{
			Target:          chaos.Target{Service: "invoicing"},
			Fault:           chaos.Fault{HTTP: &chaos.HTTPFault{Action: chaos.HTTPError}},
			Duration:        chaos.Duration(duration),
			Hypothesis:      chaos.Hypothesis{Interval: "1s", Probes: []chaos.Probe{{Name: "burn", SLO: &chaos.SLOProbe{SLO: "inv", Window: "5m", MaxBurnRate: 14.4}}}},
			ExpectedOutcome: chaos.ExpectedOutcome{RecoverWithin: "10s"},
		}}
}

// controller runs a controller over the store, in the bubble.
func controller(t *testing.T, store chaos.Store, w *world) *chaos.Controller {
	t.Helper()
	n := 0
	ctl, err := chaos.New(chaos.Options{Store: store, Executors: []chaos.Executor{w}, Prober: &chaos.Prober{SLOs: w}, Events: w,
		NewID: func() string { n++; return fmt.Sprintf("r%d", n) }})
	require.NoError(t, err)
	require.NoError(t, ctl.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, ctl.Shutdown(context.Background())) })
	return ctl
}

// openStore opens a fresh SQLite store; in a bubble, so that its pool's
// goroutines belong to it.
func openStore(t *testing.T) chaos.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chaos.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestKillSwitch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := &world{faults: map[string]chaos.Request{}}
		ctl := controller(t, store, w)
		r1, err := ctl.Submit(ctx, experiment("10m"))
		require.NoError(t, err)
		r2, err := ctl.Submit(ctx, experiment("10m"))
		require.NoError(t, err)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		require.Equal(t, 2, w.active(), "both runs inject")

		n, err := ctl.Halt(ctx, "an incident is open")
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Zero(t, w.active(), "halt removes every fault")
		for _, id := range []string{r1.ID, r2.ID} {
			r, err := ctl.Run(ctx, id)
			require.NoError(t, err)
			require.Equal(t, chaos.StateFinished, r.State)
			require.Equal(t, chaos.VerdictAborted, r.Verdict)
			require.Contains(t, r.Reason, "kill switch: an incident is open")
		}

		_, err = ctl.Submit(ctx, experiment("10m"))
		require.Equal(t, chaos.EHALTED, chaos.ErrorCode(err), "a third run is refused")
		halted, _, err := store.Halted(ctx)
		require.NoError(t, err)
		require.True(t, halted, "the switch survives a restart")

		require.NoError(t, ctl.Resume(ctx))
		r3, err := ctl.Submit(ctx, experiment("10m"))
		require.NoError(t, err)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Equal(t, 1, w.active())
		require.NoError(t, ctl.Abort(ctx, r3.ID, ""))
		r, err := ctl.Run(ctx, r3.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.VerdictAborted, r.Verdict)
		require.Zero(t, w.active())
		require.Equal(t, chaos.ECONFLICT, chaos.ErrorCode(ctl.Abort(ctx, r3.ID, "")))
	})
}

func TestBreachAbortsWithinTwoIntervalsAndOpensAnIncident(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := &world{faults: map[string]chaos.Request{}, breaks: true}
		ctl := controller(t, store, w)
		run, err := ctl.Submit(ctx, experiment("10m"))
		require.NoError(t, err)
		var r chaos.Run
		for r.State != chaos.StateFinished {
			time.Sleep(time.Second)
			r, err = ctl.Run(ctx, run.ID)
			require.NoError(t, err)
		}
		require.Equal(t, chaos.VerdictFailed, r.Verdict, r.Reason)
		require.Contains(t, r.Reason, "the hypothesis broke under the fault")
		require.Zero(t, w.active(), "the fault is gone")

		j, err := ctl.Journal(ctx, run.ID, 0)
		require.NoError(t, err)
		at := map[chaos.EntryKind]time.Time{}
		for _, e := range j {
			if _, seen := at[e.Kind]; !seen {
				at[e.Kind] = e.Time
			}
		}
		require.LessOrEqual(t, at[chaos.EntryAbort].Sub(at[chaos.EntryInject]), 2*time.Second, "aborted within two probe intervals")
		require.LessOrEqual(t, at[chaos.EntryRemove].Sub(at[chaos.EntryInject]), 2*time.Second)
		require.Equal(t, []chaos.EventType{chaos.EventChaosStarted, chaos.EventIncidentOpened, chaos.EventIncidentResolved, chaos.EventChaosFinished}, w.types())
		require.Equal(t, "chaos-"+run.ID, r.IncidentID)
	})
}

func TestExpectedBreakPasses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := &world{faults: map[string]chaos.Request{}, breaks: true}
		ctl := controller(t, store, w)
		e := experiment("5s")
		e.Spec.ExpectedOutcome.Hypothesis = chaos.ExpectBreaks
		run, err := ctl.Submit(ctx, e)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		r, err := ctl.Run(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.VerdictPassed, r.Verdict, r.Reason)

		w.breaks = false
		run, err = ctl.Submit(ctx, e)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		r, err = ctl.Run(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.VerdictFailed, r.Verdict, "held when it should break")
	})
}

func TestDryRunInjectsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		w := &world{faults: map[string]chaos.Request{}}
		ctl := controller(t, store, w)
		p, err := ctl.DryRun(context.Background(), experiment("1m"))
		require.NoError(t, err)
		require.Len(t, p.Injections, 1)
		require.Equal(t, "http-error", p.Injections[0].Kind)
		require.Zero(t, w.active())
		runs, err := ctl.Runs(context.Background(), chaos.RunFilter{})
		require.NoError(t, err)
		require.Empty(t, runs)
	})
}
