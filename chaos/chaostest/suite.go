// Package chaostest is the test suite every chaos.Store passes: SQLite and
// PostgreSQL run it alike.
package chaostest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/chaos"
)

// Run runs the suite; open returns an empty store, closed when t ends.
func Run(t *testing.T, open func(t *testing.T) chaos.Store) {
	t.Run("create, read, update", func(t *testing.T) { testCRUD(t, open(t)) })
	t.Run("list by state and parent", func(t *testing.T) { testList(t, open(t)) })
	t.Run("journal", func(t *testing.T) { testJournal(t, open(t)) })
	t.Run("kill switch", func(t *testing.T) { testSwitch(t, open(t)) })
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func run(id string, at time.Time, state chaos.State) chaos.Run {
	return chaos.Run{
		ID: id, State: state, CreatedAt: at,
		Experiment: chaos.Experiment{APIVersion: chaos.APIVersion, Kind: chaos.KindExperiment, Metadata: chaos.Metadata{Name: "exp"},
			Spec: chaos.Spec{Target: chaos.Target{Service: "invoicing"}, Duration: "1m",
				Fault: chaos.Fault{HTTP: &chaos.HTTPFault{Action: chaos.HTTPLatency, Delay: "300ms"}}}},
		Fault: chaos.Fault{HTTP: &chaos.HTTPFault{Action: chaos.HTTPLatency, Delay: "300ms"}},
	}
}

func testCRUD(t *testing.T, s chaos.Store) {
	ctx := context.Background()
	r := run("r1", t0, chaos.StatePending)
	require.NoError(t, s.CreateRun(ctx, r))
	require.Equal(t, chaos.ECONFLICT, chaos.ErrorCode(s.CreateRun(ctx, r)))
	got, err := s.Run(ctx, "r1")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(r, got))

	fin := t0.Add(time.Minute)
	r.State, r.Verdict, r.FinishedAt = chaos.StateFinished, chaos.VerdictPassed, &fin
	r.Injections = []chaos.Injection{{Executor: chaos.PlatformLocal, Kind: "http-latency", Target: "invoicing", Ref: "x", Deadline: fin}}
	require.NoError(t, s.UpdateRun(ctx, r))
	got, err = s.Run(ctx, "r1")
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(r, got))

	_, err = s.Run(ctx, "nope")
	require.Equal(t, chaos.ENOTFOUND, chaos.ErrorCode(err))
	require.Equal(t, chaos.ENOTFOUND, chaos.ErrorCode(s.UpdateRun(ctx, run("nope", t0, chaos.StatePending))))
}

func testList(t *testing.T, s chaos.Store) {
	ctx := context.Background()
	for i, st := range []chaos.State{chaos.StateScheduled, chaos.StateRunning, chaos.StateFinished, chaos.StateRunning} {
		r := run(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Minute), st)
		if i == 3 {
			r.ParentID = "r0"
		}
		require.NoError(t, s.CreateRun(ctx, r))
	}
	ids := func(f chaos.RunFilter) []string {
		rs, err := s.Runs(ctx, f)
		require.NoError(t, err)
		out := []string{}
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	require.Equal(t, []string{"r3", "r2", "r1", "r0"}, ids(chaos.RunFilter{}), "newest first")
	require.Equal(t, []string{"r3", "r1"}, ids(chaos.RunFilter{States: []chaos.State{chaos.StateRunning}}))
	require.Equal(t, []string{"r3", "r1", "r0"}, ids(chaos.RunFilter{States: []chaos.State{chaos.StateRunning, chaos.StateScheduled}}))
	require.Equal(t, []string{"r3"}, ids(chaos.RunFilter{ParentID: "r0"}))
	require.Equal(t, []string{"r3", "r2"}, ids(chaos.RunFilter{Limit: 2}))
}

func testJournal(t *testing.T, s chaos.Store) {
	ctx := context.Background()
	require.NoError(t, s.CreateRun(ctx, run("r1", t0, chaos.StateRunning)))
	_, err := s.Append(ctx, "nope", chaos.Entry{Kind: chaos.EntryState, Message: "x"})
	require.Equal(t, chaos.ENOTFOUND, chaos.ErrorCode(err))

	// Appends racing on one run take distinct numbers.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ok, v := i%2 == 0, float64(i)
			_, err := s.Append(ctx, "r1", chaos.Entry{Time: t0, Kind: chaos.EntryProbe, Phase: chaos.PhaseDuring, Probe: "p", OK: &ok, Value: &v, Message: "m"})
			require.NoError(t, err)
		})
	}
	wg.Wait()
	all, err := s.Journal(ctx, "r1", 0)
	require.NoError(t, err)
	require.Len(t, all, 8)
	for i, e := range all {
		require.Equal(t, i+1, e.Seq)
		require.Equal(t, chaos.EntryProbe, e.Kind)
		require.NotNil(t, e.OK)
	}
	after, err := s.Journal(ctx, "r1", 6)
	require.NoError(t, err)
	require.Equal(t, []int{7, 8}, []int{after[0].Seq, after[1].Seq})
}

func testSwitch(t *testing.T, s chaos.Store) {
	ctx := context.Background()
	h, reason, err := s.Halted(ctx)
	require.NoError(t, err)
	require.False(t, h)
	require.Empty(t, reason)
	require.NoError(t, s.SetHalted(ctx, true, "incident in progress"))
	h, reason, err = s.Halted(ctx)
	require.NoError(t, err)
	require.True(t, h)
	require.Equal(t, "incident in progress", reason)
	require.NoError(t, s.SetHalted(ctx, false, ""))
	h, _, err = s.Halted(ctx)
	require.NoError(t, err)
	require.False(t, h)
}
