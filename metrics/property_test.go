package metrics_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/metricstest"
)

// adversarial makes a small event log full of what makes folding hard:
// few ids, so many events about each deployment and incident; times that
// collide; follow-ups of ids never opened; openers that disagree on the
// service or the cause; and ids reused for different content.
func adversarial(rng *rand.Rand) []metrics.Event {
	n := 1 + rng.IntN(60)
	tick := func() time.Time { return h(float64(rng.IntN(24*9)-24) / 1) }
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	events := make([]metrics.Event, 0, n)
	for i := range n {
		id := fmt.Sprintf("e%d", i)
		if rng.IntN(8) == 0 && i > 0 {
			id = fmt.Sprintf("e%d", rng.IntN(i)) // an id reused, maybe for other content
		}
		dep := pick("d1", "d2", "d3", "d4")
		inc := pick("i1", "i2", "i3")
		e := metrics.Event{ID: id, Source: pick("a", "b"), Time: tick()}
		switch rng.IntN(7) {
		case 0:
			var commits []metrics.Commit
			for c := range rng.IntN(3) {
				commits = append(commits, metrics.Commit{SHA: fmt.Sprintf("c%d", c), CommittedAt: tick()})
			}
			e.Data = metrics.DeploymentStarted{DeploymentID: dep, Service: pick("s1", "s2"), Environment: pick("prod", "staging"), Version: "v", Commits: commits}
		case 1:
			e.Data = metrics.DeploymentSucceeded{DeploymentID: dep}
		case 2:
			e.Data = metrics.DeploymentFailed{DeploymentID: dep}
		case 3:
			e.Data = metrics.DeploymentRolledBack{DeploymentID: dep, ToVersion: pick("v0", "v1")}
		case 4:
			d := metrics.IncidentOpened{IncidentID: inc, Service: pick("s1", "s2"), Environment: pick("prod", "staging"), Severity: pick("p1", "p2")}
			if rng.IntN(2) == 0 {
				d.StartedAt = tick()
			}
			if rng.IntN(3) == 0 {
				d.CauseDeploymentID = dep
			}
			if rng.IntN(4) == 0 {
				d.ChaosExperimentID = "x"
			}
			e.Data = d
		case 5:
			e.Data = metrics.IncidentResolved{IncidentID: inc}
		case 6:
			e.Data = metrics.ChaosFinished{ExperimentID: "x", Kind: "PodChaos", Target: "s1", Outcome: "ok"}
		}
		events = append(events, e)
	}
	return events
}

type outcome struct {
	Deployments []metrics.Deployment
	Incidents   []metrics.Incident
	Report      metrics.Report
	Chaos       metrics.Report
}

func fold(t *testing.T, events []metrics.Event) outcome {
	t.Helper()
	deps, incs := metrics.Fold(events)
	r, err := metrics.Compute(deps, incs, week(), metrics.Options{})
	require.NoError(t, err)
	c, err := metrics.Compute(deps, incs, week(), metrics.Options{IncludeChaos: true})
	require.NoError(t, err)
	return outcome{deps, incs, r, c}
}

// TestOrderAndRepetitionNeverMatter checks the two properties the design
// brief asks of the fold, on thousands of random logs: shuffling the events,
// or repeating any of them any number of times, never changes the folded
// state or the report.
func TestOrderAndRepetitionNeverMatter(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 300
	}
	for seed := range seeds {
		rng := rand.New(rand.NewPCG(uint64(seed), 42))
		events := adversarial(rng)
		want := fold(t, events)

		shuffled := append([]metrics.Event(nil), events...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		if diff := cmp.Diff(want, fold(t, shuffled)); diff != "" {
			t.Fatalf("seed %d: shuffling changed the result (-want +got):\n%s", seed, diff)
		}

		repeated := append([]metrics.Event(nil), events...)
		for range 1 + rng.IntN(len(events)*2) {
			repeated = append(repeated, events[rng.IntN(len(events))])
		}
		rng.Shuffle(len(repeated), func(i, j int) { repeated[i], repeated[j] = repeated[j], repeated[i] })
		if diff := cmp.Diff(want, fold(t, repeated)); diff != "" {
			t.Fatalf("seed %d: repeating events changed the result (-want +got):\n%s", seed, diff)
		}
	}
}

// TestOrderNeverMattersOnRealisticLogs checks the same on generated months
// of activity, shuffled.
func TestOrderNeverMattersOnRealisticLogs(t *testing.T) {
	for seed := range uint64(5) {
		events := metricstest.Generate(metricstest.GenerateOptions{Seed: seed, Services: 4, From: h(-24 * 30), To: h(24 * 30)})
		want := fold(t, events)
		rng := rand.New(rand.NewPCG(seed, 1))
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
		events = append(events, events[:len(events)/3]...)
		require.Empty(t, cmp.Diff(want, fold(t, events)), "seed %d", seed)
		require.NotEmpty(t, want.Report.Services)
	}
}
