package sloreport

import (
	"fmt"
	"testing"
	"time"

	"github.com/estatehq/estate/internal/promquery"
	"github.com/estatehq/estate/metrics"
)

// The fixed dataset of the report's tests: eight weeks of invoicing and
// credit in production, to the week 2026-W45 (2 to 9 November 2026), with
// the SLO series of TestEvaluateKnownWeek.
var (
	fixtureWeek = ISOWeek{Year: 2026, Week: 45}
	// fixtureNow is when the report is computed: the Monday after, 06:00.
	fixtureNow = fixtureWeek.End().Add(6 * time.Hour)
)

// fixture builds events; every id is unique and every time exact.
type fixture struct{ events []metrics.Event }

func (f *fixture) add(id string, at time.Time, d metrics.Data) {
	f.events = append(f.events, metrics.Event{ID: id, Source: "https://ci.example.com", Time: at, Data: d})
}

// deploy adds a production deployment of service that succeeds at at,
// started ten minutes before, shipping one commit made age before; it is
// rolled back rollback after its success unless rollback is 0.
func (f *fixture) deploy(service, id string, at time.Time, age, rollback time.Duration) {
	f.add(id+"-started", at.Add(-10*time.Minute), metrics.DeploymentStarted{
		DeploymentID: id, Service: service, Environment: "production", Version: "1.0." + id[len(id)-2:],
		Commits: []metrics.Commit{{SHA: fmt.Sprintf("%040x", len(f.events)), CommittedAt: at.Add(-age)}},
	})
	f.add(id+"-succeeded", at, metrics.DeploymentSucceeded{DeploymentID: id})
	if rollback > 0 {
		f.add(id+"-rolled-back", at.Add(rollback), metrics.DeploymentRolledBack{DeploymentID: id, ToVersion: "1.0.0"})
	}
}

// incident adds an incident; a zero end leaves it open.
func (f *fixture) incident(service, id, severity string, start, end time.Time, cause, chaos string) {
	f.add(id+"-opened", start, metrics.IncidentOpened{
		IncidentID: id, Service: service, Environment: "production", Severity: severity,
		CauseDeploymentID: cause, ChaosExperimentID: chaos,
	})
	if !end.IsZero() {
		f.add(id+"-resolved", end, metrics.IncidentResolved{IncidentID: id})
	}
}

// analysis adds the verdict of a deployment's post-deploy analysis.
func (f *fixture) analysis(deployment string, at time.Time, verdict, reason string) {
	f.add(deployment+"-analysed", at, metrics.DeploymentAnalysed{DeploymentID: deployment, Verdict: verdict, Reason: reason})
}

func (f *fixture) chaos(id, kind, target string, start, end time.Time, outcome string) {
	f.add(id+"-started", start, metrics.ChaosStarted{ExperimentID: id, Kind: kind, Target: target})
	if !end.IsZero() {
		f.add(id+"-finished", end, metrics.ChaosFinished{ExperimentID: id, Kind: kind, Target: target, Outcome: outcome})
	}
}

// fixtureEvents are the dataset's events.
func fixtureEvents() []metrics.Event {
	f := &fixture{}
	day := 24 * time.Hour
	for i := range TrendPeriods {
		week := fixtureWeek.Add(i - (TrendPeriods - 1))
		mon := week.Start()
		// invoicing: 5 to 7 deployments on weekdays at 10:00, the second
		// rolled back in odd weeks; an incident on Wednesday, but for
		// weeks 2 and 5.
		for j := range 5 + i%3 {
			rollback := time.Duration(0)
			if j == 1 && i%2 == 1 {
				rollback = 2 * time.Hour
			}
			f.deploy("invoicing", fmt.Sprintf("inv-%s-%02d", week, j), mon.Add(time.Duration(j%5)*day+10*time.Hour+time.Duration(j/5)*4*time.Hour), time.Duration(2+j*3)*time.Hour, rollback)
		}
		if i != 2 && i != 5 && i != TrendPeriods-1 {
			start := mon.Add(2*day + 14*time.Hour)
			f.incident("invoicing", fmt.Sprintf("inc-%s", week), "warning", start, start.Add(time.Duration(30+10*i)*time.Minute), "", "")
		}
		// credit: Tuesday and Thursday at 11:00; an incident in week 3.
		for j, d := range []int{1, 3} {
			f.deploy("credit", fmt.Sprintf("cre-%s-%02d", week, j), mon.Add(time.Duration(d)*day+11*time.Hour), 20*time.Hour, 0)
		}
		if i == 3 {
			start := mon.Add(4*day + 9*time.Hour)
			f.incident("credit", fmt.Sprintf("inc-%s", week), "critical", start, start.Add(3*time.Hour), "", "")
		}
	}
	from, to := fixtureWeek.Start(), fixtureWeek.End()
	// The report's week: an incident from its first instant; one that a
	// deployment caused; one a chaos experiment caused; one still open.
	f.incident("invoicing", "inc-boundary", "warning", from, from.Add(time.Hour), "", "")
	f.incident("invoicing", "inc-deploy", "critical", from.Add(2*day+15*time.Hour), from.Add(2*day+16*time.Hour+30*time.Minute), "inv-2026-W45-02", "")
	f.chaos("exp-pod-kill", "PodChaos", "invoicing/production", from.Add(3*day+9*time.Hour), from.Add(3*day+9*time.Hour+20*time.Minute), "hypothesis_broken")
	f.incident("invoicing", "inc-chaos", "warning", from.Add(3*day+9*time.Hour+5*time.Minute), from.Add(3*day+9*time.Hour+20*time.Minute), "", "exp-pod-kill")
	f.chaos("exp-latency", "NetworkChaos", "credit/production", from.Add(4*day+10*time.Hour), from.Add(4*day+10*time.Hour+30*time.Minute), "hypothesis_held")
	f.chaos("exp-disk", "IOChaos", "credit/production", from.Add(6*day+23*time.Hour), time.Time{}, "")
	f.incident("credit", "inc-open", "critical", from.Add(6*day+22*time.Hour), time.Time{}, "", "")
	// Post-deploy analyses: the week's rollback (inv-2026-W45-01, two
	// hours after its success) followed a failed analysis' recommendation;
	// a passed one and an inconclusive one; one decided the week before.
	inv01 := from.Add(day + 10*time.Hour)
	f.analysis("inv-2026-W45-01", inv01.Add(time.Hour), metrics.VerdictFailed, "error ratio 4.2% against 0.3% before (objective 99.9%)")
	f.add("inv-2026-W45-01-recommended", inv01.Add(time.Hour), metrics.DeploymentRollbackRecommended{DeploymentID: "inv-2026-W45-01", Reason: "error ratio 4.2% against 0.3% before"})
	f.analysis("cre-2026-W45-00", from.Add(day+11*time.Hour+30*time.Minute), metrics.VerdictPassed, "error ratio 0.0%, p99 latency 180ms: within the SLOs")
	f.analysis("inv-2026-W45-03", from.Add(3*day+10*time.Hour+30*time.Minute), metrics.VerdictInconclusive, "12 requests, fewer than the 100 the analysis needs")
	f.analysis("inv-2026-W44-04", fixtureWeek.Add(-1).Start().Add(4*day+11*time.Hour), metrics.VerdictPassed, "error ratio 0.1%")
	// At the week's end exactly: the next week's.
	f.deploy("credit", "cre-next-00", to, 5*time.Hour, 0)
	f.incident("credit", "inc-next", "warning", to, to.Add(time.Hour), "", "")
	return f.events
}

// fixtureSLOs are invoicing's availability over the known week's series
// (TestEvaluateKnownWeek: 650 bad of 1,008,000) and credit's over a
// series with no error.
func fixtureSLOs(t *testing.T) *Evaluator {
	t.Helper()
	requests, errs := knownWeek()
	clean := counterSamples(dataStart, time.Minute, weekSamples, func(int) float64 { return 0 })
	q := querier(t,
		series{`requests_total{service="inv",route="GET /invoices"}`, requests},
		series{`errors_total{service="inv",route="GET /invoices"}`, errs},
		series{`requests_total{service="credit"}`, requests},
		series{`errors_total{service="credit"}`, clean},
	)
	inv := ratioSLO(rolling(30 * 24 * time.Hour))
	inv.Service, inv.DisplayName, inv.Labels = "invoicing", "Invoicing availability", map[string]string{"environment": "production"}
	credit := ratioSLO(rolling(30 * 24 * time.Hour))
	credit.Name, credit.Service, credit.DisplayName = "credit-availability", "credit", "Credit availability"
	credit.Indicator = Indicator{Bad: `errors_total{service="credit"}`, Total: `requests_total{service="credit"}`}
	credit.Objective = 0.995
	return evaluatorWith(t, q, inv, credit)
}

func evaluatorWith(t *testing.T, q promquery.Querier, slos ...SLO) *Evaluator {
	t.Helper()
	e, err := New(Options{Querier: q, SLOs: slos, Policy: Policy{MinEvents: 100, AtRiskRemaining: 0.25}, Chunk: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func reviewURL(id string) string { return "http://127.0.0.1:8088/v1/incidents/" + id + "/timeline" }
