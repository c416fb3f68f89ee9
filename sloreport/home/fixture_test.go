package home_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/util/teststorage"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/internal/promquery/promquerytest"
	"github.com/estatehq/estate/metrics"
	"github.com/estatehq/estate/metrics/sqlite"
	"github.com/estatehq/estate/sloreport"
	"github.com/estatehq/estate/sloreport/examples"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// now is the fixture's present: Wednesday 2 December 2026, 12:00 UTC.
var now = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// scrape is the interval of the fixture's series, as the collector
// scrapes its own RED counters.
const scrape = 15 * time.Second

// traffic is one service's last two hours as the collector's
// span-derived series count it, every scrape: requests, of which errors
// from errorsFrom before now on, and how many of them took at most 0.1,
// 0.25 and 0.5 s (the rest up to +Inf).
type traffic struct {
	service                               string
	requests, errors                      float64
	errorsFrom                            time.Duration
	within100ms, within250ms, within500ms float64
}

// redSeries are the estate_red_* counters of t, as promquerytest appends
// them to a Prometheus storage.
func (t traffic) redSeries() []promquerytest.Series {
	const span = 2 * time.Hour
	labels := func(extra ...string) map[string]string {
		m := map[string]string{"service": t.service, "route": "GET /v1/things"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	counter := func(name string, l map[string]string, inc func(at time.Time) float64) promquerytest.Series {
		s := promquerytest.Series{Family: name, Type: "counter", Name: name, Labels: l}
		var v float64
		for at := now.Add(-span); !at.After(now); at = at.Add(scrape) {
			v += inc(at)
			s.Points = append(s.Points, promquerytest.Point{T: at, V: v})
		}
		return s
	}
	every := func(n float64) func(time.Time) float64 { return func(time.Time) float64 { return n } }
	out := []promquerytest.Series{
		counter("estate_red_requests_total", labels(), every(t.requests)),
		counter("estate_red_errors_total", labels(), func(at time.Time) float64 {
			if at.After(now.Add(-t.errorsFrom)) {
				return t.errors
			}
			return 0
		}),
		counter("estate_red_request_duration_seconds_count", labels(), every(t.requests)),
	}
	for le, n := range map[string]float64{"0.1": t.within100ms, "0.25": t.within250ms, "0.5": t.within500ms, "+Inf": t.requests} {
		out = append(out, counter("estate_red_request_duration_seconds_bucket", labels("le", le), every(n)))
	}
	return out
}

// The fixture's traffic: invoicing answers 10 requests a second, 2% of
// them over 250 ms, and for the last ten minutes one in ten fails; credit
// answers 5 a second, all within 100 ms, none failing.
var (
	invoicing = traffic{service: "invoicing", requests: 150, errors: 15, errorsFrom: 10 * time.Minute,
		within100ms: 135, within250ms: 147, within500ms: 150}
	credit = traffic{service: "credit", requests: 75, within100ms: 75, within250ms: 75, within500ms: 75}
)

// querier is the embedded PromQL engine over the fixture's series.
func querier(t *testing.T) promquery.Querier {
	t.Helper()
	st := teststorage.New(t)
	require.NoError(t, promquerytest.Append(context.Background(), st, append(invoicing.redSeries(), credit.redSeries()...)))
	return promquery.NewEngine(promqltest.NewTestEngine(t, false, 5*time.Minute, 100_000_000), st)
}

// evaluator evaluates the estate's example SLOs (invoicing's and credit's
// availability and latency) over q, at now.
func evaluator(t *testing.T, q promquery.Querier) *sloreport.Evaluator {
	t.Helper()
	cfg := sloreport.Config{Examples: true, MinEvents: sloreport.DefaultMinEvents, AtRiskRemaining: sloreport.DefaultAtRiskRemaining}
	slos, err := cfg.Load(examples.FS)
	require.NoError(t, err)
	e, err := sloreport.New(sloreport.Options{Querier: q, SLOs: slos, Policy: cfg.Policy(), Now: func() time.Time { return now }})
	require.NoError(t, err)
	return e
}

// fixtureEvents are what the fixture's event log holds: four deployments
// (rolled back, succeeded, failed, in progress), incidents open, resolved
// today and resolved days ago, and chaos runs running, finished today,
// finished days ago, and one whose controller died hours ago.
func fixtureEvents() []metrics.Event {
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	day := 24 * time.Hour
	return []metrics.Event{
		{ID: "d1-started", Source: "ci", Time: ago(3 * time.Hour), Data: metrics.DeploymentStarted{DeploymentID: "d1", Service: "invoicing", Environment: "production", Version: "1.4.0",
			Commits: []metrics.Commit{{SHA: "a1", CommittedAt: ago(day + 3*time.Hour)}, {SHA: "a2", CommittedAt: ago(5 * time.Hour)}}}},
		{ID: "d1-succeeded", Source: "ci", Time: ago(170 * time.Minute), Data: metrics.DeploymentSucceeded{DeploymentID: "d1"}},
		{ID: "d1-analysed", Source: "rollout", Time: ago(165 * time.Minute), Data: metrics.DeploymentAnalysed{DeploymentID: "d1", Verdict: "failed", Reason: "errors rose"}},
		{ID: "d1-recommended", Source: "rollout", Time: ago(165 * time.Minute), Data: metrics.DeploymentRollbackRecommended{DeploymentID: "d1", Reason: "errors rose"}},
		{ID: "d1-rolled-back", Source: "ci", Time: ago(2 * time.Hour), Data: metrics.DeploymentRolledBack{DeploymentID: "d1", ToVersion: "1.3.9"}},
		{ID: "d2-analysed", Source: "rollout", Time: ago(40 * time.Minute), Data: metrics.DeploymentAnalysed{DeploymentID: "d2", Verdict: "passed", Reason: "no worse"}},
		{ID: "d2-started", Source: "ci", Time: ago(time.Hour), Data: metrics.DeploymentStarted{DeploymentID: "d2", Service: "credit", Environment: "production", Version: "2.0.0",
			Commits: []metrics.Commit{{SHA: "b1", CommittedAt: ago(5 * time.Hour)}}}},
		{ID: "d2-succeeded", Source: "ci", Time: ago(55 * time.Minute), Data: metrics.DeploymentSucceeded{DeploymentID: "d2"}},
		{ID: "d3-started", Source: "ci", Time: ago(20 * time.Minute), Data: metrics.DeploymentStarted{DeploymentID: "d3", Service: "invoicing", Environment: "production", Version: "1.4.1"}},
		{ID: "d3-failed", Source: "ci", Time: ago(15 * time.Minute), Data: metrics.DeploymentFailed{DeploymentID: "d3"}},
		{ID: "d4-started", Source: "ci", Time: ago(2 * time.Minute), Data: metrics.DeploymentStarted{DeploymentID: "d4", Service: "credit", Environment: "production", Version: "2.0.1"}},

		{ID: "i1-opened", Source: "am", Time: ago(10 * time.Minute), Data: metrics.IncidentOpened{IncidentID: "i1", Service: "invoicing", Environment: "production", Severity: "critical", CauseDeploymentID: "d1"}},
		{ID: "i2-opened", Source: "am", Time: ago(3 * time.Hour), Data: metrics.IncidentOpened{IncidentID: "i2", Service: "credit", Environment: "production", Severity: "warning"}},
		{ID: "i2-resolved", Source: "am", Time: ago(150 * time.Minute), Data: metrics.IncidentResolved{IncidentID: "i2"}},
		{ID: "i3-opened", Source: "am", Time: ago(3 * day), Data: metrics.IncidentOpened{IncidentID: "i3", Service: "credit", Environment: "production", Severity: "critical"}},
		{ID: "i3-resolved", Source: "am", Time: ago(3*day - time.Hour), Data: metrics.IncidentResolved{IncidentID: "i3"}},
		// Opened with no cause on invoicing while x1 runs on it: x1's.
		{ID: "i4-opened", Source: "am", Time: ago(3 * time.Minute), Data: metrics.IncidentOpened{IncidentID: "i4", Service: "invoicing", Environment: "production", Severity: "page"}},

		{ID: "x1-started", Source: "estate/chaos", Time: ago(5 * time.Minute), Data: metrics.ChaosStarted{ExperimentID: "x1", Kind: "latency", Target: "invoicing"}},
		{ID: "x2-started", Source: "estate/chaos", Time: ago(6 * time.Hour), Data: metrics.ChaosStarted{ExperimentID: "x2", Kind: "error", Target: "credit"}},
		{ID: "x2-finished", Source: "estate/chaos", Time: ago(5 * time.Hour), Data: metrics.ChaosFinished{ExperimentID: "x2", Kind: "error", Target: "credit", Outcome: "hypothesis_broken"}},
		{ID: "x3-started", Source: "estate/chaos", Time: ago(2 * day), Data: metrics.ChaosStarted{ExperimentID: "x3", Kind: "error", Target: "credit"}},
		{ID: "x3-finished", Source: "estate/chaos", Time: ago(2*day - time.Hour), Data: metrics.ChaosFinished{ExperimentID: "x3", Kind: "error", Target: "credit", Outcome: "hypothesis_held"}},
		{ID: "x4-started", Source: "estate/chaos", Time: ago(5 * time.Hour), Data: metrics.ChaosStarted{ExperimentID: "x4", Kind: "kill", Target: "credit"}},
	}
}

// eventStore is an SQLite event store in a temporary folder holding
// fixtureEvents.
func eventStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "events.db"), sqlite.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	added, err := st.Append(context.Background(), fixtureEvents())
	require.NoError(t, err)
	require.Equal(t, len(fixtureEvents()), added)
	return st
}
