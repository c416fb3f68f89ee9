// Package metricstest holds what the tests of every metrics.Store share:
// the store test suite that each backend runs (Run), and a generator of
// realistic event logs for tests and benchmarks (Generate).
package metricstest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

// Run runs the store test suite against stores made by newStore, which
// gives each subtest an empty store of its own and closes it when the
// subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) metrics.Store) {
	t.Helper()
	tests := []struct {
		name string
		run  func(t *testing.T, s metrics.Store)
	}{
		{"AppendCountsNewEvents", testAppendCountsNewEvents},
		{"RepeatedIDChangesNothing", testRepeatedIDChangesNothing},
		{"SameIDOtherSourceIsAnotherEvent", testSameIDOtherSource},
		{"InvalidBatchStoresNothing", testInvalidBatchStoresNothing},
		{"EventsRoundTrip", testEventsRoundTrip},
		{"EventsOrderedByTimeThenID", testEventsOrdered},
		{"FilterByServiceAndEnvironment", testFilter},
		{"OutOfOrderArrival", testOutOfOrder},
		{"ReportMatchesPureComputation", testReportMatchesPure},
		{"ConcurrentAppends", testConcurrentAppends},
		{"LargeLogRoundTrip", testLargeLog},
		{"CanceledContext", testCanceledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newStore(t))
		})
	}
}

var t0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

func at(hours float64) time.Time { return t0.Add(time.Duration(hours * float64(time.Hour))) }

func started(id, service, env string, t time.Time) metrics.Event {
	return metrics.Event{ID: id + "/started", Source: "test", Time: t, Data: metrics.DeploymentStarted{
		DeploymentID: id, Service: service, Environment: env, Version: "v1",
		Commits: []metrics.Commit{{SHA: id + "-sha", CommittedAt: t.Add(-time.Hour)}},
	}}
}

func succeeded(id string, t time.Time) metrics.Event {
	return metrics.Event{ID: id + "/succeeded", Source: "test", Time: t, Data: metrics.DeploymentSucceeded{DeploymentID: id}}
}

func rolledBack(id string, t time.Time) metrics.Event {
	return metrics.Event{ID: id + "/rolled_back", Source: "test", Time: t, Data: metrics.DeploymentRolledBack{DeploymentID: id, ToVersion: "v0"}}
}

func opened(id, service, env, cause string, t time.Time) metrics.Event {
	return metrics.Event{ID: id + "/opened", Source: "test", Time: t, Data: metrics.IncidentOpened{
		IncidentID: id, Service: service, Environment: env, Severity: "critical", CauseDeploymentID: cause}}
}

func resolved(id string, t time.Time) metrics.Event {
	return metrics.Event{ID: id + "/resolved", Source: "test", Time: t, Data: metrics.IncidentResolved{IncidentID: id}}
}

func ids(events []metrics.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func testAppendCountsNewEvents(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	n, err := s.Append(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, 0, n)

	n, err = s.Append(ctx, []metrics.Event{started("d1", "a", "production", at(1)), succeeded("d1", at(2))})
	require.NoError(t, err)
	require.Equal(t, 2, n)

	// One old, one new, and the new one twice in the same batch.
	n, err = s.Append(ctx, []metrics.Event{succeeded("d1", at(2)), rolledBack("d1", at(3)), rolledBack("d1", at(3))})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	all, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Equal(t, []string{"d1/started", "d1/succeeded", "d1/rolled_back"}, ids(all))
}

func testRepeatedIDChangesNothing(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	first := succeeded("d1", at(2))
	_, err := s.Append(ctx, []metrics.Event{first})
	require.NoError(t, err)

	// Same id, other content: still the first one.
	other := first
	other.Time = at(1)
	other.Data = metrics.DeploymentSucceeded{DeploymentID: "d2"}
	n, err := s.Append(ctx, []metrics.Event{other})
	require.NoError(t, err)
	require.Equal(t, 0, n)

	all, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]metrics.Event{first}, all))
}

func testSameIDOtherSource(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	claimed := succeeded("d2", at(1))
	claimed.ID, claimed.Source = "shared", "anonymous"
	real := succeeded("d1", at(2))
	real.ID, real.Source = "shared", "urn:estate:intake:github:https://github.com/o/r"
	n, err := s.Append(ctx, []metrics.Event{claimed})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// The same id from another source is another event; both in one batch
	// too, and the repeats change nothing.
	n, err = s.Append(ctx, []metrics.Event{real, claimed, real})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	all, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff([]metrics.Event{claimed, real}, all))
}

func testInvalidBatchStoresNothing(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	bad := succeeded("", at(2))
	_, err := s.Append(ctx, []metrics.Event{started("d1", "a", "production", at(1)), bad})
	require.ErrorIs(t, err, metrics.ErrInvalid)
	var ie *metrics.InvalidError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, "data.deployment_id", ie.Problems[0].Field)
	require.Contains(t, err.Error(), "event 1")

	all, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Empty(t, all)
}

func testEventsRoundTrip(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	paris := time.FixedZone("CET", 3600)
	// Nanoseconds and a time zone: both stores keep the instant exactly.
	events := []metrics.Event{
		{ID: "e1", Source: "https://ci.example.com", Time: time.Date(2026, 11, 2, 10, 0, 0, 123456789, paris),
			Data: metrics.DeploymentStarted{DeploymentID: "d1", Service: "a", Environment: "production", Version: "v1",
				Commits: []metrics.Commit{{SHA: "c1", CommittedAt: time.Date(2026, 11, 1, 0, 0, 0, 1, paris)}, {SHA: "c2", CommittedAt: at(-3)}}}},
		{ID: "e2", Source: "s", Time: at(1), Data: metrics.DeploymentSucceeded{DeploymentID: "d1"}},
		{ID: "e3", Source: "s", Time: at(2), Data: metrics.DeploymentFailed{DeploymentID: "d2"}},
		{ID: "e4", Source: "s", Time: at(3), Data: metrics.DeploymentRolledBack{DeploymentID: "d1", ToVersion: "v0"}},
		{ID: "e5", Source: "s", Time: at(4), Data: metrics.IncidentOpened{IncidentID: "i1", Service: "a", Environment: "production",
			Severity: "critical", StartedAt: at(3.5), CauseDeploymentID: "d1", ChaosExperimentID: "x1"}},
		{ID: "e6", Source: "s", Time: at(5), Data: metrics.IncidentResolved{IncidentID: "i1"}},
		{ID: "e7", Source: "s", Time: at(6), Data: metrics.ChaosStarted{ExperimentID: "x1", Kind: "PodChaos", Target: "a"}},
		{ID: "e8", Source: "s", Time: at(7), Data: metrics.ChaosFinished{ExperimentID: "x1", Kind: "PodChaos", Target: "a", Outcome: "broken"}},
		{ID: "e9 with ünïcode and 'quotes'", Source: "s", Time: at(8), Data: metrics.IncidentResolved{IncidentID: `i"2`}},
	}
	n, err := s.Append(ctx, events)
	require.NoError(t, err)
	require.Equal(t, len(events), n)

	want := make([]metrics.Event, len(events))
	for i, e := range events {
		want[i] = e.Normalized()
	}
	sort.Slice(want, func(a, b int) bool {
		if !want[a].Time.Equal(want[b].Time) {
			return want[a].Time.Before(want[b].Time)
		}
		return want[a].ID < want[b].ID
	})
	got, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(want, got))
}

func testEventsOrdered(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.Append(ctx, []metrics.Event{
		resolved("i3", at(3)), resolved("i2", at(1)), resolved("i1", at(1)), resolved("i0", at(2)),
	})
	require.NoError(t, err)
	got, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Equal(t, []string{"i1/resolved", "i2/resolved", "i0/resolved", "i3/resolved"}, ids(got))
}

func testFilter(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.Append(ctx, []metrics.Event{
		started("a1", "a", "production", at(1)), succeeded("a1", at(2)), rolledBack("a1", at(9)),
		started("a2", "a", "staging", at(1)), succeeded("a2", at(2)),
		started("b1", "b", "production", at(1)), succeeded("b1", at(2)),
		// An incident of b caused by a1: a's change failure rate needs it.
		opened("ib", "b", "production", "a1", at(3)), resolved("ib", at(4)),
		opened("ia", "a", "production", "", at(5)), resolved("ia", at(6)),
		// Follow-ups of nothing known, and a chaos event: only in the full list.
		succeeded("ghost", at(7)),
		{ID: "x/started", Source: "chaos", Time: at(8), Data: metrics.ChaosStarted{ExperimentID: "x", Kind: "PodChaos", Target: "a"}},
	})
	require.NoError(t, err)

	tests := []struct {
		filter metrics.Filter
		want   []string
	}{
		{metrics.Filter{Service: "a", Environment: "production"},
			[]string{"a1/started", "a1/succeeded", "ib/opened", "ib/resolved", "ia/opened", "ia/resolved", "a1/rolled_back"}},
		{metrics.Filter{Service: "a"},
			[]string{"a1/started", "a2/started", "a1/succeeded", "a2/succeeded", "ib/opened", "ib/resolved", "ia/opened", "ia/resolved", "a1/rolled_back"}},
		{metrics.Filter{Environment: "staging"},
			[]string{"a2/started", "a2/succeeded"}},
		{metrics.Filter{Service: "b"},
			[]string{"b1/started", "b1/succeeded", "ib/opened", "ib/resolved"}},
		{metrics.Filter{Service: "nobody"}, []string{}},
		{metrics.Filter{}, []string{"a1/started", "a2/started", "b1/started", "a1/succeeded", "a2/succeeded", "b1/succeeded",
			"ib/opened", "ib/resolved", "ia/opened", "ia/resolved", "ghost/succeeded", "x/started", "a1/rolled_back"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.filter.Service, tt.filter.Environment), func(t *testing.T) {
			got, err := s.Events(ctx, tt.filter)
			require.NoError(t, err)
			require.Equal(t, tt.want, ids(got))
		})
	}

	// The filtered report equals the full report, filtered.
	w := metrics.Window{From: at(0), To: at(24)}
	full, err := metrics.ReportFromStore(ctx, s, metrics.Filter{}, w, metrics.Options{})
	require.NoError(t, err)
	for _, f := range []metrics.Filter{{Service: "a", Environment: "production"}, {Service: "a"}, {Environment: "production"}, {Service: "b"}} {
		part, err := metrics.ReportFromStore(ctx, s, f, w, metrics.Options{})
		require.NoError(t, err)
		require.Empty(t, cmp.Diff(full.Filter(f), part), "filter %+v", f)
	}
	ap, err := metrics.ReportFromStore(ctx, s, metrics.Filter{Service: "a", Environment: "production"}, w, metrics.Options{})
	require.NoError(t, err)
	require.Len(t, ap.Services, 1)
	require.Equal(t, 1, ap.Services[0].ChangeFailures)
	require.Equal(t, 1, ap.Services[0].Incidents)
}

func testOutOfOrder(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	_, err := s.Append(ctx, []metrics.Event{succeeded("d1", at(2)), resolved("i1", at(4))})
	require.NoError(t, err)
	deps, incs, err := metrics.Load(ctx, s, metrics.Filter{})
	require.NoError(t, err)
	require.Len(t, deps, 1)
	require.False(t, deps[0].Started)
	require.Len(t, incs, 1)
	require.False(t, incs[0].Opened)

	_, err = s.Append(ctx, []metrics.Event{started("d1", "a", "production", at(1)), opened("i1", "a", "production", "", at(3))})
	require.NoError(t, err)
	deps, incs, err = metrics.Load(ctx, s, metrics.Filter{Service: "a"})
	require.NoError(t, err)
	require.Len(t, deps, 1)
	require.True(t, deps[0].Started)
	require.Equal(t, at(2), deps[0].SucceededAt)
	require.Len(t, incs, 1)
	require.Equal(t, at(4), incs[0].ResolvedAt)
}

func testReportMatchesPure(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	events := Generate(GenerateOptions{Seed: 7, Services: 3, From: at(-30 * 24), To: at(30 * 24)})
	// In batches, in reverse, to exercise arrival order too.
	for end := len(events); end > 0; end -= 250 {
		batch := make([]metrics.Event, 0, 250)
		for i := end - 1; i >= max(0, end-250); i-- {
			batch = append(batch, events[i])
		}
		_, err := s.Append(ctx, batch)
		require.NoError(t, err)
	}
	w := metrics.Window{From: at(-7 * 24), To: at(7 * 24)}
	got, err := metrics.ReportFromStore(ctx, s, metrics.Filter{}, w, metrics.Options{})
	require.NoError(t, err)
	deps, incs := metrics.Fold(events)
	want, err := metrics.Compute(deps, incs, w, metrics.Options{})
	require.NoError(t, err)
	require.Empty(t, cmp.Diff(want, got))
	require.Len(t, got.Services, 3)
}

func testConcurrentAppends(t *testing.T, s metrics.Store) {
	ctx := context.Background()
	events := Generate(GenerateOptions{Seed: 3, Services: 2, From: at(0), To: at(10 * 24)})
	const writers = 4
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		added int
		errs  []error
	)
	// Every writer appends every event, in overlapping batches.
	for w := range writers {
		wg.Go(func() {
			for i := w * 7; i < len(events); i += 50 {
				n, err := s.Append(ctx, events[i:min(i+50, len(events))])
				mu.Lock()
				added += n
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
			n, err := s.Append(ctx, events)
			mu.Lock()
			added += n
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	require.Equal(t, len(events), added)
	all, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	require.Len(t, all, len(events))
}

func testCanceledContext(t *testing.T, s metrics.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Append(ctx, []metrics.Event{succeeded("d1", at(1))})
	require.ErrorIs(t, err, context.Canceled)
	_, err = s.Events(ctx, metrics.Filter{})
	require.ErrorIs(t, err, context.Canceled)
}

// testLargeLog reads back a log large enough for a store to split its read
// (the sqlite store reads in parallel from 20,000 rows).
func testLargeLog(t *testing.T, s metrics.Store) {
	if testing.Short() {
		t.Skip("a year of events for 12 services")
	}
	ctx := context.Background()
	events := Generate(GenerateOptions{Seed: 11, Services: 12})
	require.Greater(t, len(events), 20000)
	for i := 0; i < len(events); i += 5000 {
		_, err := s.Append(ctx, events[i:min(i+5000, len(events))])
		require.NoError(t, err)
	}
	got, err := s.Events(ctx, metrics.Filter{})
	require.NoError(t, err)
	want := append([]metrics.Event(nil), events...)
	metrics.SortEvents(want)
	require.Empty(t, cmp.Diff(want, got))
}
