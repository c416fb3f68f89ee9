package chaos_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/chaos/chaostest"
	"github.com/estatehq/estate/chaos/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// world is what the controller acts on in these tests: an executor whose
// faults make the SLO burn, as a service under an error fault would, and
// the events it reports.
type world struct {
	*chaostest.Executor

	mu     sync.Mutex
	events []chaos.Event
	// breaks makes an active fault burn the SLO.
	breaks bool
}

func newWorld(breaks bool) *world { return &world{Executor: chaostest.NewExecutor(), breaks: breaks} }

func (w *world) active() int { return w.Active() }

func (w *world) setBreaks(b bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.breaks = b
}

func (w *world) SLO(context.Context, string) (chaos.SLOStatus, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rate := 0.5
	if w.breaks && w.Active() > 0 {
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
		w := newWorld(false)
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
		w := newWorld(true)
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
		w := newWorld(true)
		ctl := controller(t, store, w)
		e := experiment("5s")
		e.Spec.ExpectedOutcome.Hypothesis = chaos.ExpectBreaks
		run, err := ctl.Submit(ctx, e)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		r, err := ctl.Run(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.VerdictPassed, r.Verdict, r.Reason)

		w.setBreaks(false)
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
		w := newWorld(false)
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

func TestHypothesisMustHoldBefore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := newWorld(false)
		ctl := controller(t, store, w)
		e := experiment("1m")
		e.Spec.Hypothesis.Probes = append(e.Spec.Hypothesis.Probes, chaos.Probe{Name: "strict", SLO: &chaos.SLOProbe{SLO: "inv", Window: "5m", MaxBurnRate: 0.1}})
		run, err := ctl.Submit(ctx, e)
		require.NoError(t, err)
		time.Sleep(time.Second)
		synctest.Wait()
		r, err := ctl.Run(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.VerdictAborted, r.Verdict)
		require.Contains(t, r.Reason, "did not hold before the fault (strict")
		require.Empty(t, r.Injections)
		require.Empty(t, w.types(), "nothing started, nothing to report")
	})
}

func TestAbortConditionAborts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := newWorld(true)
		ctl := controller(t, store, w)
		e := experiment("10m")
		// The hypothesis may break; the abort condition may not.
		e.Spec.ExpectedOutcome.Hypothesis = chaos.ExpectBreaks
		e.Spec.AbortConditions = []chaos.Probe{{Name: "burn-cap", SLO: &chaos.SLOProbe{SLO: "inv", Window: "5m", MaxBurnRate: 30}}}
		run, err := ctl.Submit(ctx, e)
		require.NoError(t, err)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		r, err := ctl.Run(ctx, run.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.StateFinished, r.State)
		require.Equal(t, chaos.VerdictAborted, r.Verdict)
		require.Contains(t, r.Reason, "abort condition burn-cap failed")
		require.Zero(t, w.active())
	})
}

// TestRestartRemovesWhatNoRunClaims: a controller that stopped without
// removing its faults (a crash) leaves a run marked running; the next
// start removes its faults and what no run claims, and settles the run.
func TestRestartRemovesWhatNoRunClaims(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := newWorld(false)
		e := experiment("10m")
		started := time.Now().UTC()
		left := chaos.Run{ID: "crashed", Experiment: e, Fault: e.Spec.Fault, State: chaos.StateRunning, CreatedAt: started, StartedAt: &started}
		req := chaos.Request{RunID: left.ID, Target: e.Spec.Target, Fault: e.Spec.Fault, Deadline: started.Add(10 * time.Minute)}
		injs, err := w.Inject(ctx, req)
		require.NoError(t, err)
		left.Injections = injs
		require.NoError(t, store.CreateRun(ctx, left))
		req.RunID = "never-recorded"
		_, err = w.Inject(ctx, req)
		require.NoError(t, err)
		require.Equal(t, 2, w.active())

		ctl := controller(t, store, w)
		require.Zero(t, w.active(), "the crashed run's fault and the orphan are gone")
		r, err := ctl.Run(ctx, left.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.StateFinished, r.State)
		require.Equal(t, chaos.VerdictErrored, r.Verdict)
		require.Equal(t, "the controller stopped during the run", r.Reason)
		require.Equal(t, []chaos.EventType{chaos.EventChaosFinished}, w.types())
	})
}

func TestGameDayRunsItsDraw(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := newWorld(false)
		ctl := controller(t, store, w)
		now := time.Now().UTC()
		e := experiment("5s")
		faults := []chaos.Fault{e.Spec.Fault, {HTTP: &chaos.HTTPFault{Action: chaos.HTTPLatency, Delay: "100ms"}}}
		e.Spec.Fault = chaos.Fault{}
		e.Spec.GameDay = &chaos.GameDay{Seed: 42, Every: "1m", Probability: 0.75, Faults: faults,
			Windows: []chaos.Window{{Start: now.Add(time.Minute), End: now.Add(7 * time.Minute)}}}
		want := e.Spec.GameDay.Plan(15 * time.Second)
		require.NotEmpty(t, want)

		parent, err := ctl.Submit(ctx, e)
		require.NoError(t, err)
		require.Equal(t, chaos.StateScheduled, parent.State)
		time.Sleep(10 * time.Minute)
		synctest.Wait()

		children, err := ctl.Runs(ctx, chaos.RunFilter{ParentID: parent.ID})
		require.NoError(t, err)
		require.Len(t, children, len(want))
		for i, s := range want {
			ch := children[len(children)-1-i] // newest first
			require.Equal(t, faults[s.Fault].Kind(), ch.Fault.Kind(), "slot %d", i)
			require.WithinDuration(t, s.At, *ch.StartedAt, time.Second, "slot %d", i)
			require.Equal(t, chaos.VerdictPassed, ch.Verdict)
		}
		p, err := ctl.Run(ctx, parent.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.StateFinished, p.State)
		require.Equal(t, chaos.VerdictPassed, p.Verdict, p.Reason)
	})
}

func TestScheduleSkipsSlotsWhileHalted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := openStore(t)
		ctx := context.Background()
		w := newWorld(false)
		ctl := controller(t, store, w)
		e := experiment("5s")
		e.Spec.Schedule = &chaos.Schedule{Cron: "@every 1m"}
		parent, err := ctl.Submit(ctx, e)
		require.NoError(t, err)
		time.Sleep(90 * time.Second)
		synctest.Wait()
		children, err := ctl.Runs(ctx, chaos.RunFilter{ParentID: parent.ID})
		require.NoError(t, err)
		require.Len(t, children, 1)

		_, err = ctl.Halt(ctx, "maintenance")
		require.NoError(t, err)
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		children, err = ctl.Runs(ctx, chaos.RunFilter{ParentID: parent.ID})
		require.NoError(t, err)
		require.Len(t, children, 1, "no run starts while halted")
		j, err := ctl.Journal(ctx, parent.ID, 0)
		require.NoError(t, err)
		require.True(t, slices.ContainsFunc(j, func(en chaos.Entry) bool { return en.Message == "slot skipped: the kill switch is on" }))

		require.NoError(t, ctl.Resume(ctx))
		time.Sleep(time.Minute)
		synctest.Wait()
		children, err = ctl.Runs(ctx, chaos.RunFilter{ParentID: parent.ID})
		require.NoError(t, err)
		require.Len(t, children, 2, "resumed, the schedule runs again")

		require.NoError(t, ctl.Abort(ctx, parent.ID, "done"))
		p, err := ctl.Run(ctx, parent.ID)
		require.NoError(t, err)
		require.Equal(t, chaos.VerdictAborted, p.Verdict)
		require.Zero(t, w.active())
	})
}
