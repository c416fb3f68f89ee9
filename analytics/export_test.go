package analytics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/analytics"
	"github.com/estatehq/estate/analytics/analyticstest"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
)

var (
	from = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday
	to   = from.AddDate(0, 0, 14)
)

// testEvents are two weeks of three services, with chaos runs, an
// incident never resolved, a follow-up
// of an unknown deployment, a time with nanoseconds, and a repeated
// (source, id).
func testEvents() []metrics.Event {
	events := metricstest.Generate(metricstest.GenerateOptions{Seed: 7, Services: 3, From: from, To: to, IncidentsPerDay: 1})
	chaos := "https://chaos.example.com"
	events = append(events,
		metrics.Event{ID: "exp-1/started", Source: chaos, Time: from.Add(50 * time.Hour),
			Data: metrics.ChaosStarted{ExperimentID: "exp-1", Kind: "latency", Target: "svc-01"}},
		metrics.Event{ID: "exp-1/finished", Source: chaos, Time: from.Add(51 * time.Hour),
			Data: metrics.ChaosFinished{ExperimentID: "exp-1", Kind: "latency", Target: "svc-01", Outcome: "hypothesis_held"}},
		metrics.Event{ID: "exp-2/started", Source: chaos, Time: from.Add(100*time.Hour + 123456789),
			Data: metrics.ChaosStarted{ExperimentID: "exp-2", Kind: "kill", Target: "svc-02/production"}},
		metrics.Event{ID: "inc-chaos/opened", Source: "https://alertmanager.example.com", Time: from.Add(100*time.Hour + 5*time.Minute),
			Data: metrics.IncidentOpened{IncidentID: "inc-chaos", Service: "svc-02", Environment: "production", Severity: "warning"}},
		metrics.Event{ID: "inc-open/opened", Source: "https://alertmanager.example.com", Time: from.Add(30 * time.Hour),
			Data: metrics.IncidentOpened{IncidentID: "inc-open", Service: "svc-00", Environment: "production", Severity: "critical"}},
		metrics.Event{ID: "orphan/succeeded", Source: "https://ci.example.com/x", Time: from.Add(30 * time.Hour),
			Data: metrics.DeploymentSucceeded{DeploymentID: "orphan"}},
	)
	return append(events, events[3]) // a repeat changes nothing
}

func export(t *testing.T, dir string, events []metrics.Event, o analytics.Options) analytics.Manifest {
	t.Helper()
	o.Output = analytics.Dir{Root: dir}
	o.TempDir = t.TempDir()
	if o.Now == nil {
		o.Now = func() time.Time { return time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC) }
	}
	m, err := analytics.Export(context.Background(), events, from, to, o)
	require.NoError(t, err)
	return m
}

// readTable reads every partition of a table, checking that each row lies
// in the day its partition names.
func readTable[T any](t *testing.T, dir, table string, at func(T) time.Time) []T {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, table, "dt=*", "part-00000.parquet"))
	require.NoError(t, err)
	slices.Sort(files)
	var all []T
	for _, f := range files {
		rows, err := parquet.ReadFile[T](f)
		require.NoError(t, err, f)
		require.NotEmpty(t, rows, "%s: a partition without rows has no file", f)
		dt := strings.TrimPrefix(filepath.Base(filepath.Dir(f)), "dt=")
		for _, r := range rows {
			require.Equal(t, dt, at(r).UTC().Format(time.DateOnly), "%s holds a row of another day", f)
		}
		all = append(all, rows...)
	}
	return all
}

var equateTimes = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func TestExportReadsBackEveryRow(t *testing.T) {
	events := testEvents()
	dir := t.TempDir()
	m := export(t, dir, events, analytics.Options{Source: "test"})

	// events: every distinct source event, once, as it was.
	got := readTable(t, dir, analytics.TableEvents, func(r analytics.EventRow) time.Time { return r.Time })
	type key struct{ source, id string }
	byKey := map[key]analytics.EventRow{}
	for _, r := range got {
		byKey[key{r.Source, r.ID}] = r
	}
	distinct := map[key]bool{}
	for _, e := range events {
		distinct[key{e.Source, e.ID}] = true
		r, ok := byKey[key{e.Source, e.ID}]
		require.True(t, ok, "event %s from %s is missing", e.ID, e.Source)
		require.Equal(t, string(e.Type()), r.Type)
		require.True(t, e.Time.Truncate(time.Microsecond).Equal(r.Time), "%s: time %s, want %s", e.ID, r.Time, e.Time)
		data, err := e.DataJSON()
		require.NoError(t, err)
		require.JSONEq(t, string(data), r.Data)
		var fields map[string]any
		require.NoError(t, json.Unmarshal(data, &fields))
		for name, col := range map[string]*string{"deployment_id": r.DeploymentID, "incident_id": r.IncidentID, "experiment_id": r.ExperimentID} {
			if v, ok := fields[name]; ok {
				require.NotNil(t, col, "%s: %s", e.ID, name)
				require.Equal(t, v, *col)
			} else {
				require.Nil(t, col, "%s: %s", e.ID, name)
			}
		}
	}
	require.Len(t, got, len(distinct), "one row per (source, id)")
	orphan := byKey[key{"https://ci.example.com/x", "orphan/succeeded"}]
	require.Nil(t, orphan.Service, "a follow-up of an unknown deployment has no service")
	succ := byKey[key{"https://ci.example.com/svc-00", "svc-00-dep-00000/succeeded"}]
	require.NotNil(t, succ.Service)
	require.Equal(t, "svc-00", *succ.Service, "a follow-up takes its deployment's service")

	// deployments and incidents: as metrics.Fold folds them.
	deployments, incidents := metrics.Fold(events)
	gotDeps := readTable(t, dir, analytics.TableDeployments, func(r analytics.DeploymentRow) time.Time { return r.StartedAt })
	var started int
	for _, d := range deployments {
		if !d.Started {
			continue
		}
		started++
		i := slices.IndexFunc(gotDeps, func(r analytics.DeploymentRow) bool { return r.DeploymentID == d.ID })
		require.GreaterOrEqual(t, i, 0, d.ID)
		r := gotDeps[i]
		require.Equal(t, d.Service, r.Service)
		require.Equal(t, d.Version, r.Version)
		require.True(t, d.StartedAt.Equal(r.StartedAt))
		require.Equal(t, int32(len(d.Commits)), r.Commits)
		require.Equal(t, !d.SucceededAt.IsZero(), r.SucceededAt != nil)
		require.Equal(t, !d.RolledBackAt.IsZero(), r.RolledBackAt != nil)
		wantFate := map[bool]string{true: analytics.FateRolledBack}[d.RolledBack()]
		switch {
		case wantFate != "":
		case d.Succeeded():
			wantFate = analytics.FateSucceeded
		case d.Failed():
			wantFate = analytics.FateFailed
		default:
			wantFate = analytics.FateInProgress
		}
		require.Equal(t, wantFate, r.Fate, d.ID)
		require.Equal(t, d.Succeeded() && len(d.Commits) > 0, r.LeadTimeSeconds != nil, d.ID)
		var caused int32
		for _, inc := range incidents {
			if inc.CauseDeploymentID == d.ID {
				caused++
			}
		}
		require.Equal(t, caused, r.CausedIncidents, d.ID)
		require.Equal(t, d.RolledBack() || caused > 0, r.ChangeFailure, d.ID)
	}
	require.Len(t, gotDeps, started)

	gotIncs := readTable(t, dir, analytics.TableIncidents, func(r analytics.IncidentRow) time.Time { return r.StartedAt })
	require.Len(t, gotIncs, len(incidents))
	for k, i := range incidents {
		r := gotIncs[slices.IndexFunc(gotIncs, func(r analytics.IncidentRow) bool { return r.IncidentID == i.ID })]
		require.Equal(t, i.Service, r.Service, k)
		require.True(t, i.StartedAt.Equal(r.StartedAt))
		if i.Resolved() {
			require.NotNil(t, r.DurationSeconds)
			require.InDelta(t, i.ResolvedAt.Sub(i.StartedAt).Seconds(), *r.DurationSeconds, 1e-9)
		} else {
			require.Nil(t, r.DurationSeconds, "an open incident has no duration")
			require.Nil(t, r.ResolvedAt)
		}
		require.Equal(t, i.ChaosExperimentID, deref(r.ChaosExperimentID))
		require.Equal(t, i.CauseDeploymentID, deref(r.CauseDeploymentID))
		require.Equal(t, i.ChaosAttributed, r.ChaosAttributed)
	}
	chaosInc := gotIncs[slices.IndexFunc(gotIncs, func(r analytics.IncidentRow) bool { return r.IncidentID == "inc-chaos" })]
	require.True(t, chaosInc.ChaosAttributed)
	require.Equal(t, "exp-2", deref(chaosInc.ChaosExperimentID))

	// chaos runs: with their verdicts.
	gotRuns := readTable(t, dir, analytics.TableChaosRuns, func(r analytics.ChaosRunRow) time.Time { return *r.StartedAt })
	runs := map[string]analytics.ChaosRunRow{}
	for _, r := range gotRuns {
		runs[r.ExperimentID] = r
	}
	require.Equal(t, "hypothesis_held", runs["exp-1"].Verdict)
	require.NotNil(t, runs["exp-1"].FinishedAt)
	require.Equal(t, analytics.Running, runs["exp-2"].Verdict)
	require.Nil(t, runs["exp-2"].FinishedAt)
	require.Equal(t, int32(1), runs["exp-2"].Incidents)
	require.Equal(t, "svc-02/production", runs["exp-2"].Target)

	// weekly: metrics.Compute's figures of each week.
	gotWeeks := readTable(t, dir, analytics.TableWeekly, func(r analytics.WeeklyRow) time.Time { return r.WeekStart })
	var want []analytics.WeeklyRow
	for w := from; w.Before(to); w = w.AddDate(0, 0, 7) {
		r, err := metrics.Compute(deployments, incidents, metrics.Window{From: w, To: w.AddDate(0, 0, 7)}, metrics.Options{})
		require.NoError(t, err)
		for _, s := range r.Services {
			y, n := w.ISOWeek()
			row := analytics.WeeklyRow{Week: fmt.Sprintf("%d-W%02d", y, n), WeekStart: w, Service: s.Service, Environment: s.Environment,
				Deployments: int32(s.Deployments), FailedDeployments: int32(s.FailedDeployments), Rollbacks: int32(s.Rollbacks),
				RollbackRate: s.RollbackRate, ChangeFailures: int32(s.ChangeFailures), ChangeFailureRate: s.ChangeFailureRate,
				DeploymentFrequencyPerDay: s.DeploymentFrequencyPerDay, LeadTimeSamples: int32(s.LeadTimeSamples),
				Incidents: int32(s.Incidents), DowntimeSeconds: s.DowntimeSeconds, MTTRSeconds: s.MTTRSeconds,
				MTTRMedianSeconds: s.MTTRMedianSeconds, MTTRSamples: int32(s.MTTRSamples), MTBFSeconds: s.MTBFSeconds,
				ChaosIncidents: int32(s.ChaosIncidents)}
			if s.LeadTimeSeconds != nil {
				row.LeadTimeP50Seconds, row.LeadTimeP90Seconds = &s.LeadTimeSeconds.P50, &s.LeadTimeSeconds.P90
			}
			want = append(want, row)
		}
	}
	require.Empty(t, cmp.Diff(want, gotWeeks, equateTimes))

	// The manifest counts what the files hold.
	require.Equal(t, len(distinct), m.Events)
	counts := map[string]int{}
	for _, tr := range m.Tables {
		counts[tr.Name] = int(tr.Rows)
	}
	require.Equal(t, map[string]int{"events": len(got), "deployments": len(gotDeps), "incidents": len(gotIncs),
		"chaos_runs": len(gotRuns), "weekly": len(gotWeeks)}, counts)
	b, err := os.ReadFile(filepath.Join(dir, analytics.ManifestDir, m.RunID+".json"))
	require.NoError(t, err)
	var stored analytics.Manifest
	require.NoError(t, json.Unmarshal(b, &stored))
	require.Empty(t, cmp.Diff(m, stored, equateTimes))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestSchema checks the columns' Parquet types and nullability, as
// docs/analytics.md documents them.
func TestSchema(t *testing.T) {
	dir := t.TempDir()
	export(t, dir, testEvents(), analytics.Options{})
	files, err := filepath.Glob(filepath.Join(dir, "*", "dt=*", "part-00000.parquet"))
	require.NoError(t, err)
	schemas := map[string]string{}
	for _, f := range files {
		table := filepath.Base(filepath.Dir(filepath.Dir(f)))
		if _, ok := schemas[table]; ok {
			continue
		}
		rf, err := os.Open(f)
		require.NoError(t, err)
		st, err := rf.Stat()
		require.NoError(t, err)
		pf, err := parquet.OpenFile(rf, st.Size())
		require.NoError(t, err)
		schemas[table] = pf.Schema().String()
		require.Equal(t, "estate analytics export version 1(build )", pf.Metadata().CreatedBy)
		require.NoError(t, rf.Close())
	}
	want := map[string][]string{
		"events": {"required binary id (STRING)", "required int64 time (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))",
			"optional binary service (STRING)", "optional binary deployment_id (STRING)", "required binary data (STRING)"},
		"deployments": {"required binary fate (STRING)", "optional int64 succeeded_at (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))",
			"optional double lead_time_seconds", "required int32 commits (INT(32,true))", "required boolean change_failure"},
		"incidents":  {"optional double duration_seconds", "optional binary cause_deployment_id (STRING)", "required boolean chaos_attributed"},
		"chaos_runs": {"optional int64 finished_at (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))", "required binary verdict (STRING)"},
		"weekly":     {"required binary week (STRING)", "optional double mttr_seconds", "required double downtime_seconds"},
	}
	for table, cols := range want {
		for _, c := range cols {
			require.Contains(t, schemas[table], c, table)
		}
	}
}

func TestReexportIsByteIdentical(t *testing.T) {
	events := testEvents()
	a, b := t.TempDir(), t.TempDir()
	export(t, a, events, analytics.Options{})
	// Another run time, the events in another order, smaller row groups
	// in a third folder.
	reversed := slices.Clone(events)
	slices.Reverse(reversed)
	export(t, b, reversed, analytics.Options{Now: func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }})
	filesA := analyticstest.Files(t, a)
	require.Greater(t, len(filesA), 14)
	require.Equal(t, filesA, analyticstest.Files(t, b))

	// Again into the same folder: nothing is written.
	m := export(t, a, events, analytics.Options{Now: func() time.Time { return time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC) }})
	for _, tr := range m.Tables {
		for _, p := range tr.Partitions {
			require.Equal(t, analytics.StatusUnchanged, p.Status, p.Key)
		}
	}
	require.Equal(t, filesA, analyticstest.Files(t, a))
	manifests, err := os.ReadDir(filepath.Join(a, analytics.ManifestDir))
	require.NoError(t, err)
	require.Len(t, manifests, 2, "a manifest per run")
}

func TestLateEventRewritesOnlyTheDaysItTouches(t *testing.T) {
	events := testEvents()
	dir := t.TempDir()
	export(t, dir, events, analytics.Options{})
	before := analyticstest.Files(t, dir)

	// A late resolution, on day 10, of an incident of the first week that
	// is still open (and not a chaos one, which the figures leave out).
	_, incidents := metrics.Fold(events)
	open := incidents[slices.IndexFunc(incidents, func(i metrics.Incident) bool { return i.ID == "inc-open" })]
	require.False(t, open.Resolved())
	late := metrics.Event{ID: open.ID + "/resolved-late", Source: "https://alertmanager.example.com",
		Time: from.AddDate(0, 0, 10).Add(time.Hour), Data: metrics.IncidentResolved{IncidentID: open.ID}}
	m := export(t, dir, append(events, late), analytics.Options{Now: func() time.Time { return time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC) }})

	var written []string
	for _, tr := range m.Tables {
		for _, p := range tr.Partitions {
			if p.Status != analytics.StatusUnchanged {
				written = append(written, p.Key)
			}
		}
	}
	want := []string{
		analytics.PartitionKey("events", late.Time.Truncate(24*time.Hour)),
		analytics.PartitionKey("incidents", open.StartedAt.Truncate(24*time.Hour)),
		// The first week's downtime ran to its end either way; the second
		// week's ends at the resolution, and it has an MTTR sample more.
		analytics.PartitionKey("weekly", from.AddDate(0, 0, 7)),
	}
	slices.Sort(want)
	slices.Sort(written)
	require.Equal(t, want, written)
	after := analyticstest.Files(t, dir)
	for k, v := range before {
		require.Equal(t, slices.Contains(want, k), !bytes.Equal(after[k], v), k)
	}
}

// TestLateEventRewritesTheStartDay: exporting only the day a late
// resolution arrives rewrites the incident's row in the partition of the
// day it started, before the range.
func TestLateEventRewritesTheStartDay(t *testing.T) {
	events := testEvents()
	dir := t.TempDir()
	export(t, dir, events, analytics.Options{})
	_, incidents := metrics.Fold(events)
	open := incidents[slices.IndexFunc(incidents, func(i metrics.Incident) bool { return i.ID == "inc-open" })]
	lateDay := from.AddDate(0, 0, 10)
	late := metrics.Event{ID: "inc-open/resolved", Source: "https://alertmanager.example.com", Time: lateDay.Add(time.Hour),
		Data: metrics.IncidentResolved{IncidentID: "inc-open"}}
	m, err := analytics.Export(context.Background(), append(events, late), lateDay, lateDay.AddDate(0, 0, 1),
		analytics.Options{Output: analytics.Dir{Root: dir}, TempDir: t.TempDir()})
	require.NoError(t, err)
	status := map[string]string{}
	for _, tr := range m.Tables {
		for _, p := range tr.Partitions {
			status[p.Key] = p.Status
		}
	}
	startKey := analytics.PartitionKey("incidents", open.StartedAt.Truncate(24*time.Hour))
	require.Equal(t, analytics.StatusWritten, status[startKey], "the incident's start day, before the range")
	require.Equal(t, analytics.StatusWritten, status[analytics.PartitionKey("events", lateDay)])
	require.Equal(t, analytics.StatusWritten, status[analytics.PartitionKey("weekly", from.AddDate(0, 0, 7))])
	require.Equal(t, analytics.StatusUnchanged, status[analytics.PartitionKey("weekly", from)], "its start week, looked at, unchanged")
	rows, err := parquet.ReadFile[analytics.IncidentRow](filepath.Join(dir, startKey))
	require.NoError(t, err)
	i := slices.IndexFunc(rows, func(r analytics.IncidentRow) bool { return r.IncidentID == "inc-open" })
	require.NotNil(t, rows[i].ResolvedAt)
	require.InDelta(t, late.Time.Sub(open.StartedAt).Seconds(), *rows[i].DurationSeconds, 1e-9)
}

func TestRowGroupsAreBounded(t *testing.T) {
	dir := t.TempDir()
	events := testEvents()
	m := export(t, dir, events, analytics.Options{RowGroupRows: 7, Tables: []string{analytics.TableEvents}})
	require.Len(t, m.Tables, 1)
	p := m.Tables[0].Partitions[0]
	require.Greater(t, p.Rows, int64(7))
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(p.Key)))
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	pf, err := parquet.OpenFile(f, st.Size())
	require.NoError(t, err)
	require.Len(t, pf.RowGroups(), int((p.Rows+6)/7))
	for _, rg := range pf.RowGroups() {
		require.LessOrEqual(t, rg.NumRows(), int64(7))
	}
}

func TestDayWithoutRowsLosesItsFile(t *testing.T) {
	dir := t.TempDir()
	events := testEvents()
	export(t, dir, events, analytics.Options{Tables: []string{analytics.TableChaosRuns}})
	key := analytics.PartitionKey("chaos_runs", from.AddDate(0, 0, 2))
	require.FileExists(t, filepath.Join(dir, key))
	kept := slices.DeleteFunc(slices.Clone(events), func(e metrics.Event) bool { return strings.HasPrefix(e.ID, "exp-1/") })
	m := export(t, dir, kept, analytics.Options{Tables: []string{analytics.TableChaosRuns}})
	require.NoFileExists(t, filepath.Join(dir, key))
	i := slices.IndexFunc(m.Tables[0].Partitions, func(p analytics.Partition) bool { return p.Key == key })
	require.Equal(t, analytics.StatusRemoved, m.Tables[0].Partitions[i].Status)
}

func TestBadOptions(t *testing.T) {
	for name, c := range map[string]struct {
		o        analytics.Options
		from, to time.Time
		want     string
	}{
		"no output":     {o: analytics.Options{}, from: from, to: to, want: "output is required"},
		"unknown table": {o: analytics.Options{Output: analytics.Dir{Root: t.TempDir()}, Tables: []string{"nope"}}, from: from, to: to, want: `unknown table "nope"`},
		"empty window":  {o: analytics.Options{Output: analytics.Dir{Root: t.TempDir()}}, from: to, to: from, want: "must be before"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := analytics.Export(context.Background(), nil, c.from, c.to, c.o)
			require.ErrorContains(t, err, c.want)
		})
	}
	_, err := analytics.ParseTables("events,bogus")
	require.ErrorContains(t, err, `unknown table "bogus"`)
	tables, err := analytics.ParseTables("weekly,events")
	require.NoError(t, err)
	require.Equal(t, []string{"events", "weekly"}, tables)
}
