package demo

import (
	"flag"
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/chaos"
	"github.com/estatehq/estate/metrics"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestHistoryIsStableAcrossDays: a history of the same anchor drawn a day
// later holds every event of the earlier one, identical (same ids, same
// content), so posting both stores each once; nothing is after now.
func TestHistoryIsStableAcrossDays(t *testing.T) {
	now := time.Date(2026, 12, 2, 11, 30, 0, 0, time.UTC)
	first := History(42, 6, now, now)
	later := History(42, 6, now, now.Add(25*time.Hour))
	require.Equal(t, first, History(42, 6, now, now), "the same seed and time draw the same history")

	byID := map[string]metrics.Event{}
	for _, e := range later {
		require.False(t, e.Time.After(now.Add(25*time.Hour)), "event %s after now", e.ID)
		byID[e.Source+" "+e.ID] = e
	}
	shared := 0
	for _, e := range first {
		require.False(t, e.Time.After(now), "event %s after now", e.ID)
		got, ok := byID[e.Source+" "+e.ID]
		require.True(t, ok, "event %s of the first history is missing a day later", e.ID)
		require.Empty(t, cmp.Diff(e, got), e.ID)
		shared++
	}
	require.Greater(t, shared, 100)
	require.Greater(t, len(later), len(first), "a day later, the history has the new day's events")
	require.NotEqual(t, first, History(43, 6, now, now), "another seed draws another history")
}

// TestHistoryTellsTheStory: the history has what the report shows:
// deployments of every service with commits before them, failures,
// rollbacks with the incidents they caused, and game-day incidents
// marked as chaos's; the older weeks are worse than the recent ones.
func TestHistoryTellsTheStory(t *testing.T) {
	now := time.Date(2026, 12, 2, 11, 30, 0, 0, time.UTC)
	events := History(20261202, 6, now, now)
	started := map[string]metrics.DeploymentStarted{}
	count := map[metrics.Type]int{}
	services := map[string]bool{}
	var chaosIncidents, causedIncidents int
	failedByHalf := [2]int{}
	half := now.AddDate(0, 0, -21)
	for _, e := range events {
		count[e.Type()]++
		switch d := e.Data.(type) {
		case metrics.DeploymentStarted:
			started[d.DeploymentID] = d
			services[d.Service] = true
			require.NotEmpty(t, d.Commits, d.DeploymentID)
			for _, c := range d.Commits {
				require.True(t, c.CommittedAt.Before(e.Time), "commit after its deployment started: %s", d.DeploymentID)
				require.Len(t, c.SHA, 40)
			}
		case metrics.DeploymentFailed, metrics.DeploymentRolledBack:
			i := 1
			if e.Time.Before(half) {
				i = 0
			}
			failedByHalf[i]++
		case metrics.IncidentOpened:
			if d.ChaosExperimentID != "" {
				chaosIncidents++
			}
			if d.CauseDeploymentID != "" {
				require.Contains(t, started, d.CauseDeploymentID)
				causedIncidents++
			}
		}
	}
	require.Len(t, services, len(HistoryServices))
	require.Greater(t, count[metrics.TypeDeploymentStarted], 100)
	require.Positive(t, count[metrics.TypeDeploymentFailed])
	require.Positive(t, count[metrics.TypeDeploymentRolledBack])
	require.Positive(t, causedIncidents)
	require.Positive(t, chaosIncidents)
	require.Equal(t, count[metrics.TypeIncidentOpened], count[metrics.TypeIncidentResolved]+countOpen(events))
	require.Greater(t, failedByHalf[0], failedByHalf[1], "the older half fails more")

	// Every event is one the events API accepts.
	for _, e := range events {
		b, err := e.MarshalJSON()
		require.NoError(t, err)
		_, err = metrics.ParseEvent(b)
		require.NoError(t, err, string(b))
	}
}

// countOpen counts the incidents opened whose resolution is still to come.
func countOpen(events []metrics.Event) int {
	open := map[string]bool{}
	for _, e := range events {
		switch d := e.Data.(type) {
		case metrics.IncidentOpened:
			open[d.IncidentID] = true
		case metrics.IncidentResolved:
			delete(open, d.IncidentID)
		}
	}
	return len(open)
}

// TestAnchorIsTheFirstStart: the anchor is recorded on the first start
// and read back on the later ones.
func TestAnchorIsTheFirstStart(t *testing.T) {
	dir := t.TempDir()
	first := time.Date(2026, 12, 2, 11, 30, 0, 0, time.UTC)
	a, err := Anchor(dir, first)
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), a)
	b, err := Anchor(dir, first.AddDate(0, 0, 3))
	require.NoError(t, err)
	require.Equal(t, a, b)
	c, err := Anchor("", first.AddDate(0, 0, 3))
	require.NoError(t, err)
	require.Equal(t, a.AddDate(0, 0, 3), c)
}

func TestConfigValidate(t *testing.T) {
	defaults := func() Config {
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.RegisterFlags(fs)
		return c
	}
	require.NoError(t, func() error { c := defaults(); return c.Validate() }())
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"negative rate", func(c *Config) { c.Rate = -1 }, "demo.rate: must be between 0 and 5000, not -1"},
		{"no concurrency", func(c *Config) { c.Concurrency = 0 }, "demo.concurrency: must be between 1 and 1000, not 0"},
		{"one business", func(c *Config) { c.Businesses = 1 }, "demo.businesses: must be between 2 and 100, not 1"},
		{"no weeks", func(c *Config) { c.Weeks = 0 }, "demo.weeks: must be between 1 and 52, not 0"},
		{"chaos too often", func(c *Config) { c.ChaosEvery = time.Second }, "demo.chaos_every: must be at least 10s, not 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaults()
			tt.change(&c)
			require.EqualError(t, c.Validate(), tt.want)
		})
	}
}

// TestExperimentsAreValid: the game day's documents are experiments the
// controller accepts, on the schedule asked for.
func TestExperimentsAreValid(t *testing.T) {
	for name, doc := range Experiments(DefaultChaosEvery) {
		t.Run(name, func(t *testing.T) {
			e, err := chaos.Decode(doc)
			require.NoError(t, err)
			require.NoError(t, e.Validate())
			require.Equal(t, name, e.Metadata.Name)
			require.Equal(t, "@every 5m0s", e.Spec.Schedule.Cron)
		})
	}
}
