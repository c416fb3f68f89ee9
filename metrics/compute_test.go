package metrics_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

// The test window is one week, [from, from+168h).
var from = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

func week() metrics.Window { return metrics.Window{From: from, To: from.Add(7 * 24 * time.Hour)} }

// h is a time n hours after the start of the test window.
func h(n float64) time.Time { return from.Add(time.Duration(n * float64(time.Hour))) }

func ptr(f float64) *float64 { return &f }

// Builders of events. Ids derive from the content, so one call twice makes
// the same event, as a redelivery would.
func started(id, service, env string, t time.Time, commits ...metrics.Commit) metrics.Event {
	return metrics.Event{ID: "started/" + id, Source: "test", Time: t,
		Data: metrics.DeploymentStarted{DeploymentID: id, Service: service, Environment: env, Version: "v-" + id, Commits: commits}}
}

func succeeded(id string, t time.Time) metrics.Event {
	return metrics.Event{ID: fmt.Sprintf("succeeded/%s/%d", id, t.UnixNano()), Source: "test", Time: t,
		Data: metrics.DeploymentSucceeded{DeploymentID: id}}
}

func failed(id string, t time.Time) metrics.Event {
	return metrics.Event{ID: fmt.Sprintf("failed/%s/%d", id, t.UnixNano()), Source: "test", Time: t,
		Data: metrics.DeploymentFailed{DeploymentID: id}}
}

func rolledBack(id string, t time.Time) metrics.Event {
	return metrics.Event{ID: fmt.Sprintf("rolled_back/%s/%d", id, t.UnixNano()), Source: "test", Time: t,
		Data: metrics.DeploymentRolledBack{DeploymentID: id, ToVersion: "previous"}}
}

func opened(id, service, env string, t time.Time, mods ...func(*metrics.IncidentOpened)) metrics.Event {
	d := metrics.IncidentOpened{IncidentID: id, Service: service, Environment: env, Severity: "critical"}
	for _, m := range mods {
		m(&d)
	}
	return metrics.Event{ID: "opened/" + id, Source: "test", Time: t, Data: d}
}

func resolved(id string, t time.Time) metrics.Event {
	return metrics.Event{ID: fmt.Sprintf("resolved/%s/%d", id, t.UnixNano()), Source: "test", Time: t,
		Data: metrics.IncidentResolved{IncidentID: id}}
}

func cause(deploymentID string) func(*metrics.IncidentOpened) {
	return func(d *metrics.IncidentOpened) { d.CauseDeploymentID = deploymentID }
}

func chaos(experimentID string) func(*metrics.IncidentOpened) {
	return func(d *metrics.IncidentOpened) { d.ChaosExperimentID = experimentID }
}

func startedAt(t time.Time) func(*metrics.IncidentOpened) {
	return func(d *metrics.IncidentOpened) { d.StartedAt = t }
}

func commit(sha string, t time.Time) metrics.Commit { return metrics.Commit{SHA: sha, CommittedAt: t} }

// deployed is a deployment of svc/production started a minute before it
// succeeded at t.
func deployed(id string, t time.Time, commits ...metrics.Commit) []metrics.Event {
	return []metrics.Event{started(id, "svc", "production", t.Add(-time.Minute), commits...), succeeded(id, t)}
}

// incident is an incident of svc/production from start to end (zero: never
// resolved).
func incident(id string, start, end time.Time, mods ...func(*metrics.IncidentOpened)) []metrics.Event {
	evs := []metrics.Event{opened(id, "svc", "production", start, mods...)}
	if !end.IsZero() {
		evs = append(evs, resolved(id, end))
	}
	return evs
}

func join(parts ...[]metrics.Event) []metrics.Event {
	var out []metrics.Event
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func one(e metrics.Event) []metrics.Event { return []metrics.Event{e} }

// svc is the expected report of svc/production with nothing in it; cases
// set what differs.
func svc(mod func(*metrics.ServiceReport)) metrics.ServiceReport {
	s := metrics.ServiceReport{Service: "svc", Environment: "production"}
	mod(&s)
	return s
}

func compute(t *testing.T, events []metrics.Event, w metrics.Window, o metrics.Options) metrics.Report {
	t.Helper()
	for _, e := range events {
		require.NoError(t, e.Validate(), "test event %s", e.ID)
	}
	deps, incs := metrics.Fold(events)
	r, err := metrics.Compute(deps, incs, w, o)
	require.NoError(t, err)
	return r
}

func TestCompute(t *testing.T) {
	const weekSecs = 604800.0
	tests := []struct {
		name   string
		events []metrics.Event
		window metrics.Window
		opts   metrics.Options
		want   []metrics.ServiceReport
	}{
		{
			name:   "nothing at all",
			events: nil,
			want:   []metrics.ServiceReport{},
		},
		{
			name:   "zero samples: a deployment that never finished gives an entry of zeros and nulls",
			events: one(started("d1", "svc", "production", h(1))),
			want:   []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {})},
		},
		{
			name: "success at from counts, at to does not, a nanosecond before to does",
			events: join(
				deployed("at-from", h(0)),
				deployed("at-to", h(168)),
				deployed("just-before-to", h(168).Add(-time.Nanosecond)),
				deployed("before-from", h(-1)),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments = 2
				s.RollbackRate, s.ChangeFailureRate = ptr(0), ptr(0)
				s.DeploymentFrequencyPerDay = 0.2857143 // 2/7 = 0.28571428... rounded half up
			})},
		},
		{
			name: "a rollback after to is not counted; one before to is",
			events: join(
				deployed("d1", h(10)), one(rolledBack("d1", h(170))),
				deployed("d2", h(20)), one(rolledBack("d2", h(167))),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments, s.Rollbacks, s.ChangeFailures = 2, 1, 1
				s.RollbackRate, s.ChangeFailureRate = ptr(0.5), ptr(0.5)
				s.DeploymentFrequencyPerDay = 0.2857143
			})},
		},
		{
			name: "a rollback in the window of a deployment that succeeded before it is not counted",
			events: join(
				deployed("old", h(-10)), one(rolledBack("old", h(5))),
				deployed("new", h(20)),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments = 1
				s.RollbackRate, s.ChangeFailureRate = ptr(0), ptr(0)
				s.DeploymentFrequencyPerDay = 0.1428571
			})},
		},
		{
			name: "a rolled back deployment that never succeeded is in no count",
			events: join(
				one(started("d1", "svc", "production", h(1))), one(rolledBack("d1", h(2))),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {})},
		},
		{
			name: "failed deployments are counted apart and in no denominator",
			events: join(
				one(started("fails", "svc", "production", h(4))), one(failed("fails", h(5))),
				one(started("failed-before", "svc", "production", h(-6))), one(failed("failed-before", h(-5))),
				one(started("failed-after", "svc", "production", h(200))), one(failed("failed-after", h(201))),
				// failed, then succeeded on retry: it reached production.
				one(started("retried", "svc", "production", h(5))), one(failed("retried", h(6))), one(succeeded("retried", h(7))),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments, s.FailedDeployments = 1, 1
				s.RollbackRate, s.ChangeFailureRate = ptr(0), ptr(0)
				s.DeploymentFrequencyPerDay = 0.1428571
			})},
		},
		{
			name: "change failures: rolled back, or named as cause by an incident of any service that started before to",
			events: join(
				deployed("rolled", h(1)), one(rolledBack("rolled", h(2))),
				deployed("caused", h(3)),
				deployed("caused-late", h(4)),
				deployed("both", h(5)), one(rolledBack("both", h(6))),
				deployed("clean", h(7)),
				one(opened("i-other-service", "billing", "production", h(10), cause("caused"))),
				one(opened("i-after-to", "billing", "production", h(200), cause("caused-late"))),
				one(opened("i-both", "billing", "production", h(11), cause("both"))),
				one(opened("i-unknown", "billing", "production", h(12), cause("no-such-deployment"))),
			),
			want: []metrics.ServiceReport{
				{
					Service: "billing", Environment: "production", Incidents: 3,
					// Three incidents, never resolved: downtime from 10h to the end.
					DowntimeSeconds: 158 * 3600, MTBFSeconds: ptr((weekSecs - 158*3600) / 3),
				},
				svc(func(s *metrics.ServiceReport) {
					s.Deployments, s.Rollbacks, s.ChangeFailures = 5, 2, 3
					s.RollbackRate, s.ChangeFailureRate = ptr(0.4), ptr(0.6)
					s.DeploymentFrequencyPerDay = 0.7142857
				}),
			},
		},
		{
			name: "ratios are rounded half up to 7 decimals",
			events: join(
				deployed("d1", h(1)), one(rolledBack("d1", h(2))),
				deployed("d2", h(3)), one(rolledBack("d2", h(4))),
				deployed("d3", h(5)),
			),
			window: metrics.Window{From: from, To: from.Add(72 * time.Hour)},
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments, s.Rollbacks, s.ChangeFailures = 3, 2, 2
				s.RollbackRate, s.ChangeFailureRate = ptr(0.6666667), ptr(0.6666667)
				s.DeploymentFrequencyPerDay = 1
			})},
		},
		{
			name: "lead time: nearest rank over every commit, a commit after the success counts zero",
			events: join(
				deployed("d1", h(10), commit("a", h(9)), commit("b", h(8)), commit("c", h(11))),
				// Outside the window: its commits are not samples.
				deployed("d2", h(-10), commit("d", h(-100))),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments = 1
				s.RollbackRate, s.ChangeFailureRate = ptr(0), ptr(0)
				s.DeploymentFrequencyPerDay = 0.1428571
				// Sorted samples 0, 3600, 7200: p50 is rank ceil(1.5) = 2, p90 rank ceil(2.7) = 3.
				s.LeadTimeSeconds = &metrics.LeadTime{P50: 3600, P90: 7200}
				s.LeadTimeSamples = 3
			})},
		},
		{
			name:   "lead time of a single commit",
			events: deployed("d1", h(10), commit("a", h(10).Add(-90*time.Second))),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments = 1
				s.RollbackRate, s.ChangeFailureRate = ptr(0), ptr(0)
				s.DeploymentFrequencyPerDay = 0.1428571
				s.LeadTimeSeconds = &metrics.LeadTime{P50: 90, P90: 90}
				s.LeadTimeSamples = 1
			})},
		},
		{
			name: "downtime is clipped to the window at both ends",
			events: join(
				incident("before", h(-2), h(1)),
				incident("until-after", h(167), time.Time{}),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				// [from, 1h) and [167h, to).
				s.DowntimeSeconds = 7200
				// Only the second started in the window.
				s.Incidents = 1
				s.MTBFSeconds = ptr(weekSecs - 7200)
				// The first was resolved in the window: its whole 3h repair counts.
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(10800), ptr(10800), 1
			})},
		},
		{
			name: "overlapping incidents count their union once",
			events: join(
				incident("a", h(10), h(12)),
				incident("b", h(11), h(13)),
				incident("c", h(11.5), h(11.75)),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents = 3
				s.DowntimeSeconds = 3 * 3600
				s.MTBFSeconds = ptr((weekSecs - 3*3600) / 3)
				// Repairs 900, 7200, 7200: mean 5100, median rank 2.
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(5100), ptr(7200), 3
			})},
		},
		{
			name:   "an incident unresolved at to is down until to and no MTTR sample",
			events: incident("open", h(100), time.Time{}),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents = 1
				s.DowntimeSeconds = 68 * 3600
				s.MTBFSeconds = ptr(weekSecs - 68*3600)
			})},
		},
		{
			name:   "an incident resolved after to is down until to and no MTTR sample",
			events: incident("late", h(160), h(170)),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents = 1
				s.DowntimeSeconds = 8 * 3600
				s.MTBFSeconds = ptr(weekSecs - 8*3600)
			})},
		},
		{
			name: "incident edges: started at from counts, started at to does not",
			events: join(
				incident("at-from", h(0), h(1)),
				incident("at-to", h(168), h(169)),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents = 1
				s.DowntimeSeconds = 3600
				s.MTBFSeconds = ptr(weekSecs - 3600)
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(3600), ptr(3600), 1
			})},
		},
		{
			name:   "an incident resolved in the window but started before it: MTTR yes, MTBF null",
			events: incident("long", h(-24), h(2)),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.DowntimeSeconds = 7200
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(26*3600), ptr(26*3600), 1
			})},
		},
		{
			name:   "started_at overrides the event time of the opening event",
			events: incident("i", h(10), h(11), startedAt(h(9))),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents = 1
				s.DowntimeSeconds = 7200
				s.MTBFSeconds = ptr(weekSecs - 7200)
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(7200), ptr(7200), 1
			})},
		},
		{
			name:   "a resolution before the start (clock skew) repairs in zero time",
			events: incident("skew", h(10), h(10).Add(-time.Minute)),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents = 1
				s.MTBFSeconds = ptr(weekSecs)
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(0), ptr(0), 1
			})},
		},
		{
			name: "chaos incidents are reported apart by default",
			events: join(
				incident("chaos", h(10), h(11), chaos("exp-1")),
				incident("real", h(20), h(22)),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents, s.ChaosIncidents = 1, 1
				s.DowntimeSeconds = 7200
				s.MTBFSeconds = ptr(weekSecs - 7200)
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(7200), ptr(7200), 1
			})},
		},
		{
			name: "chaos incidents count everywhere when asked",
			events: join(
				incident("chaos", h(10), h(11), chaos("exp-1")),
				incident("real", h(20), h(22)),
			),
			opts: metrics.Options{IncludeChaos: true},
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents, s.ChaosIncidents = 2, 1
				s.DowntimeSeconds = 3 * 3600
				s.MTBFSeconds = ptr((weekSecs - 3*3600) / 2)
				// Repairs 3600 and 7200: mean 5400, median rank 1.
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(5400), ptr(3600), 2
			})},
		},
		{
			name:   "durations are rounded half up to the millisecond",
			events: incident("i", h(10), h(10).Add(1000500*time.Microsecond)),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Incidents = 1
				s.DowntimeSeconds = 1.001
				s.MTBFSeconds = ptr(604799) // 604798.9995 s
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(1.001), ptr(1.001), 1
			})},
		},
		{
			name: "duplicates change nothing; of two successes the earliest wins",
			events: join(
				deployed("d1", h(10)), deployed("d1", h(10)), deployed("d1", h(10)),
				one(succeeded("d1", h(200))),
				one(started("d2", "svc", "production", h(1))),
				one(succeeded("d2", h(200))), one(succeeded("d2", h(2))),
				incident("i", h(10), h(11)), incident("i", h(10), h(11)),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments = 2
				s.RollbackRate, s.ChangeFailureRate = ptr(0), ptr(0)
				s.DeploymentFrequencyPerDay = 0.2857143
				s.Incidents = 1
				s.DowntimeSeconds = 3600
				s.MTBFSeconds = ptr(weekSecs - 3600)
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(3600), ptr(3600), 1
			})},
		},
		{
			name: "one id with two contents: the earlier event wins",
			events: join(
				one(started("d1", "svc", "production", h(1))),
				one(started("d2", "svc", "production", h(1))),
				one(metrics.Event{ID: "same", Source: "test", Time: h(9), Data: metrics.DeploymentSucceeded{DeploymentID: "d1"}}),
				one(metrics.Event{ID: "same", Source: "test", Time: h(5), Data: metrics.DeploymentSucceeded{DeploymentID: "d2"}}),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments = 1
				s.RollbackRate, s.ChangeFailureRate = ptr(0), ptr(0)
				s.DeploymentFrequencyPerDay = 0.1428571
			})},
		},
		{
			name: "follow-ups before their openers are folded in",
			events: join(
				one(resolved("i", h(11))),
				one(rolledBack("d1", h(12))),
				one(succeeded("d1", h(10))),
				one(opened("i", "svc", "production", h(10))),
				one(started("d1", "svc", "production", h(9))),
			),
			want: []metrics.ServiceReport{svc(func(s *metrics.ServiceReport) {
				s.Deployments, s.Rollbacks, s.ChangeFailures = 1, 1, 1
				s.RollbackRate, s.ChangeFailureRate = ptr(1), ptr(1)
				s.DeploymentFrequencyPerDay = 0.1428571
				s.Incidents = 1
				s.DowntimeSeconds = 3600
				s.MTBFSeconds = ptr(weekSecs - 3600)
				s.MTTRSeconds, s.MTTRMedianSeconds, s.MTTRSamples = ptr(3600), ptr(3600), 1
			})},
		},
		{
			name: "follow-ups of unknown ids count nowhere",
			events: join(
				one(succeeded("ghost", h(1))),
				one(failed("ghost-2", h(1))),
				one(rolledBack("ghost", h(2))),
				one(resolved("ghost-incident", h(3))),
			),
			want: []metrics.ServiceReport{},
		},
		{
			name: "one entry per service and environment with any event, sorted",
			events: join(
				one(started("b1", "b", "production", h(-500))),
				one(started("a2", "a", "staging", h(1))),
				one(opened("a1", "a", "production", h(-500))), one(resolved("a1", h(-499))),
			),
			want: []metrics.ServiceReport{
				{Service: "a", Environment: "production"},
				{Service: "a", Environment: "staging"},
				{Service: "b", Environment: "production"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.window
			if w.From.IsZero() {
				w = week()
			}
			r := compute(t, tt.events, w, tt.opts)
			require.Empty(t, cmp.Diff(tt.want, r.Services))
		})
	}
}

// TestNullsInJSON pins the JSON of a service with no sample: null for every
// ratio and duration that has none, 0 for counts, downtime and frequency.
func TestNullsInJSON(t *testing.T) {
	r := compute(t, one(started("d1", "svc", "production", h(1))), week(), metrics.Options{})
	var b bytes.Buffer
	require.NoError(t, r.WriteJSON(&b))
	require.Equal(t, `{"from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z","services":[`+
		`{"service":"svc","environment":"production","deployments":0,"failed_deployments":0,"rollbacks":0,`+
		`"rollback_rate":null,"change_failure_rate":null,"deployment_frequency_per_day":0,"lead_time_seconds":null,`+
		`"incidents":0,"downtime_seconds":0,"mttr_seconds":null,"mttr_median_seconds":null,"mtbf_seconds":null,"chaos_incidents":0}]}`,
		compact(t, b.Bytes()))

	empty := compute(t, nil, week(), metrics.Options{})
	b.Reset()
	require.NoError(t, empty.WriteJSON(&b))
	require.Equal(t, `{"from":"2026-01-05T00:00:00Z","to":"2026-01-12T00:00:00Z","services":[]}`, compact(t, b.Bytes()))
}

func TestComputeRejectsEmptyWindows(t *testing.T) {
	for name, w := range map[string]metrics.Window{
		"to before from": {From: h(2), To: h(1)},
		"empty":          {From: h(1), To: h(1)},
		"no from":        {To: h(1)},
		"no to":          {From: h(1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := metrics.Compute(nil, nil, w, metrics.Options{})
			require.Error(t, err)
		})
	}
}

func TestLiveDeployment(t *testing.T) {
	deps, _ := metrics.Fold(join(
		deployed("v1", h(1)),
		deployed("v2", h(2)),
		deployed("v3", h(3)), one(rolledBack("v3", h(4))),
		deployed("v4", h(10)),
		one(started("other-env", "svc", "staging", h(5))), one(succeeded("other-env", h(6))),
	))
	tests := []struct {
		at   time.Time
		want string
	}{
		{h(1), "v1"},
		{h(3.5), "v3"},
		{h(4), "v2"}, // v3 was rolled back at 4h: v2 is live again
		{h(9), "v2"},
		{h(11), "v4"},
	}
	for _, tt := range tests {
		d, err := metrics.LiveDeployment(deps, "svc", "production", tt.at)
		require.NoError(t, err)
		require.Equal(t, tt.want, d.ID, "at %s", tt.at)
	}
	_, err := metrics.LiveDeployment(deps, "svc", "production", h(0))
	require.ErrorIs(t, err, metrics.ErrNotFound)
}

// TestFoldKeepsTheAnalysis: a deployment carries its earliest verdict,
// and its rollback was decided automatically only when the
// recommendation came before it.
func TestFoldKeepsTheAnalysis(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	ev := func(id string, at time.Duration, d metrics.Data) metrics.Event {
		return metrics.Event{ID: id, Source: "s", Time: t0.Add(at), Data: d}
	}
	events := []metrics.Event{
		ev("1", 0, metrics.DeploymentStarted{DeploymentID: "d1", Service: "api", Environment: "production", Version: "v2"}),
		ev("2", time.Minute, metrics.DeploymentSucceeded{DeploymentID: "d1"}),
		ev("4", 20*time.Minute, metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: metrics.VerdictPassed, Reason: "late, second"}),
		ev("3", 10*time.Minute, metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: metrics.VerdictFailed, Reason: "errors rose"}),
		ev("5", 10*time.Minute, metrics.DeploymentRollbackRecommended{DeploymentID: "d1", Reason: "errors rose"}),
		ev("6", 12*time.Minute, metrics.DeploymentRolledBack{DeploymentID: "d1", ToVersion: "v1"}),
		ev("7", 0, metrics.DeploymentStarted{DeploymentID: "d2", Service: "api", Environment: "production", Version: "v3"}),
		ev("8", 30*time.Minute, metrics.DeploymentRolledBack{DeploymentID: "d2", ToVersion: "v1"}),
		ev("9", 40*time.Minute, metrics.DeploymentRollbackRecommended{DeploymentID: "d2", Reason: "after the fact"}),
	}
	deps, _ := metrics.Fold(events)
	require.Len(t, deps, 2)
	d1, d2 := deps[0], deps[1]
	require.Equal(t, metrics.VerdictFailed, d1.Verdict)
	require.Equal(t, "errors rose", d1.VerdictReason)
	require.Equal(t, t0.Add(10*time.Minute), d1.AnalysedAt)
	require.True(t, d1.RollbackDecidedAutomatically())
	require.False(t, d2.RollbackDecidedAutomatically(), "recommended after the rollback")
	require.Empty(t, d2.Verdict)
}
