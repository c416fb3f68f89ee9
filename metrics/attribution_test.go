package metrics_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
)

func chaosStarted(id, target string, t time.Time) metrics.Event {
	return metrics.Event{ID: "chaos-started/" + id, Source: "test", Time: t,
		Data: metrics.ChaosStarted{ExperimentID: id, Kind: "http-error", Target: target}}
}

func chaosFinished(id, target string, t time.Time) metrics.Event {
	return metrics.Event{ID: "chaos-finished/" + id, Source: "test", Time: t,
		Data: metrics.ChaosFinished{ExperimentID: id, Kind: "http-error", Target: target, Outcome: "failed"}}
}

// TestFoldAttributesIncidentsToChaos: an incident that names no cause and
// starts on a service while an experiment runs there (or shortly after)
// is the experiment's; anything else is left as it is.
func TestFoldAttributesIncidentsToChaos(t *testing.T) {
	run := func(target string, finished bool) []metrics.Event {
		evs := []metrics.Event{chaosStarted("exp-1", target, h(10))}
		if finished {
			evs = append(evs, chaosFinished("exp-1", target, h(11)))
		}
		return evs
	}
	tests := []struct {
		name   string
		events []metrics.Event
		want   string // the experiment the incident is attributed to
	}{
		{"during the run", join(run("svc", true), incident("alert", h(10.5), h(12))), "exp-1"},
		{"within the grace after it", join(run("svc", true), incident("alert", h(11).Add(metrics.ChaosAttributionGrace), h(12))), "exp-1"},
		{"after the grace", join(run("svc", true), incident("alert", h(11).Add(metrics.ChaosAttributionGrace+time.Second), h(12))), ""},
		{"before the run", join(run("svc", true), incident("alert", h(9.9), h(12))), ""},
		{"another service", join(run("other", true), incident("alert", h(10.5), h(12))), ""},
		{"the service in its environment", join(run("svc/production", true), incident("alert", h(10.5), h(12))), "exp-1"},
		{"the service in another environment", join(run("svc/staging", true), incident("alert", h(10.5), h(12))), ""},
		{"a deployment named as the cause", join(run("svc", true), deployed("d1", h(9)), incident("alert", h(10.5), h(12), cause("d1"))), ""},
		{"an unfinished run, within its bound", join(run("svc", false), incident("alert", h(10).Add(metrics.ChaosUnfinishedWindow), h(15))), "exp-1"},
		{"an unfinished run, past its bound", join(run("svc", false), incident("alert", h(10).Add(metrics.ChaosUnfinishedWindow+time.Second), h(15))), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, incidents := metrics.Fold(tc.events)
			require.Len(t, incidents, 1)
			require.Equal(t, tc.want, incidents[0].ChaosExperimentID)
			require.Equal(t, tc.want != "", incidents[0].ChaosAttributed)
		})
	}

	// The incident that names its experiment keeps it, and is not marked
	// attributed.
	_, incidents := metrics.Fold(join(run("svc", true), incident("named", h(10.5), h(12), chaos("exp-9"))))
	require.Equal(t, "exp-9", incidents[0].ChaosExperimentID)
	require.False(t, incidents[0].ChaosAttributed)
}

// TestFoldAttributionIgnoresOrder: of two runs on the service, the
// earliest started takes the incident, whatever the order of the log.
func TestFoldAttributionIgnoresOrder(t *testing.T) {
	events := join(
		[]metrics.Event{chaosStarted("exp-b", "svc", h(10)), chaosFinished("exp-b", "svc", h(12))},
		[]metrics.Event{chaosStarted("exp-a", "svc", h(10)), chaosFinished("exp-a", "svc", h(11))},
		[]metrics.Event{chaosStarted("exp-0", "svc", h(9)), chaosFinished("exp-0", "svc", h(9.5))},
		incident("alert", h(10.5), h(13)),
	)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		r.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
		_, incidents := metrics.Fold(events)
		require.Equal(t, "exp-a", incidents[0].ChaosExperimentID, "shuffle %d", i)
	}
}

// TestComputeLeavesChaosAlertsOutOfMTBF: an SLO burn alert that a chaos
// fault fired is reported with the chaos incidents, not as an outage.
func TestComputeLeavesChaosAlertsOutOfMTBF(t *testing.T) {
	events := join(
		[]metrics.Event{chaosStarted("exp-1", "svc/production", h(10)), chaosFinished("exp-1", "svc/production", h(11))},
		incident("burn-alert", h(10.2), h(10.8)),
		incident("real", h(20), h(22)),
	)
	rep := compute(t, events, week(), metrics.Options{})
	require.Len(t, rep.Services, 1)
	s := rep.Services[0]
	require.Equal(t, 1, s.Incidents)
	require.Equal(t, 1, s.ChaosIncidents)
	require.Equal(t, 7200.0, *s.MTTRSeconds)
}
